"""``adapt``: AdapT-style temperature (Zhu et al., arXiv 2309.02772)."""

from __future__ import annotations

from .. import _validate
from .base import Strategy
from .registry import register_strategy
from .search import Range


@register_strategy("adapt")
class AdapT(Strategy):
    """``high`` on the hard tokens that open a line (in code) or a sentence (in prose, when
    ``sentences``), ``low`` everywhere else. The paper's finding: the first token of a code line is
    where exploration pays; inside the line the model should stay close to its best guess.

    >>> from dyntemp import Step
    >>> a = AdapT(high=0.9, low=0.2)
    >>> a.temperature(Step.from_text("```\\n")), a.temperature(Step.from_text("```\\nx ="))
    (0.9, 0.2)
    """

    reads_text = True
    search_space = {"high": Range(0.1, 2.0), "low": Range(0.0, 1.0)}

    def __init__(self, high: float = 0.9, low: float = 0.2, sentences: bool = True) -> None:
        self.high = _validate.number("high", high, low=0.0)
        self.low = _validate.number("low", low, low=0.0)
        if not isinstance(sentences, bool):
            raise TypeError(f"sentences must be true or false, got {sentences!r}")
        self.sentences = sentences

    def temperature(self, step) -> float:
        if step.in_code_block:
            hard = step.at_line_start
        else:
            hard = step.at_line_start or (self.sentences and step.at_sentence_start)
        if hard:
            step.rule = "adapt:start"
        return self.high if hard else self.low
