"""The stages that lower the logits of tokens the history repeats: llama.cpp's penalties (repeat,
frequency, presence) and DRY."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..dry import DEFAULT_SEQUENCE_BREAKERS, MAX_BREAKER_BYTES, Breakers, dry_is_off, dry_penalties
from ..penalties import penalize, penalties_neutral, window_counts
from .base import Candidates, Stage, StepContext
from .declare import Setting, integer, number


def _lower(cand: Candidates, tokens: np.ndarray, amounts: np.ndarray, lower) -> None:
    """Apply ``lower(logits, amounts)`` to the candidates among ``tokens`` (sorted ids)."""
    if tokens.size == 0:
        return
    at = tokens
    if cand.ids is not None:
        where = np.searchsorted(tokens, cand.ids)
        hit = (where < tokens.size) & (tokens[np.minimum(where, tokens.size - 1)] == cand.ids)
        at, amounts = np.flatnonzero(hit), amounts[where[hit]]
    logits = cand.logits.copy()
    logits[at] = lower(logits[at], amounts)
    cand.logits, cand.sorted = logits, False


class Penalties(Stage):
    """Repetition, frequency and presence penalties over the last ``penalty_last_n`` tokens."""

    settings = (
        Setting("repeat_penalty", 1.0, "repetition penalty", number(low=0.0, low_open=True), off=1.0,
                flag="--repeat-penalty", metavar="R"),
        Setting("frequency_penalty", 0.0, "frequency penalty", number(), off=0.0, flag="--frequency-penalty",
                metavar="F"),
        Setting("presence_penalty", 0.0, "presence penalty", number(), off=0.0, flag="--presence-penalty",
                metavar="F"),
        Setting("penalty_last_n", 64, "tokens the penalties look back on", integer(low=-1), flag="--repeat-last-n",
                fields=("repeat_last_n",), note="0: off; -1: the whole history"),
    )

    @classmethod
    def is_off(cls, settings) -> bool:
        return penalties_neutral(settings.repeat_penalty, settings.frequency_penalty, settings.presence_penalty,
                                 settings.penalty_last_n)

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        s = self.config
        tokens, counts = window_counts(ctx.history, s.penalty_last_n, ctx.n_vocab, "input_ids")
        _lower(cand, tokens, counts,
               lambda logits, c: penalize(logits, c, s.repeat_penalty, s.frequency_penalty, s.presence_penalty))


def _check_breakers(name: str, breakers: object) -> tuple[str, ...]:
    if isinstance(breakers, str) or not isinstance(breakers, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {breakers!r}")
    for text in breakers:
        if not isinstance(text, str) or not text:
            raise ValueError(f"{name} must hold non-empty strings, got {text!r} in {list(breakers)!r}")
        if len(text.encode("utf-8")) > MAX_BREAKER_BYTES:
            raise ValueError(f"a DRY sequence breaker is at most {MAX_BREAKER_BYTES} bytes (as in llama.cpp), got "
                             f"{text!r:.60}")
    return tuple(breakers)


class DRY(Stage):
    """DRY ("don't repeat yourself"): penalizes the token that would extend a repeat of the history."""

    settings = (
        Setting("dry_multiplier", 0.0, "DRY: the multiplier of its repeat penalty", number(low=0.0), off=0.0,
                flag="--dry-multiplier"),
        Setting("dry_base", 1.75, "DRY: the base of its repeat penalty, >= 1", number(low=1.0), flag="--dry-base"),
        Setting("dry_allowed_length", 2, "DRY: the longest repeat left unpenalized", integer(low=0),
                flag="--dry-allowed-length"),
        Setting("dry_penalty_last_n", -1, "DRY: tokens it looks back on", integer(low=-1),
                flag="--dry-penalty-last-n", note="0: off; -1: the whole history"),
        Setting("dry_sequence_breakers", DEFAULT_SEQUENCE_BREAKERS, "DRY: text that no repeat is matched across; "
                "the first one given replaces the defaults, none clears them all; repeatable", _check_breakers,
                flag="--dry-sequence-breaker", metavar="STRING", repeat=True, schema=list[str]),
    )

    @classmethod
    def is_off(cls, settings) -> bool:
        return dry_is_off(settings.dry_multiplier, settings.dry_penalty_last_n)

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.breakers: Breakers | None = None  # the sequence breakers as tokens, from the model's vocabulary

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        s = self.config
        tokens, amounts = dry_penalties(ctx.history, ctx.n_vocab, s.dry_multiplier, s.dry_base,
                                        s.dry_allowed_length, s.dry_penalty_last_n, self.breakers or {})
        _lower(cand, tokens, amounts, lambda logits, a: logits - a)
