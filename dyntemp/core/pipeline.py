"""The stages of a sampler's settings, run on one step's logits (see ``dyntemp.core.stages`` for
the stages and their default order).

Each stage works on the shrinking candidate set, as llama.cpp's samplers do, so after top-k
everything costs next to nothing; no stage sorts the full vocabulary when top-k runs first. The
stage that picks the token (mirostat, adaptive-p) keeps state across a generation; the others only
read the step and the history.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .dry import Breakers
from .settings import SamplerSettings
from .stages import Candidates, Stage, StepContext, stage_class
from .stages.penalizing import DRY
from .stages.truncating import TopK
from .step import Step


class Pipeline:
    """One generation's stages: those that are on in ``settings``, in order, each its own object."""

    def __init__(self, settings: SamplerSettings) -> None:
        self.settings = settings
        self.stages = tuple(stage_class(name)(settings) for name in settings.stages())
        self.picking = next((stage for stage in self.stages if stage.picks), None)  # mirostat, adaptive-p
        # When top-k comes first, the step's one pass over the vocabulary ranks its k as well.
        first = self.stages[0] if self.stages else None
        self.scan_k = first.k if isinstance(first, TopK) else 0
        self._dry = next((stage for stage in self.stages if isinstance(stage, DRY)), None)
        # Only the stages that learn from the draw are told of it: a method call per stage per token counts.
        self._accepting = tuple(stage for stage in self.stages if type(stage).accept is not Stage.accept)

    @property
    def breakers(self) -> Breakers | None:
        """DRY's sequence breakers as tokens, from the model's vocabulary (``None``: not yet)."""
        return None if self._dry is None else self._dry.breakers

    @breakers.setter
    def breakers(self, breakers: Breakers) -> None:
        if self._dry is not None:
            self._dry.breakers = breakers

    def needs_breakers(self) -> bool:
        """True when DRY is on with text breakers that no vocabulary has turned into tokens yet."""
        return self._dry is not None and self._dry.breakers is None and bool(self.settings.dry_sequence_breakers)

    def reset(self) -> None:
        for stage in self.stages:
            stage.reset()

    def run(self, step: Step, x: np.ndarray, history: Sequence[int] | None, rng: np.random.Generator,
            temperature_of: Callable[[Step], float], top_ids: np.ndarray | None = None,
            top_logits: np.ndarray | None = None) -> tuple:
        """``(candidate ids, their final logits, temperature, sorted by logit, memo for accept)``;
        ``top_ids`` and ``top_logits``: the ``scan_k`` largest of ``x``, ranked, if known."""
        cand = Candidates(x)
        ctx = StepContext(step, history, rng, temperature_of, x.size, self.settings.min_keep, top_ids, top_logits)
        for stage in self.stages:
            stage.apply(cand, ctx)
        return cand.token_ids(), cand.logits, ctx.temperature, cand.sorted, ctx.memo

    def accept(self, token: int, values: np.ndarray, j: int, memo: object) -> None:
        """``token``, at index ``j`` of the final ``values``, was drawn: the stages learn from it."""
        for stage in self._accepting:
            stage.accept(token)
        if self.picking is not None:
            self.picking.learn(values, j, memo)
