"""``position``: a temperature schedule over the index of the generated token."""

from __future__ import annotations

import math

from .. import _validate
from .base import Strategy
from .registry import register_strategy

SHAPES = ("linear", "cosine", "step", "exponential")


@register_strategy("position")
class Position(Strategy):
    """Warm up from ``start`` to ``peak`` over the first ``warmup`` tokens, then move to ``end`` over
    ``length`` tokens with ``shape`` (``linear``, ``cosine``, ``step`` in ``steps`` equal stairs, or
    ``exponential``), and hold ``end``. Without warm-up the schedule runs from ``start`` to ``end``.

    >>> from dyntemp import Step
    >>> p = Position(start=1.0, end=0.2, length=4)
    >>> [round(p.temperature(Step.from_text("", index=i)), 2) for i in range(6)]
    [1.0, 0.8, 0.6, 0.4, 0.2, 0.2]
    >>> w = Position(start=0.2, peak=1.2, end=0.7, warmup=2, length=2, shape="step", steps=2)
    >>> [round(w.temperature(Step.from_text("", index=i)), 2) for i in range(6)]
    [0.2, 0.7, 1.2, 0.95, 0.7, 0.7]
    """

    def __init__(self, start: float = 1.0, end: float = 0.5, length: int = 128, shape: str = "linear",
                 warmup: int = 0, peak: float | None = None, steps: int = 4) -> None:
        self.start = _validate.number("start", start, low=0.0)
        self.end = _validate.number("end", end, low=0.0)
        self.length = _validate.integer("length", length, low=0)
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
        self.shape = shape
        self.warmup = _validate.integer("warmup", warmup, low=0)
        self.peak = self.start if peak is None else _validate.number("peak", peak, low=0.0)
        self.steps = _validate.integer("steps", steps, low=1)
        top = self.peak if self.warmup else self.start
        if shape == "exponential" and (top == 0.0 or self.end == 0.0):
            raise ValueError(f"an exponential schedule needs temperatures > 0 at both ends, got {top!r} and {self.end!r}")

    def temperature(self, step) -> float:
        i = step.index
        if i < self.warmup:
            return self.start + (self.peak - self.start) * i / self.warmup
        top = self.peak if self.warmup else self.start
        frac = min((i - self.warmup) / self.length, 1.0) if self.length else 1.0
        if self.shape == "cosine":
            return self.end + (top - self.end) * (1.0 + math.cos(math.pi * frac)) / 2.0
        if self.shape == "step":
            frac = math.floor(frac * self.steps) / self.steps
        elif self.shape == "exponential":
            return top * (self.end / top) ** frac
        return top + (self.end - top) * frac
