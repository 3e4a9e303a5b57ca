"""Regular expressions that run in linear time: RE2 (``google-re2``), for the rules' ``sentence_regex``
and ``line_regex``. A rule runs at every token on text that a model (or a server's client) controls,
so a pattern that backtracks (``(a|a)*b``) must not be able to hold a generation for minutes.

RE2's syntax is Python's without what needs backtracking: no backreferences (``\\1``), no lookahead
or lookbehind (``(?=``, ``(?!``, ``(?<=``, ``(?<!``); a pattern using them is refused with RE2's
reason. See https://github.com/google/re2/wiki/Syntax.

>>> Regex("^def ").search("def f")
True
>>> Regex("(?=x)")
Traceback (most recent call last):
...
ValueError: not a regular expression RE2 runs (no backreferences or lookaround): (?=x): invalid perl operator: (?=
"""

from __future__ import annotations

import re2


class Regex:
    """A compiled RE2 pattern; pickles as its text, equal to another of the same text."""

    def __init__(self, pattern: str) -> None:
        options = re2.Options()
        options.log_errors = False  # RE2 would print the pattern to standard error
        try:
            self._compiled = re2.compile(pattern, options)
        except re2.error as exc:
            raise ValueError(f"not a regular expression RE2 runs (no backreferences or lookaround): "
                             f"{pattern}{_reason(exc)}") from None
        self.pattern = pattern

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text``."""
        return self._compiled.search(text) is not None

    def __reduce__(self):
        return Regex, (self.pattern,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


def _reason(exc: Exception) -> str:
    text = exc.args[0] if exc.args else ""
    text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
    return f": {text}" if text else ""
