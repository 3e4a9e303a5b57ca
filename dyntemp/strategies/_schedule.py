"""A temperature schedule given as a list (the last value repeats) or a function of an index."""

from __future__ import annotations

from typing import Callable, Sequence

from .. import _validate


def schedule(values: "Sequence[float] | Callable[[int], float]", name: str) -> Callable[[int], float]:
    """Return ``index -> temperature`` for a list of temperatures or a function.

    >>> f = schedule([0.2, 0.9], "temperatures")
    >>> f(0), f(1), f(5)
    (0.2, 0.9, 0.9)
    """
    if callable(values):
        return values
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty list of temperatures or a function of the index, got {values!r}")
    temps = tuple(_validate.number(f"{name}[{i}]", v, low=0.0) for i, v in enumerate(values))
    last = len(temps) - 1
    return lambda i: temps[min(i, last)]
