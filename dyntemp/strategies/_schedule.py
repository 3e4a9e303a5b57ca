"""A temperature schedule given as a list (the last value repeats) or a function of an index."""

from __future__ import annotations

from typing import Callable, Sequence

from .. import _validate


class _Listed:
    """``index -> temperatures[index]``, the last repeating (a class, not a closure, so that it pickles)."""

    __slots__ = ("temps", "last")

    def __init__(self, temps: tuple[float, ...]) -> None:
        self.temps, self.last = temps, len(temps) - 1

    def __getstate__(self):
        return self.temps

    def __setstate__(self, temps) -> None:
        self.__init__(temps)

    def __call__(self, i: int) -> float:
        return self.temps[min(i, self.last)]


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
    return _Listed(temps)
