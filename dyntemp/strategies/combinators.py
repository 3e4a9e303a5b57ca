"""Combinators: clamp or scale another strategy, or choose between two by a condition."""

from __future__ import annotations

import math
from typing import Callable

from .. import _validate
from .base import Strategy
from .registry import register_strategy
from .spec import as_strategy


class _Wrapper(Strategy):
    """Forwards ``accept`` and ``reset`` to the strategies it wraps."""

    children: tuple[Strategy, ...] = ()

    @property
    def reads_text(self) -> bool:
        return any(child.reads_text for child in self.children)

    def accept(self, step, token: int) -> None:
        for child in self.children:
            child.accept(step, token)

    def reset(self) -> None:
        for child in self.children:
            child.reset()


@register_strategy("clamp")
class Clamp(_Wrapper):
    """``strategy``'s temperature clamped to ``[min_temp, max_temp]``.

    >>> Clamp(1.0, min_temp=0.0, max_temp=0.5).temperature(None)
    0.5
    """

    def __init__(self, strategy: "str | Strategy | float", min_temp: float = 0.0, max_temp: float = math.inf) -> None:
        self.strategy = as_strategy(strategy, "strategy")
        self.min_temp = _validate.number("min_temp", min_temp, low=0.0)
        self.max_temp = _validate.number(f"max_temp (at least min_temp={self.min_temp})", max_temp,
                                         low=self.min_temp, allow_inf=True)
        self.children = (self.strategy,)

    def temperature(self, step) -> float:
        return min(max(self.strategy.temperature(step), self.min_temp), self.max_temp)


@register_strategy("scale")
class Scale(_Wrapper):
    """``factor · T + offset`` with ``T`` from ``strategy`` (floored at 0).

    >>> Scale("constant", factor=0.5, offset=0.1).temperature(None)
    0.6
    """

    def __init__(self, strategy: "str | Strategy | float", factor: float = 1.0, offset: float = 0.0) -> None:
        self.strategy = as_strategy(strategy, "strategy")
        self.factor = _validate.number("factor", factor, low=0.0)
        self.offset = _validate.number("offset", offset)
        self.children = (self.strategy,)

    def temperature(self, step) -> float:
        return max(0.0, self.factor * self.strategy.temperature(step) + self.offset)


@register_strategy("choose")
class Choose(_Wrapper):
    """``then`` where ``condition(step)`` holds, ``otherwise`` elsewhere.

    ``condition`` is a function of the ``Step`` or the name of one of its true/false attributes
    (``"in_code_block"``, ``"at_line_start"``, ``"at_sentence_start"``).

    >>> from dyntemp import Step
    >>> c = Choose("in_code_block", then=0.2, otherwise=1.0)
    >>> c.temperature(Step.from_text("```\\n")), c.temperature(Step.from_text("Hello"))
    (0.2, 1.0)
    """

    def __init__(self, condition: "str | Callable[..., bool]", then: "str | Strategy | float",
                 otherwise: "str | Strategy | float") -> None:
        if isinstance(condition, str):
            if condition not in CONDITIONS:
                raise ValueError(f"condition must be a function of the step or one of {', '.join(CONDITIONS)}; got {condition!r}")
        elif not callable(condition):
            raise TypeError(f"condition must be a function of the step or an attribute name, got {condition!r}")
        self.condition = condition
        self.then = as_strategy(then, "then")
        self.otherwise = as_strategy(otherwise, "otherwise")
        self.children = (self.then, self.otherwise)

    # Its conditions are the step's text flags, or a function that may read anything.
    reads_text = True

    def temperature(self, step) -> float:
        # The attribute is looked up each time rather than bound in a closure: a closure would not pickle.
        holds = getattr(step, self.condition) if isinstance(self.condition, str) else self.condition(step)
        return (self.then if holds else self.otherwise).temperature(step)


CONDITIONS = ("in_code_block", "at_line_start", "at_sentence_start")

