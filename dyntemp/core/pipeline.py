"""The stages of a sampler's settings, run on one step's logits (see ``dyntemp.core.settings`` for
the stages and their order).

Each stage works on the shrinking candidate set, as llama.cpp's samplers do, so after top-k
everything costs next to nothing; no stage sorts the full vocabulary when top-k runs first. The
stage that picks the token (mirostat, adaptive-p) keeps state across a generation; the others only
read the step and the history.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .dry import Breakers, dry_penalties
from .numerics import FLOAT32_MAX
from .penalties import penalize, window_counts
from .selectors import AdaptiveP, Mirostat
from .settings import SamplerSettings
from .smoothing import smooth
from .step import Step

_FLOAT32_TINY = float(np.finfo(np.float32).smallest_subnormal)


class Pipeline:
    """The stages that are on in ``settings``, with the state of the one that picks the token."""

    def __init__(self, settings: SamplerSettings) -> None:
        self.settings = settings
        self.plan = settings.plan()
        names = [stage for stage, _, _ in self.plan]
        self.selector = (Mirostat(settings.mirostat, settings.mirostat_tau, settings.mirostat_eta)
                         if "mirostat" in names else
                         AdaptiveP(settings.adaptive_target, settings.adaptive_decay) if "adaptive_p" in names
                         else None)
        self.breakers: Breakers | None = None  # DRY's sequence breakers as tokens, from the model's vocabulary

    def needs_breakers(self) -> bool:
        """True when DRY is on with text breakers that no vocabulary has turned into tokens yet."""
        return (self.breakers is None and bool(self.settings.dry_sequence_breakers)
                and any(stage == "dry" for stage, _, _ in self.plan))

    def reset(self) -> None:
        if self.selector is not None:
            self.selector.reset()

    def run(self, step: Step, x: np.ndarray, history: Sequence[int] | None, rng: np.random.Generator,
            temperature_of: Callable[[Step], float]) -> tuple:
        """``(candidate ids, their final logits, temperature, sorted by logit, memo for accept)``."""
        ids, cand, is_sorted = None, x, False
        temperature, memo = float("nan"), None
        min_keep = self.settings.min_keep
        for stage, keep_fn, value in self.plan:
            # XTC's coin comes first: when it does not come up (chance > probability), the stage passes.
            if stage == "xtc" and rng.random() > self.settings.xtc_probability:
                continue
            if keep_fn is not None:
                keep, is_sorted = keep_fn(cand, value, min_keep, is_sorted)
                if keep is not None:
                    cand = cand[keep]
                    ids = keep if ids is None else ids[keep]
            elif stage == "temperature":
                ids, cand = _finite(ids, cand)
                step._set_candidates(ids, cand)
                temperature = temperature_of(step)
                if _overflows(cand, temperature, is_sorted):
                    j = 0 if is_sorted else int(np.argmax(cand))
                    cand, ids = cand[j:j + 1], (ids[j:j + 1] if ids is not None else np.array([j]))
                    is_sorted = True
                else:
                    # Beyond float32's range a temperature is as good as infinite: uniform.
                    cand = cand / np.float32(min(temperature, FLOAT32_MAX))
            elif stage in ("mirostat", "adaptive_p"):
                keep, cand, is_sorted, memo = self.selector.apply(cand, is_sorted, x.size)
                if keep is not None:
                    ids = keep if ids is None else ids[keep]
            elif stage == "smoothing":
                cand = smooth(cand, self.settings.smoothing_factor, self.settings.smoothing_curve)
                is_sorted = False
            else:
                cand = self._penalized(stage, cand, ids, history, x.size)
                is_sorted = False
        return (np.arange(cand.size) if ids is None else ids), cand, temperature, is_sorted, memo

    def accept(self, values: np.ndarray, j: int, memo: object) -> None:
        """The token at index ``j`` of the final ``values`` was drawn: the picking stage learns from it."""
        if self.selector is not None:
            self.selector.accept(values, j, memo)

    def _penalized(self, stage: str, cand: np.ndarray, ids: np.ndarray | None, history, n_vocab: int) -> np.ndarray:
        """The penalties or DRY on the candidates: each gives (sorted token ids, an amount per token)."""
        s = self.settings
        if stage == "dry":
            tokens, amounts = dry_penalties(history, n_vocab, s.dry_multiplier, s.dry_base, s.dry_allowed_length,
                                            s.dry_penalty_last_n, self.breakers or {})
        else:
            tokens, amounts = window_counts(history, s.penalty_last_n, n_vocab, "input_ids")
        if tokens.size == 0:
            return cand
        at = tokens
        if ids is not None:
            where = np.searchsorted(tokens, ids)
            hit = (where < tokens.size) & (tokens[np.minimum(where, tokens.size - 1)] == ids)
            at, amounts = np.flatnonzero(hit), amounts[where[hit]]
        cand = cand.copy()
        cand[at] = (cand[at] - amounts if stage == "dry"
                    else penalize(cand[at], amounts, s.repeat_penalty, s.frequency_penalty, s.presence_penalty))
        return cand


def _overflows(cand: np.ndarray, temperature: float, is_sorted: bool) -> bool:
    """True when dividing by ``temperature`` would leave float32 (0 among them): sample greedily."""
    if temperature < _FLOAT32_TINY:
        return True
    largest = max(abs(float(cand[0])), abs(float(cand[-1]))) if is_sorted else float(np.abs(cand).max())
    return largest / temperature >= FLOAT32_MAX


def _finite(ids: np.ndarray | None, cand: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Drop removed (-inf) tokens; only a set that no filter has cut can still hold them."""
    if ids is None and cand.min() == -np.inf:
        ids = np.flatnonzero(cand > -np.inf)
        cand = cand[ids]
    return ids, cand
