"""The ``Sampler``: one generation's state and the per-token step, on settings it never changes.

Per token: logit bias → the stages in ``order`` (see ``dyntemp.core.settings``) → draw, with a trace
record. Stages whose parameters are neutral are skipped. Each stage works on the shrinking candidate
set, as llama.cpp's samplers do, so after top-k everything costs next to nothing; no stage sorts the
full vocabulary when top-k runs first. At the temperature stage the strategy reads the ``Step`` (the
full logits, their entropy, the candidates, the text so far) and returns the temperature; 0 keeps
only the most likely candidate. The draw uses the sampler's own seeded generator.

This module imports no llama.cpp: ``generate``, ``stream``, ``chat`` and ``logits_processor`` are
conveniences that hand the sampler to ``dyntemp.llama`` when called (``dyntemp.core.backend``).
"""

from __future__ import annotations

import math
import warnings
from numbers import Real
from typing import TYPE_CHECKING, Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from .. import _validate
from ..strategies import Strategy
from .backend import backend
from .dry import check_breakers
from . import kernel
from .numerics import as_vector, softmax_weights
from .pipeline import Pipeline
from .settings import SamplerSettings
from .step import Step
from .text import Detokenizer, TextTracker
from .trace import Trace, TraceRecord

if TYPE_CHECKING:
    from .results import GenerationResult, StreamPiece

_SCALAR_BIAS_MAX = 16


class StepRun(NamedTuple):
    """What one step's stages leave: the ``Step``, the candidates' token ``ids`` and final ``logits``
    (``sorted`` by logit, or not), the strategy's ``temperature``, and the ``memo`` of the stage
    that picks the token."""

    step: Step
    ids: np.ndarray
    logits: np.ndarray
    temperature: float
    sorted: bool
    memo: object


