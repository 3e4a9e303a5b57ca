"""Search spaces: the ranges ``dyntemp tune`` searches a strategy's parameters over.

A strategy declares its space beside its parameters, as a class attribute naming some of its
constructor's parameters (those left out keep their defaults while tuning)::

    class EDT(Strategy):
        search_space = {"t0": Range(0.1, 2.0), "theta": Range(0.1, 4.0, log=True)}

A factory function registered as a strategy can carry the same attribute. ``search_space(name)``
reads it for a registered strategy, checked against its parameters.

>>> Range(0.1, 4.0, log=True)
Range(0.1, 4.0, log)
>>> sorted(search_space("edt"))
['n', 't0', 'theta']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from .. import _validate


@dataclass(frozen=True)
class Range:
    """A parameter's range: ``low`` to ``high`` inclusive, searched on a log scale when ``log``
    (for a parameter whose effect is a ratio: a rate, a scale), whole numbers when ``integer``."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        low = _validate.number("Range low", self.low)
        _validate.number("Range high", self.high, low=low, low_open=True)
        if self.log and low <= 0:
            raise ValueError(f"a log-scale Range needs low > 0, got {self.low!r}")
        if self.integer and (self.low != math.floor(self.low) or self.high != math.floor(self.high)):
            raise ValueError(f"an integer Range needs whole bounds, got {self.low!r}..{self.high!r}")

    def __repr__(self) -> str:
        flags = "".join(f", {flag}" for flag in ("log", "integer") if getattr(self, flag))
        return f"Range({self.low!r}, {self.high!r}{flags})"

    def describe(self) -> str:
        """``"0.1 .. 4.0, log scale"``: for listings."""
        kind = ", log scale" if self.log else ""
        kind += ", whole numbers" if self.integer else ""
        return f"{self.low:g} .. {self.high:g}{kind}"


def search_space(name: str) -> dict[str, Range]:
    """The search space the strategy registered as ``name`` declares (``{}``: none), checked:
    each key a parameter of the strategy, each value a ``Range``.

    >>> search_space("constant")
    {'temperature': Range(0.05, 2.0)}
    """
    from .registry import strategy_factory, strategy_parameters

    space = getattr(strategy_factory(name), "search_space", None) or {}
    if not isinstance(space, Mapping):
        raise TypeError(f"strategy {name!r}: search_space must be a mapping of parameter to Range, got {space!r}")
    parameters = strategy_parameters(name)
    for key, value in space.items():
        if key not in parameters:
            raise ValueError(f"strategy {name!r}: search_space names {key!r}, which is not one of its parameters "
                             f"({', '.join(parameters) or 'none'})")
        if not isinstance(value, Range):
            raise TypeError(f"strategy {name!r}: search_space[{key!r}] must be a Range, got {value!r}")
    return dict(space)
