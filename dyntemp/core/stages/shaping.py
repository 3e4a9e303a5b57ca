"""The stages that reshape what remains: quadratic smoothing, the strategy's temperature, and the
two that pick the token at the end of the chain, mirostat and adaptive-p."""

from __future__ import annotations

import numpy as np

from .. import kernel
from ..selectors import AdaptiveP as AdaptiveSelector
from ..selectors import Mirostat as MirostatSelector
from ..smoothing import smooth, smoothing_is_off
from .base import Candidates, Stage, StepContext
from .declare import Setting, choice, number

class Smoothing(Stage):
    """Quadratic smoothing (KoboldCpp's, text-generation-webui's)."""

    settings = (
        Setting("smoothing_factor", 0.0, "quadratic smoothing (KoboldCpp's, text-generation-webui's): larger "
                "sharpens", number(low=0.0), off=0.0, flag="--smoothing-factor"),
        Setting("smoothing_curve", 1.0, "quadratic smoothing's curve: larger raises the tokens near the top",
                number(), flag="--smoothing-curve"),
    )

    @classmethod
    def is_off(cls, settings) -> bool:
        return smoothing_is_off(settings.smoothing_factor)

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        cand.logits = smooth(cand.logits, self.config.smoothing_factor, self.config.smoothing_curve)
        cand.sorted = False


class Temperature(Stage):
    """The strategy's temperature: the strategy reads the step (the candidates set on it) and the
    logits are divided by what it returns; 0 keeps only the most likely candidate."""

    @classmethod
    def is_off(cls, settings) -> bool:
        return False

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        if cand.ids is None and cand.logits.min() == -np.inf:  # only a set no filter cut can still hold -inf
            cand.ids = np.flatnonzero(cand.logits > -np.inf)
            cand.logits = cand.logits[cand.ids]
        ctx.step._set_candidates(cand.ids, cand.logits)
        ctx.temperature = ctx.temperature_of(ctx.step)
        divide(cand, ctx.temperature)


def divide(cand: Candidates, temperature: float) -> None:
    """Divide the candidates' logits by ``temperature``; one that would leave float32 (0 among them)
    keeps the most likely candidate alone."""
    scaled = kernel.scale(cand.logits, temperature, cand.sorted)
    if scaled is not None:
        cand.logits = scaled
        return
    j = 0 if cand.sorted else int(np.argmax(cand.logits))
    cand.logits = cand.logits[j:j + 1]
    cand.ids = cand.ids[j:j + 1] if cand.ids is not None else np.array([j])
    cand.sorted = True


class _Picking(Stage):
    """A stage that picks the token (``dyntemp.core.selectors``): it runs last."""

    picks = True
    selector: object

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        keep, cand.logits, cand.sorted, ctx.memo = self.selector.apply(cand.logits, cand.sorted, ctx.n_vocab)
        if keep is not None:
            cand.ids = keep if cand.ids is None else cand.ids[keep]

    def learn(self, values: np.ndarray, j: int, memo: object) -> None:
        self.selector.accept(values, j, memo)

    def reset(self) -> None:
        self.selector.reset()


class Mirostat(_Picking):
    """Mirostat v1 or v2: keeps the surprise of the drawn tokens near ``mirostat_tau``."""

    settings = (
        Setting("mirostat", 0, "Mirostat, picks the token last", choice(0, 1, 2, what="0 (off), 1 or 2 (the version)"),
                off=0, flag="--mirostat", note="1, 2: its version; turns off the top-k, top-p, min-p, typical, "
                                               "top-nσ and XTC not given, as llama.cpp"),
        Setting("mirostat_tau", 5.0, "Mirostat target entropy (surprise, bits), parameter tau", number(low=0.0),
                flag="--mirostat-ent"),
        Setting("mirostat_eta", 0.1, "Mirostat learning rate, parameter eta", number(low=0.0), flag="--mirostat-lr"),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.selector = MirostatSelector(settings.mirostat, settings.mirostat_tau, settings.mirostat_eta)


def _target(name: str, value: object) -> float:
    # A negative target turns adaptive-p off, as in llama.cpp.
    return number(high=1.0)(name, value)


class AdaptiveP(_Picking):
    """adaptive-p: picks the token near a target probability."""

    settings = (
        Setting("adaptive_target", -1.0, "adaptive-p: picks the token near this probability, 0 to 1, last; "
                "negative: off", _target, off=-1.0, flag="--adaptive-target"),
        Setting("adaptive_decay", 0.9, "adaptive-p: decay of its moving average, 0 to 0.99 (lower reacts faster)",
                number(low=0.0, high=0.99), flag="--adaptive-decay"),  # where llama.cpp clamps it
    )

    @classmethod
    def is_off(cls, settings) -> bool:
        return settings.adaptive_target < 0.0

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.selector = AdaptiveSelector(settings.adaptive_target, settings.adaptive_decay)