class Sampler:
    """A token-adaptive sampler: a strategy picks each token's temperature inside a filter chain.

    The keyword settings are those the stages declare, with their defaults (``dyntemp strategies``
    lists them; ``SamplerSettings.declared()`` has them): ``top_k``, ``top_p``, ``min_p``,
    ``repeat_penalty``, ``logit_bias``, ``order``, ``seed``, ... and those of stages a user
    registered (``dyntemp.register_stage``). They follow llama-cpp-python's ``create_completion``
    and llama.cpp (text-generation-webui for smoothing); every neutral value turns its stage off. With mirostat or adaptive-p on, they pick
    the token from what the strategy's temperature leaves (see ``dyntemp.core.selectors``). ``strategy`` is a
    registered name or spec text (``"edt:theta=0.6"``), a table or ``StrategySpec``, a ``Strategy``,
    or a number (a constant temperature). They are checked into ``sampler.settings``, a
    ``SamplerSettings`` (see ``from_settings``). ``detokenizer`` maps token ids to bytes so that
    strategies can read the generated text. ``seed=None`` draws from fresh entropy; a seed makes the
    same logits give the same tokens. A sampler pickles without its detokenizer, which belongs to a
    model of this process.

    ``grammar`` (GBNF text, or a ``llama_cpp.LlamaGrammar``) or ``json_schema`` (a dict or its JSON,
    converted as llama-cpp-python converts it) restrict the candidates to what the grammar allows
    before the filters and the strategy see them, so that constrained output (JSON mode) keeps its
    shape at any temperature. A grammar is applied on a model: ``generate``, ``stream``, ``chat`` and
    ``logits_processor(llm)`` attach it (``use_constraint``).

    >>> import numpy as np
    >>> sampler = Sampler("edt", top_k=2, top_p=1.0, min_p=0.0, seed=7)
    >>> logits = np.log(np.array([0.6, 0.3, 0.1], dtype=np.float32))
    >>> sampler.distribution(logits).round(3)
    array([0.709, 0.291, 0.   ])
    >>> sampler.sample(logits) in (0, 1), len(sampler.trace)
    (True, 1)
    >>> sampler
    Sampler(EDT(t0=1.0, n=0.8, theta=1.0, entropy_floor=1e-06, min_temp=0.0, max_temp=inf), top_k=2, top_p=1.0, min_p=0.0, seed=7)
    """

    def __init__(self, strategy: "str | Strategy | float", *, detokenizer: Detokenizer | None = None,
                 json_schema: "str | Mapping | None" = None, **settings: Any) -> None:
        grammar = settings.get("grammar")
        if grammar is not None and not isinstance(grammar, str):
            settings["grammar"] = getattr(grammar, "_grammar", grammar)  # a llama_cpp.LlamaGrammar: its GBNF
        if json_schema is not None:
            if grammar is not None:
                raise ValueError("give grammar or json_schema, not both")
            settings["grammar"] = backend().json_schema_grammar(json_schema)
        settings = SamplerSettings(strategy, **settings)
        if settings.mirostat_note():
            warnings.warn(settings.mirostat_note(), stacklevel=2)
        # A strategy instance given here is the one used (its caller may hold it); otherwise a fresh one.
        self._setup(settings, strategy if isinstance(strategy, Strategy) else None, detokenizer)

    @classmethod
    def from_settings(cls, settings: SamplerSettings, *, detokenizer: Detokenizer | None = None) -> "Sampler":
        """A sampler for ``settings`` with a fresh strategy: cheap enough to make one per generation.

        >>> settings = SamplerSettings("sentence:temperatures=[0.2,0.9]", seed=1)
        >>> Sampler.from_settings(settings).strategy
        Sentence(temperatures=[0.2, 0.9])
        """
        sampler = cls.__new__(cls)
        sampler._setup(settings, None, detokenizer)
        return sampler

    def _setup(self, settings: SamplerSettings, strategy: Strategy | None, detokenizer: Detokenizer | None) -> None:
        self.settings = settings
        self.strategy = strategy if strategy is not None else settings.make_strategy()
        self._pipeline = Pipeline(settings)
        bias = settings.logit_bias
        self._bias_items = tuple((token, np.float32(value)) for token, value in bias)
        self._bias_arrays = (np.array([t for t, _ in bias], dtype=np.int64),
                             np.array([v for _, v in bias], dtype=np.float32))
        self._bias_fits = 0  # the largest vocabulary size seen to hold every biased token
        self._banned = tuple(token for token, value in bias if value == -math.inf)
        self._tracker = TextTracker(detokenizer)
        self._constraints: tuple = ()
        self._top_logprobs = 0
        self._check_text()
        self.reset()

    def __getattr__(self, name: str):
        # The settings read as the sampler's own attributes (sampler.top_k), as they always have.
        settings = self.__dict__.get("settings")
        if settings is not None and name in settings and name != "logit_bias":
            return getattr(settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if "settings" in self.__dict__ and name in self.settings:
            raise AttributeError(f"{name} is one of the sampler's settings, which do not change; make another "
                                 f"sampler: Sampler.from_settings(sampler.settings.replace({name}=...))")
        object.__setattr__(self, name, value)

    def __getstate__(self) -> dict:
        # Constraints belong to a model of this process, as the detokenizer does: they stay behind.
        return {**self.__dict__, "_constraints": ()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._check_text()  # the detokenizer and constraints stayed behind

    def __repr__(self) -> str:
        changed = ", ".join(f"{s.name}={getattr(self.settings, s.name)!r}" for s in self.settings.declared()
                            if getattr(self.settings, s.name) != s.checked(s.default))
        return f"Sampler({self.strategy!r}{', ' if changed else ''}{changed})"

    @property
    def logit_bias(self) -> dict[int, float]:
        """``{token id: bias}`` added to the logits before every other stage."""
        return dict(self.settings.logit_bias)

    @property
    def text(self) -> str:
        """The text generated so far in this generation (empty without a detokenizer)."""
        return self._tracker.text

    def use_detokenizer(self, detokenizer: Detokenizer | None) -> None:
        """Decode sampled tokens with ``detokenizer`` (token ids → bytes) from now on."""
        self._tracker.use_detokenizer(detokenizer)
        self._check_text()

    def use_constraint(self, *constraints) -> None:
        """Restrict the candidates with ``constraints`` from now on (objects with ``restrict(logits)``
        returning the logits with disallowed tokens at ``-inf``, ``accept(token)`` and ``reset()``,
        as ``dyntemp.llama.GrammarConstraint``); none: unrestricted."""
        self._constraints = constraints
        self._check_text()

    def keep_top_logprobs(self, n: int) -> None:
        """From now on, keep each sampled token's ``n`` most likely alternatives in
        ``sampler.top_logprobs`` (one list per trace record; see ``Step.top_logprobs``); 0: none.

        >>> import numpy as np
        >>> sampler = Sampler(0.0)
        >>> sampler.keep_top_logprobs(1)
        >>> sampler.sample(np.array([0.0, 3.0, 1.0], dtype=np.float32))
        1
        >>> [[(token, round(lp, 3)) for token, lp in alternatives] for alternatives in sampler.top_logprobs]
        [[(1, -0.17)]]
        """
        self._top_logprobs = _validate.integer("top_logprobs", n, low=0)

    def use_dry_breakers(self, breakers) -> None:
        """DRY's sequence breakers as token sequences from now on: a list of token id lists, or
        ``{head token: (tail, ...)}`` as ``dyntemp.llama.dry_breakers`` makes from the text ones.

        >>> sampler = Sampler(1.0, dry_multiplier=0.8)
        >>> sampler.use_dry_breakers([[198]])  # the newline of a GPT-2 style vocabulary
        """
        self._pipeline.breakers = check_breakers(breakers)
        self._check_text()

    def _check_text(self) -> None:
        # Without a detokenizer the text stays empty: a strategy that reads it would run on nothing.
        # A grammar without its constraint would not hold: refused the same way.
        self._blind = ((self.strategy.reads_text and self._tracker.detokenizer is None)
                       or (self.settings.grammar is not None and not self._constraints)
                       or self._pipeline.needs_breakers())

    def _refuse_blind(self) -> None:
        if self.settings.grammar is not None and not self._constraints:
            raise ValueError("this sampler has a grammar, which needs the model's vocabulary: generate with "
                             "sampler.generate/stream/chat, or pass the model to logits_processor(llm)")
        if self._pipeline.needs_breakers():
            raise ValueError(f"DRY's sequence breakers {list(self.settings.dry_sequence_breakers)!r} are text, which "
                             f"needs the model's vocabulary: generate with sampler.generate/stream/chat, pass the model "
                             f"to logits_processor(llm), give them as tokens (sampler.use_dry_breakers), or set "
                             f"dry_sequence_breakers=[]")
        raise ValueError(
            f"strategy {self.strategy.name or type(self.strategy).__name__!r} reads the generated text, but this "
            f"sampler has no detokenizer to know it: give Sampler(..., detokenizer=...) (token ids -> bytes), pass "
            f"the model to logits_processor(llm), or generate with sampler.generate/stream/chat")

    def reset(self) -> None:
        """Ready for a new generation: clears the trace, text and strategy state, and re-seeds."""
        self.strategy.reset()
        self._tracker.reset()
        self._generated: list[int] = []
        self.trace = Trace()
        self.top_logprobs: list[list[tuple[int, float]]] = []
        self.finish_reason: str | None = None  # set when a generation on a model ends
        for constraint in self._constraints:
            constraint.reset()
        self._pipeline.reset()
        self._rng = np.random.default_rng(self.settings.seed)

    def generate(self, llm, prompt: "str | Sequence[int]", *, max_tokens: int = 256,
                 stop: "str | Sequence[str] | None" = None) -> GenerationResult:
        """Generate from ``prompt`` (text, special tokens parsed, or token ids) on ``llm``, a
        ``llama_cpp.Llama``: ``result.text``, ``.tokens``, ``.trace``, ``.finish_reason``.

        >>> from dyntemp.llama.model import load_model
        >>> result = Sampler(0.0).generate(load_model(n_ctx=256), "The capital of France is", max_tokens=8,
        ...                                stop=".")
        >>> result.text, result.finish_reason
        (' Paris', 'stop')
        """
        return backend().generate(self, llm, prompt, max_tokens=max_tokens, stop=stop)

    def stream(self, llm, prompt: "str | Sequence[int]", *, max_tokens: int = 256,
               stop: "str | Sequence[str] | None" = None) -> Iterator[StreamPiece]:
        """Like ``generate``, yielding ``StreamPiece(text, record)`` as the text comes; when it ends,
        ``sampler.finish_reason`` says why and ``sampler.trace`` holds every token's record."""
        return backend().stream(self, llm, prompt, max_tokens=max_tokens, stop=stop)

    def chat(self, llm, messages: Sequence[dict], *, max_tokens: int = 256,
             stop: "str | Sequence[str] | None" = None, chat_template: str | None = None) -> GenerationResult:
        """``generate`` on ``messages`` formatted with the model's own chat template (or
        ``chat_template``, a Jinja template for a model without one), tokenized as llama-cpp-python's
        ``create_chat_completion`` does."""
        return self.generate(llm, backend().chat_tokens(llm, messages, chat_template), max_tokens=max_tokens,
                             stop=stop)

    def logits_processor(self, llm=None):
        """A ``LogitsProcessorList`` for llama-cpp-python's ``create_completion`` and
        ``create_chat_completion``, used with ``**sampler.llama_kwargs()``. Pass ``llm`` so that
        strategies reading the text can see it."""
        if llm is None and (self.strategy.reads_text or self.settings.grammar is not None):
            self._refuse_blind()
        return backend().logits_processor(self, llm)

    @staticmethod
    def llama_kwargs() -> dict:
        """llama-cpp-python's own temperature, filters and penalties, turned neutral (its draw
        greedy), so that each is applied once, by dyntemp."""
        return backend().neutral_kwargs()

    def process(self, logits: object, input_ids: Sequence[int] | None = None) -> np.ndarray:
        """The float32 logits this step would draw from: removed tokens ``-inf``, the rest divided by
        the temperature. No state changes."""
        run = self._run(logits, input_ids)
        result = np.full(run.step._logits.size, -np.inf, dtype=np.float32)
        result[run.ids] = run.logits
        return result

    def distribution(self, logits: object, input_ids: Sequence[int] | None = None) -> np.ndarray:
        """The float64 probabilities this step would draw from (zeros for removed tokens). No state
        changes: the generator, the strategy and the trace are left as they were."""
        run = self._run(logits, input_ids)
        e = softmax_weights(run.logits, run.sorted)
        result = np.zeros(run.step._logits.size, dtype=np.float64)
        result[run.ids] = e / e.sum()
        return result

    def sample(self, logits: object, input_ids: Sequence[int] | None = None, *, overwrite: bool = False) -> int:
        """Sample one token: advances the generator and the strategy, and appends a trace record.

        ``input_ids`` is the history the penalties look at (the prompt and the tokens so far).
        ``overwrite=True`` lets the sampler apply ``logit_bias`` to float32 ``logits`` in place rather
        than to a copy of the vocabulary: for logits thrown away after the step, as llama.cpp's are.
        """
        run = self._run(logits, input_ids, overwrite)
        step, cand = run.step, run.logits
        j, probability = (0, 1.0) if cand.size == 1 else kernel.draw(cand, run.sorted, self._rng.random())
        token = int(run.ids[j])
        index, sentence_index, sentence_position = step.index, step.sentence_index, step.sentence_position
        data = self._tracker.bytes_of(token)  # first: a failing detokenizer must change nothing
        for constraint in self._constraints:
            constraint.accept(token)
        self._pipeline.accept(token, cand, j, run.memo)
        self.strategy.accept(step, token)
        piece = self._tracker.feed_bytes(data)
        self._generated.append(token)
        if self._top_logprobs:
            self.top_logprobs.append(step.top_logprobs(self._top_logprobs))
        self.trace.append(TraceRecord(index, token, piece, run.temperature, step.entropy, step.candidate_entropy,
                                      step.n_candidates, probability,
                                      sentence_index, sentence_position, step.rule, step.logprob(token)))
        return token

    def _run(self, logits: object, input_ids: Sequence[int] | None, overwrite: bool = False) -> "StepRun":
        if self._blind:
            self._refuse_blind()
        x = as_vector(logits)
        banned = ()
        if self._bias_items:
            x = self._biased(x, overwrite and x is logits)
            banned = self._banned  # x is the sampler's to write: a copy, or logits it may overwrite
        for constraint in self._constraints:  # before anything reads the logits: the grammar decides first
            x = constraint.restrict(x)
        pipeline = self._pipeline
        lse, entropy, top_ids, top_logits = kernel.scan(x, pipeline.scan_k, banned)
        step = Step(len(self._generated), x, self._tracker, self._generated, lse, entropy)
        return StepRun(step, *pipeline.run(step, x, input_ids, self._rng, self._temperature, top_ids, top_logits))

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
        if x.size != self._bias_fits:
            outside = self.settings.bias_outside(x.size)
            if outside is not None:
                raise ValueError(f"logit_bias names token {outside}, outside the vocabulary [0, {x.size})")
            self._bias_fits = x.size
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
