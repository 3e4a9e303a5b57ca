"""``dynatemp``: llama.cpp's ``temp_ext`` (KoboldCpp's dynatemp) over the surviving candidates."""

from __future__ import annotations

import math

from .. import _validate
from .base import Strategy
from .registry import register_strategy
from .search import Range


@register_strategy("dynatemp")
class DynaTemp(Strategy):
    """``T = min_t + (max_t - min_t) · (H / ln n)^exponent`` over the ``n`` candidates left by the
    stages before temperature, with ``min_t = max(0, temperature - delta)``, ``max_t = temperature +
    delta`` and ``H`` their entropy: llama.cpp's ``llama_sampler_init_temp_ext(temperature, delta,
    exponent)``. ``delta <= 0`` is a plain ``temperature``; a lone candidate gets 1.0 (left
    unscaled, as llama.cpp does).

    >>> from dyntemp import Step
    >>> step = Step.from_text("", logits=[0.0, 0.0, 0.0, 0.0])  # uniform: H = ln n
    >>> DynaTemp(temperature=1.0, delta=0.5).temperature(step)
    1.5
    """

    search_space = {"temperature": Range(0.1, 2.0), "delta": Range(0.0, 1.0),
                    "exponent": Range(0.25, 4.0, log=True)}

    def __init__(self, temperature: float = 1.0, delta: float = 0.5, exponent: float = 1.0) -> None:
        self.value = _validate.number("temperature", temperature, low=0.0)
        self.delta = _validate.number("delta", delta)
        self.exponent = _validate.number("exponent", exponent, low=0.0)

    def temperature(self, step) -> float:
        if self.delta <= 0.0:
            return self.value
        n = step.n_candidates
        if n <= 1:
            # llama.cpp leaves a lone candidate unscaled; dividing by 1 does the same.
            return 1.0
        low = max(0.0, self.value - self.delta)
        high = self.value + self.delta
        normalized = step.candidate_entropy / math.log(n)
        return low + (high - low) * normalized ** self.exponent

    def params(self) -> dict:
        return {"temperature": self.value, "delta": self.delta, "exponent": self.exponent}
