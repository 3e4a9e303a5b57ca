"""The stages of a sampler's settings, run on one step's logits (see ``dyntemp.core.stages`` for
the stages and their default order).

Each stage works on the shrinking candidate set, as llama.cpp's samplers do, so after top-k
everything costs next to nothing; no stage sorts the full vocabulary when top-k runs first. The
stage that picks the token (mirostat, adaptive-p) keeps state across a generation; the others only
read the step and the history.

The common chain — top-k, then top-p and/or min-p, then the temperature (llama.cpp's defaults) —
runs its cuts as one kernel call on the scan's ranked top k (``kernel.head``), with the same
results as its stage objects: right after a decode, each Python call a token makes costs
microseconds, and the sampler runs inside the decoding loop.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import kernel
from .dry import Breakers
from .settings import SamplerSettings
from .stages import Candidates, Stage, StepContext, stage_class
from .stages.penalizing import DRY
from .stages.shaping import Temperature, divide
from .stages.truncating import MinP, TopK, TopP
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
        self._common = _common_chain(self.stages)

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
        if self._common is not None and top_ids is not None:
            return self._run_common(step, top_ids, top_logits, temperature_of)
        cand = Candidates(x)
        ctx = StepContext(step, history, rng, temperature_of, x.size, self.settings.min_keep, top_ids, top_logits)
        for stage in self.stages:
            stage.apply(cand, ctx)
        return cand.token_ids(), cand.logits, ctx.temperature, cand.sorted, ctx.memo

    def _run_common(self, step: Step, top_ids: np.ndarray, top_logits: np.ndarray,
                    temperature_of: Callable[[Step], float]) -> tuple:
        """``run`` for the common chain, given the scan's top k."""
        n, entropy = kernel.head(top_logits, *self._common, self.settings.min_keep)
        cand = Candidates(top_logits[:n])
        cand.ids, cand.sorted = top_ids[:n], True
        step._set_candidates(cand.ids, cand.logits, entropy)
        temperature = temperature_of(step)
        divide(cand, temperature)
        return cand.ids, cand.logits, temperature, cand.sorted, None

    def accept(self, token: int, values: np.ndarray, j: int, memo: object) -> None:
        """``token``, at index ``j`` of the final ``values``, was drawn: the stages learn from it."""
        for stage in self._accepting:
            stage.accept(token)
        if self.picking is not None:
            self.picking.learn(values, j, memo)


def _common_chain(stages: Sequence[Stage]) -> tuple[float, float] | None:
    """``(top_p, min_p)`` when ``stages`` are the common chain: the built-in top-k, top-p and/or
    min-p, temperature, in that order (1.0 / 0.0 for a cut that is off); else ``None``."""
    kinds = [type(stage) for stage in stages]
    if kinds[:1] != [TopK] or kinds[-1:] != [Temperature] or kinds[1:-1] not in ([], [TopP], [MinP], [TopP, MinP]):
        return None
    values = {type(stage): stage.value for stage in stages[1:-1]}
    return values.get(TopP, 1.0), values.get(MinP, 0.0)
