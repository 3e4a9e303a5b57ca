"""``adapt-lines``: AdapT's rule as the paper states it for code, every line's first non-blank token
hot and every other token cold: dyntemp's ``adapt`` without its prose rule (``sentences=False``), so
that a comment's second sentence is not heated. Registered for ``dyntemp tune --import code_lines``
(run.sh puts this folder on PYTHONPATH); it searches ``adapt``'s space, ``high`` and ``low``.
"""

from dyntemp import register_strategy
from dyntemp.strategies.adapt import AdapT


@register_strategy("adapt-lines")
class AdaptLines(AdapT):
    """AdapT on code: ``high`` on the first non-blank token of each line, ``low`` on every other
    token (the indentation included: see ``adapt``)."""

    def __init__(self, high: float = 0.9, low: float = 0.2) -> None:
        super().__init__(high=high, low=low, sentences=False)
