"""A stage of the sampler, llama.cpp's sampler interface (``llama_sampler_i``) on numpy: ``apply``
to the candidates, ``accept`` the token drawn, ``reset`` for a new generation, ``clone``.

A stage is a class declaring its settings (``dyntemp.core.stages.declare.Setting``); the pipeline
makes one per generation from the settings and runs the stages that are on, in ``order``, over one
``Candidates`` object. A stage that is off (``is_off``) is skipped, as llama.cpp's neutral values
are no-ops.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from .declare import Setting


class Candidates:
    """The tokens still in the running: ``logits`` (float32), ``ids`` their token ids (``None``: the
    whole vocabulary, in order) and ``sorted`` (by logit, descending)."""

    __slots__ = ("ids", "logits", "sorted")

    def __init__(self, logits: np.ndarray) -> None:
        self.ids: np.ndarray | None = None
        self.logits = logits
        self.sorted = False

    def keep(self, keep: "np.ndarray | slice | None", now_sorted: bool) -> None:
        """Keep the candidates ``keep`` selects (``None``: all); ``now_sorted``: whether they are sorted after."""
        if keep is not None:
            self.logits = self.logits[keep]
            self.ids = keep if self.ids is None else self.ids[keep]
        self.sorted = now_sorted

    def token_ids(self) -> np.ndarray:
        return np.arange(self.logits.size) if self.ids is None else self.ids


@dataclass
class StepContext:
    """What a stage may read of the step besides the candidates: the ``Step`` (the strategy's view),
    the ids so far (``history``), the sampler's generator, the strategy's temperature function, the
    vocabulary's size and ``min_keep``, and the largest logits ranked when the step's scan found them
    (``top_ids``, ``top_logits``: the pipeline's ``scan_k`` of them). The temperature stage records
    ``temperature``; a stage that picks the token leaves its ``memo`` for ``accept``."""

    step: Any
    history: Sequence[int] | None
    rng: np.random.Generator
    temperature_of: Callable[[Any], float]
    n_vocab: int
    min_keep: int
    top_ids: "np.ndarray | None" = None
    top_logits: "np.ndarray | None" = None
    temperature: float = math.nan
    memo: object = field(default=None)


class Stage:
    """One stage. Subclasses set ``settings`` (their ``Setting`` declarations) and implement
    ``apply``; one that keeps state across a generation implements ``accept`` and ``reset``.
    ``truncates``: it only removes candidates (llama.cpp's mirostat runs without these).
    ``picks``: it picks the token, so it runs last and at most one such stage is on; it learns
    from the draw in ``learn(values, j, memo)`` (the final candidate logits, the index drawn, what
    its ``apply`` left in ``ctx.memo``).

    Register one with ``dyntemp.register_stage`` (see there for an example); it then works in
    ``Sampler(...)``, ``order``, settings files, the command line and server requests."""

    name: ClassVar[str] = ""
    settings: ClassVar[tuple[Setting, ...]] = ()
    truncates: ClassVar[bool] = False
    picks: ClassVar[bool] = False

    def __init__(self, settings) -> None:
        self.config = settings  # the SamplerSettings it was made from

    @classmethod
    def is_off(cls, settings) -> bool:
        """True when this stage changes nothing with ``settings``: by default, when every setting
        that switches it (one with an ``off`` value) is at that value."""
        switches = [s for s in cls.settings if s.off is not None]
        return bool(switches) and all(getattr(settings, s.name) == s.off for s in switches)

    @classmethod
    def switched_by(cls, settings) -> str:
        """The settings that turn this stage on, with their values, for messages."""
        switches = [s for s in cls.settings if s.off is not None] or list(cls.settings)
        return ", ".join(f"{s.name}={getattr(settings, s.name)!r}" for s in switches) or repr(cls.name)

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        """Change ``cand`` in place (its logits, or which tokens remain)."""
        raise NotImplementedError

    def accept(self, token: int) -> None:
        """``token`` was drawn."""

    def reset(self) -> None:
        """A new generation starts."""

    def clone(self) -> "Stage":
        return copy.deepcopy(self)
