"""``adapt``: AdapT-style temperature (Zhu et al., arXiv 2309.02772)."""

from __future__ import annotations

from .. import _validate
from .base import Strategy
from .registry import register_strategy
from .search import Range


@register_strategy("adapt")
class AdapT(Strategy):
    """``high`` on the first non-blank token of each line (in code) and of each sentence (in prose,
    when ``sentences``), ``low`` everywhere else: AdapT's rule. The paper's finding: the token that
    opens a code line is where exploration pays; inside the line the model should stay close to its
    best guess.

    The indentation before that token is not the hard token, but a temperature is picked before its
    token is drawn, so the rule reads the model's intent: while the line holds only whitespace, the
    step is ``low`` when the most likely candidate is whitespace itself (indentation, or a blank
    line to come) and ``high`` when it writes text. A tokenizer that joins the newline and the
    indentation (SmolLM2's ``"\\n   "``) draws them at the previous line's ``low``; one that
    splits them (Gemma's ``"\\n"``, ``"    "``) draws the indentation cold all the same.

    >>> import numpy as np
    >>> from dyntemp import Step
    >>> a = AdapT(high=0.9, low=0.2)
    >>> a.temperature(Step.from_text("```\\n")), a.temperature(Step.from_text("```\\nx ="))
    (0.9, 0.2)
    >>> indent = np.zeros(64)
    >>> indent[ord(" ")] = 5.0  # the model means to indent: a space is its most likely token
    >>> a.temperature(Step.from_text("```\\n", logits=indent))
    0.2
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
        line_start = step.at_line_start
        if line_start and _indents(step):
            step.rule = "adapt:indent"
            return self.low
        if line_start or (self.sentences and not step.in_code_block and step.at_sentence_start):
            step.rule = "adapt:start"
            return self.high
        return self.low


def _indents(step) -> bool:
    """Whether the most likely candidate writes only whitespace (or nothing: a control token)."""
    logits = step.candidate_logits
    return bool(logits.size) and not step.token_text(step.candidate_ids[int(logits.argmax())]).strip()
