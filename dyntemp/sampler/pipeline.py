"""The per-token pipeline: logit bias → stages in ``order`` → draw, with a trace record per token.

The stages, in llama.cpp's default order::

    penalties → top_n_sigma → top_k → typical_p → top_p → min_p → temperature

``order`` rearranges them (temperature first, say, so the filters see scaled logits). Stages whose
parameters are neutral are skipped. Each stage works on the shrinking candidate set, as llama.cpp's
samplers do, so after top-k everything costs next to nothing; no stage sorts the full vocabulary
when top-k runs first. At the temperature stage the strategy reads the ``Step`` (the full logits,
their entropy, the candidates, the text so far) and returns the temperature; 0 keeps only the most
likely candidate. The draw uses the sampler's own seeded generator.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Iterator, Mapping, Sequence

import numpy as np

from .. import _validate
from ..strategies import Strategy, get_strategy
from . import filters, generation
from .generation import GenerationResult, StreamPiece
from .hook import NEUTRAL_LLAMA_KWARGS, LogitsHook
from .numerics import as_vector, draw, logsumexp_and_entropy, softmax_weights
from .penalties import check_penalties, penalize, penalties_neutral, window_counts
from .step import Step
from .text import Detokenizer, TextTracker
from .trace import Trace, TraceRecord

STAGES = ("penalties", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "temperature")
DEFAULT_ORDER = STAGES
_ALIASES = {"typical": "typical_p", "typ_p": "typical_p", "temp": "temperature", "penalty": "penalties"}
_NOT_STAGES = ("dry", "xtc", "mirostat", "mirostat_v2", "infill", "grammar")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).smallest_subnormal)
_SCALAR_BIAS_MAX = 16
_FILTERS = {
    "top_n_sigma": filters.top_n_sigma_keep,
    "top_k": filters.top_k_keep,
    "typical_p": filters.typical_keep,
    "top_p": filters.top_p_keep,
    "min_p": filters.min_p_keep,
}


def stage_name(name: str) -> str:
    """The canonical stage name for ``name`` (accepts llama.cpp's spellings such as ``typ_p``)."""
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _NOT_STAGES:
        raise ValueError(f"llama.cpp's {key!r} sampler is not a dyntemp stage; leave it out of order "
                         f"(stages are {', '.join(STAGES)})")
    if key not in STAGES:
        raise ValueError(f"unknown stage {name!r} in order; stages are {', '.join(STAGES)}")
    return key


class Sampler:
    """A token-adaptive sampler: a strategy picks each token's temperature inside a filter chain.

    Parameters follow llama-cpp-python's ``create_completion`` (and llama.cpp for ``top_n_sigma``,
    ``penalty_last_n``, ``min_keep``); every neutral value turns its stage off. ``strategy`` is a
    registered name, a ``Strategy``, or a number (a constant temperature). ``detokenizer`` maps
    token ids to bytes so that strategies can read the generated text. ``seed=None`` draws from
    fresh entropy; a seed makes the same logits give the same tokens.

    >>> import numpy as np
    >>> sampler = Sampler("edt", top_k=2, top_p=1.0, min_p=0.0, seed=7)
    >>> logits = np.log(np.array([0.6, 0.3, 0.1], dtype=np.float32))
    >>> sampler.distribution(logits).round(3)
    array([0.709, 0.291, 0.   ])
    >>> sampler.sample(logits) in (0, 1), len(sampler.trace)
    (True, 1)
    """

    def __init__(
        self,
        strategy: "str | Strategy | float",
        *,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        top_n_sigma: float = -1.0,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        penalty_last_n: int = 64,
        logit_bias: Mapping[int, float] | None = None,
        min_keep: int = 1,
        order: Sequence[str] = DEFAULT_ORDER,
        seed: int | None = None,
        detokenizer: Detokenizer | None = None,
    ) -> None:
        if isinstance(strategy, Real) and not isinstance(strategy, bool):
            strategy = get_strategy("constant", temperature=strategy)
        self.strategy = get_strategy(strategy)
        self.top_k = _validate.integer("top_k", top_k, low=0)
        self.top_p = _validate.number("top_p", top_p, low=0.0, high=1.0)
        self.min_p = _validate.number("min_p", min_p, low=0.0, high=1.0)
        self.typical_p = _validate.number("typical_p", typical_p, low=0.0, high=1.0)
        self.top_n_sigma = _validate.number("top_n_sigma", top_n_sigma)
        (self.repeat_penalty, self.frequency_penalty, self.presence_penalty,
         self.penalty_last_n) = check_penalties(repeat_penalty, frequency_penalty, presence_penalty, penalty_last_n,
                                                "penalty_last_n")
        self.min_keep = _validate.integer("min_keep", min_keep, low=0)
        self.logit_bias = _check_bias(logit_bias)
        self.order = _check_order(order)
        if seed is not None:
            seed = _validate.integer("seed", seed, low=0)
        self.seed = seed
        self._plan = self._make_plan()
        self._bias_items = tuple((token, np.float32(bias)) for token, bias in self.logit_bias.items())
        self._bias_arrays = (np.fromiter(self.logit_bias, dtype=np.int64, count=len(self.logit_bias)),
                             np.fromiter(self.logit_bias.values(), dtype=np.float32, count=len(self.logit_bias)))
        self._bias_limit = max(self.logit_bias, default=-1) + 1  # the smallest vocabulary it fits
        self._banned = tuple(token for token, bias in self.logit_bias.items() if bias == -math.inf)
        self._tracker = TextTracker(detokenizer)
        self.reset()

    def _neutral(self, stage: str) -> bool:
        if stage == "penalties":
            return penalties_neutral(self.repeat_penalty, self.frequency_penalty, self.presence_penalty,
                                     self.penalty_last_n)
        if stage == "temperature":
            return False
        value = getattr(self, stage)
        return value >= 1 if stage in ("typical_p", "top_p") else value <= 0

    def _make_plan(self) -> tuple:
        for stage in STAGES:
            if stage not in self.order and not self._neutral(stage):
                setting = (f"repeat_penalty={self.repeat_penalty}, frequency_penalty={self.frequency_penalty}, "
                           f"presence_penalty={self.presence_penalty}" if stage == "penalties"
                           else f"{stage}={getattr(self, stage)!r}")
                raise ValueError(f"{setting} is set but {stage!r} is not in order {list(self.order)}")
        return tuple((stage, _FILTERS.get(stage), getattr(self, stage, None))
                     for stage in self.order if not self._neutral(stage))

    @property
    def text(self) -> str:
        """The text generated so far in this generation (empty without a detokenizer)."""
        return self._tracker.text

    def use_detokenizer(self, detokenizer: Detokenizer | None) -> None:
        """Decode sampled tokens with ``detokenizer`` (token ids → bytes) from now on."""
        self._tracker.use_detokenizer(detokenizer)

    def reset(self) -> None:
        """Ready for a new generation: clears the trace, text and strategy state, and re-seeds."""
        self.strategy.reset()
        self._tracker.reset()
        self._generated: list[int] = []
        self.trace = Trace()
        self._rng = np.random.default_rng(self.seed)

    def generate(self, llm, prompt: "str | Sequence[int]", *, max_tokens: int = 256,
                 stop: "str | Sequence[str] | None" = None) -> GenerationResult:
        """Generate from ``prompt`` (text, special tokens parsed, or token ids) on ``llm``, a
        ``llama_cpp.Llama``: ``result.text``, ``.tokens``, ``.trace``, ``.finish_reason``.

        >>> from dyntemp.model import load_model
        >>> result = Sampler(0.0).generate(load_model(n_ctx=256), "The capital of France is", max_tokens=8,
        ...                                stop=".")
        >>> result.text, result.finish_reason
        (' Paris', 'stop')
        """
        return generation.generate(self, llm, prompt, max_tokens=max_tokens, stop=stop)

    def stream(self, llm, prompt: "str | Sequence[int]", *, max_tokens: int = 256,
               stop: "str | Sequence[str] | None" = None) -> Iterator[StreamPiece]:
        """Like ``generate``, yielding ``StreamPiece(text, record)`` as the text comes."""
        return generation.stream(self, llm, prompt, max_tokens=max_tokens, stop=stop)

    def chat(self, llm, messages: Sequence[dict], *, max_tokens: int = 256,
             stop: "str | Sequence[str] | None" = None) -> GenerationResult:
        """``generate`` on ``messages`` formatted with the model's own chat template."""
        return self.generate(llm, generation.chat_prompt(llm, messages), max_tokens=max_tokens, stop=stop)

    def logits_processor(self, llm=None):
        """A ``LogitsProcessorList`` for llama-cpp-python's ``create_completion`` and
        ``create_chat_completion``, used with ``**sampler.llama_kwargs()``. Pass ``llm`` so that
        strategies reading the text can see it."""
        import llama_cpp

        return llama_cpp.LogitsProcessorList([LogitsHook(self, llm)])

    @staticmethod
    def llama_kwargs() -> dict:
        """llama-cpp-python's own temperature, filters and penalties, turned neutral (its draw
        greedy), so that each is applied once, by dyntemp."""
        return dict(NEUTRAL_LLAMA_KWARGS)

    def process(self, logits: object, input_ids: Sequence[int] | None = None) -> np.ndarray:
        """The float32 logits this step would draw from: removed tokens ``-inf``, the rest divided by
        the temperature. No state changes."""
        step, ids, cand, _, _ = self._run(logits, input_ids)
        result = np.full(step.logits.size, -np.inf, dtype=np.float32)
        result[ids] = cand
        return result

    def distribution(self, logits: object, input_ids: Sequence[int] | None = None) -> np.ndarray:
        """The float64 probabilities this step would draw from (zeros for removed tokens). No state
        changes: the generator, the strategy and the trace are left as they were."""
        step, ids, cand, _, is_sorted = self._run(logits, input_ids)
        e = softmax_weights(cand, is_sorted)
        result = np.zeros(step.logits.size, dtype=np.float64)
        result[ids] = e / e.sum()
        return result

    def sample(self, logits: object, input_ids: Sequence[int] | None = None, *, overwrite: bool = False) -> int:
        """Sample one token: advances the generator and the strategy, and appends a trace record.

        ``input_ids`` is the history the penalties look at (the prompt and the tokens so far).
        ``overwrite=True`` lets the sampler apply ``logit_bias`` to float32 ``logits`` in place rather
        than to a copy of the vocabulary: for logits thrown away after the step, as llama.cpp's are.
        """
        step, ids, cand, temperature, is_sorted = self._run(logits, input_ids, overwrite)
        j, probability = (0, 1.0) if cand.size == 1 else draw(cand, is_sorted, self._rng.random())
        token = int(ids[j])
        index, sentence_index, sentence_position = step.index, step.sentence_index, step.sentence_position
        data = self._tracker.bytes_of(token)  # first: a failing detokenizer must change nothing
        self.strategy.accept(step, token)
        piece = self._tracker.feed_bytes(data)
        self._generated.append(token)
        self.trace.append(TraceRecord(index, token, piece, temperature, step.entropy, step.candidate_entropy,
                                      step.n_candidates, probability,
                                      sentence_index, sentence_position, step.rule, step.logprob(token)))
        return token

    def _run(self, logits: object, input_ids: Sequence[int] | None,
             overwrite: bool = False) -> tuple[Step, np.ndarray, np.ndarray, float, bool]:
        """``(step, candidate ids, their final logits, temperature, whether sorted by logit)``."""
        x = as_vector(logits)
        banned = ()
        if self._bias_items:
            x = self._biased(x, overwrite and x is logits)
            banned = self._banned  # x is the sampler's to write: a copy, or logits it may overwrite
        lse, entropy = logsumexp_and_entropy(x, banned)
        step = Step(len(self._generated), x, self._tracker, self._generated, lse, entropy)
        ids, cand, is_sorted = None, x, False
        temperature = math.nan
        for stage, keep_fn, value in self._plan:
            if keep_fn is not None:
                keep, is_sorted = keep_fn(cand, value, self.min_keep, is_sorted)
                if keep is not None:
                    cand = cand[keep]
                    ids = keep if ids is None else ids[keep]
            elif stage == "temperature":
                ids, cand = _finite(ids, cand)
                step._set_candidates(ids, cand)
                temperature = self._temperature(step)
                if _overflows(cand, temperature, is_sorted):
                    j = 0 if is_sorted else int(np.argmax(cand))
                    cand, ids = cand[j:j + 1], (ids[j:j + 1] if ids is not None else np.array([j]))
                    is_sorted = True
                else:
                    # Beyond float32's range a temperature is as good as infinite: uniform.
                    cand = cand / np.float32(min(temperature, _FLOAT32_MAX))
            else:
                cand = self._penalized(cand, ids, input_ids, x.size)
                is_sorted = False
        return step, (np.arange(cand.size) if ids is None else ids), cand, temperature, is_sorted

    def _temperature(self, step: Step) -> float:
        t = self.strategy.temperature(step)
        if type(t) is float and 0.0 <= t < math.inf:
            return t
        if isinstance(t, bool) or not isinstance(t, Real) or not (0.0 <= t < math.inf):
            raise ValueError(
                f"strategy {self.strategy.name or type(self.strategy).__name__!r} returned temperature {t!r} "
                f"at token {step.index}; a temperature must be a finite number >= 0"
            )
        return float(t)

    def _biased(self, x: np.ndarray, in_place: bool) -> np.ndarray:
        if self._bias_limit > x.size:
            raise ValueError(f"logit_bias names token {self._bias_limit - 1}, outside the vocabulary [0, {x.size})")
        if not in_place:
            x = x.copy()
        if len(self._bias_items) <= _SCALAR_BIAS_MAX:
            # Scalar updates: one fancy-indexed add costs more than a few of them right after a decode.
            for token, bias in self._bias_items:
                x[token] += bias
        else:
            ids, values = self._bias_arrays
            x[ids] += values
        return x

    def _penalized(self, cand: np.ndarray, ids: np.ndarray | None, history, n_vocab: int) -> np.ndarray:
        tokens, counts = window_counts(history, self.penalty_last_n, n_vocab, "input_ids")
        if tokens.size == 0:
            return cand
        if ids is None:
            at, counts = tokens, counts
        else:
            where = np.searchsorted(tokens, ids)
            hit = (where < tokens.size) & (tokens[np.minimum(where, tokens.size - 1)] == ids)
            at, counts = np.flatnonzero(hit), counts[where[hit]]
        cand = cand.copy()
        cand[at] = penalize(cand[at], counts, self.repeat_penalty, self.frequency_penalty, self.presence_penalty)
        return cand


def _overflows(cand: np.ndarray, temperature: float, is_sorted: bool) -> bool:
    """True when dividing by ``temperature`` would leave float32 (0 among them): sample greedily."""
    if temperature < _FLOAT32_TINY:
        return True
    largest = max(abs(float(cand[0])), abs(float(cand[-1]))) if is_sorted else float(np.abs(cand).max())
    return largest / temperature >= _FLOAT32_MAX


def _finite(ids: np.ndarray | None, cand: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Drop removed (-inf) tokens; only a set that no filter has cut can still hold them."""
    if ids is None and cand.min() == -np.inf:
        ids = np.flatnonzero(cand > -np.inf)
        cand = cand[ids]
    return ids, cand


def _check_bias(logit_bias: Mapping[int, float] | None) -> dict[int, float]:
    if logit_bias is None:
        return {}
    if not isinstance(logit_bias, Mapping):
        raise TypeError(f"logit_bias must be a mapping of token id to bias, got {logit_bias!r}")
    out = {}
    for token, bias in logit_bias.items():
        if isinstance(token, str) and token.isdigit():
            token = int(token)  # JSON object keys
        token = _validate.integer("logit_bias token id", token, low=0)
        if bias == -math.inf:
            out[token] = bias
            continue
        try:
            out[token] = _validate.number(f"logit_bias[{token}]", bias, low=-_FLOAT32_MAX, high=_FLOAT32_MAX)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (a bias is a number; -inf bans the token)") from None
    return out


def _check_order(order: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(order, (str, Sequence)):
        raise TypeError(f"order must be a list of stage names or a ';'-separated string, got {order!r}")
    if isinstance(order, str):
        order = [s for s in order.replace(",", ";").split(";") if s.strip()]
    names = tuple(stage_name(s) for s in order)
    for name in set(names):
        if names.count(name) > 1:
            raise ValueError(f"stage {name!r} appears {names.count(name)} times in order {list(order)}")
    if "temperature" not in names:
        raise ValueError(f"order {list(order)} has no 'temperature' stage: the strategy would never run")
    return names
