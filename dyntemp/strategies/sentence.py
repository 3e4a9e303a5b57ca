"""``sentence`` and ``sentence-position``: temperature by sentence, or by place inside a sentence."""

from __future__ import annotations

from typing import Callable, Sequence

from ._schedule import schedule
from .base import Strategy
from .registry import register_strategy


@register_strategy("sentence")
class Sentence(Strategy):
    """One temperature per sentence: ``temperatures[i]`` for sentence ``i`` (the last repeats), or
    ``temperatures(i)`` when it is a function.

    >>> from dyntemp import Step
    >>> s = Sentence(temperatures=[0.2, 0.9, 1.4])
    >>> [s.temperature(Step.from_text(t)) for t in ("", "One. ", "One. Two. ", "One. Two. Three. ")]
    [0.2, 0.9, 1.4, 1.4]
    """

    reads_text = True

    def __init__(self, temperatures: "Sequence[float] | Callable[[int], float]") -> None:
        self.temperatures = temperatures
        self._at = schedule(temperatures, "temperatures")

    def temperature(self, step) -> float:
        return self._at(step.sentence_index)


@register_strategy("sentence-position")
class SentencePosition(Strategy):
    """A temperature from the token's position inside its sentence: ``temperatures[j]`` for the
    ``j``-th token of every sentence (the last repeats), or ``temperatures(j)``. The default is bold
    at sentence starts and calm inside.

    >>> from dyntemp import Step
    >>> s = SentencePosition(temperatures=[1.2, 0.6])
    >>> s.temperature(Step.from_text("Done. ")), s.temperature(Step.from_text("Done. An"))
    (1.2, 0.6)
    """

    reads_text = True

    def __init__(self, temperatures: "Sequence[float] | Callable[[int], float]" = (1.2, 1.0, 0.7)) -> None:
        self.temperatures = temperatures
        self._at = schedule(temperatures, "temperatures")

    def temperature(self, step) -> float:
        return self._at(step.sentence_position)
