"""``constant``: one temperature for every token."""

from __future__ import annotations

from .. import _validate
from .base import Strategy
from .registry import register_strategy
from .search import Range

#: llama.cpp's default temperature: the command line's and the server's when none is given.
LLAMA_CPP_TEMPERATURE = 0.8


@register_strategy("constant")
class Constant(Strategy):
    """The same ``temperature`` for every token (0 is greedy).

    >>> Constant(temperature=0.7).temperature(None)
    0.7
    """

    search_space = {"temperature": Range(0.05, 2.0)}

    def __init__(self, temperature: float = 1.0) -> None:
        self.value = _validate.number("temperature", temperature, low=0.0)

    def temperature(self, step) -> float:
        return self.value

    def params(self) -> dict:
        return {"temperature": self.value}
