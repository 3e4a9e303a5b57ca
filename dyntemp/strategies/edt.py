"""``edt``: entropy-based dynamic temperature (Zhang et al., arXiv 2403.14541)."""

from __future__ import annotations

import math

from .. import _validate
from .base import Strategy
from .registry import register_strategy
from .search import Range


@register_strategy("edt")
class EDT(Strategy):
    """``T = t0 · n^(θ / H)`` with ``H`` the entropy (nats) of the full next-token distribution.

    With ``0 < n < 1`` a confident step (low ``H``) gets a low temperature and an uncertain one a
    temperature near ``t0`` (``n = 1`` is a constant ``t0``). ``H`` is floored at ``entropy_floor`` so that a one-hot distribution
    gives ``T = 0`` (greedy) rather than a division by zero; the result is clamped to
    ``[min_temp, max_temp]``.

    >>> from dyntemp import Step
    >>> edt = EDT(t0=1.0, n=0.8, theta=1.0)
    >>> round(edt.temperature(Step.from_text("", logits=[0.0, 0.0])), 4)  # H = ln 2
    0.7248
    """

    # The paper tunes t0 with n and theta fixed; its n is in (0, 1) and theta scales the entropy.
    search_space = {"t0": Range(0.1, 2.0), "n": Range(0.1, 0.99), "theta": Range(0.1, 4.0, log=True)}

    def __init__(self, t0: float = 1.0, n: float = 0.8, theta: float = 1.0, entropy_floor: float = 1e-6,
                 min_temp: float = 0.0, max_temp: float = math.inf) -> None:
        self.t0 = _validate.number("t0", t0, low=0.0)
        self.n = _validate.number("n", n, low=0.0, high=1.0, low_open=True)
        self.theta = _validate.number("theta", theta, low=0.0)
        self.entropy_floor = _validate.number("entropy_floor", entropy_floor, low=0.0, low_open=True)
        self.min_temp = _validate.number("min_temp", min_temp, low=0.0)
        self.max_temp = _validate.number("max_temp", max_temp, low=self.min_temp, allow_inf=True)

    def temperature(self, step) -> float:
        t = self.t0 * math.exp(self.theta / max(step.entropy, self.entropy_floor) * math.log(self.n))
        return min(max(t, self.min_temp), self.max_temp)
