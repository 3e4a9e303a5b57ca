"""``target-entropy``: a feedback controller that steers temperature toward a target surprise."""

from __future__ import annotations

import math

from .. import _validate
from .base import Strategy
from .registry import register_strategy
from .search import Range


@register_strategy("target-entropy")
class TargetEntropy(Strategy):
    """Mirostat's idea, steering temperature instead of truncation.

    After each token the surprise ``s = -ln p(token)`` under the model's full distribution is
    compared with ``target`` (nats), and the temperature moves in log space:
    ``ln T ← ln T - rate · (s - target)``, clamped to ``[min_temp, max_temp]``. Tokens more
    surprising than the target cool the sampler down; dull ones warm it up.

    >>> from dyntemp import Step
    >>> s = TargetEntropy(target=1.0, rate=0.5, initial=1.0)
    >>> step = Step.from_text("", logits=[0.0, 0.0, 0.0, 0.0])  # every token: surprise ln 4
    >>> s.accept(step, 0); round(s.temperature(step), 4)
    0.8244
    """

    search_space = {"target": Range(0.2, 5.0), "rate": Range(0.01, 1.0, log=True)}

    def __init__(self, target: float = 3.0, rate: float = 0.1, initial: float = 1.0,
                 min_temp: float = 0.05, max_temp: float = 2.0) -> None:
        self.target = _validate.number("target", target, low=0.0)
        self.rate = _validate.number("rate", rate, low=0.0)
        self.min_temp = _validate.number("min_temp", min_temp, low=0.0, low_open=True)
        self.max_temp = _validate.number("max_temp", max_temp, low=self.min_temp)
        self.initial = _validate.number("initial", initial, low=self.min_temp, high=self.max_temp)
        self._log_t = math.log(self.initial)

    def temperature(self, step) -> float:
        return math.exp(self._log_t)

    def accept(self, step, token: int) -> None:
        surprise = -step.logprob(token)
        log_t = self._log_t - self.rate * (surprise - self.target)
        self._log_t = min(max(log_t, math.log(self.min_temp)), math.log(self.max_temp))

    def reset(self) -> None:
        self._log_t = math.log(self.initial)
