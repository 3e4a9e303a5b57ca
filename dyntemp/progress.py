"""Progress as plain lines on standard error, for a log rather than a terminal (CI, ``nohup``,
``| tee``): where it starts, then at most one line per ``every`` seconds, and the last; with the
tokens made, their rate."""

from __future__ import annotations

import sys
import time


class LineProgress:
    """``update(count, tokens)`` as generations finish; ``label`` starts each line.

    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     bar = LineProgress("batch", 2, 0)
    ...     bar.update(tokens=5); bar.update(tokens=5)
    >>> err.getvalue().splitlines()[0], err.getvalue().splitlines()[-1].split(",")[0]
    ('batch: 0/2 generations done, 2 to make', 'batch: 2/2 generations')
    """

    def __init__(self, label: str, total: int, done: int, every: float = 30.0) -> None:
        self.label, self.n, self.total, self.every, self.tokens = label, done, total, every, 0
        self._start = self._shown = time.monotonic()
        self._first = done
        self._print(f"{done}/{total} generations done, {total - done} to make")

    def update(self, count: int = 1, tokens: int = 0) -> None:
        self.n += count
        self.tokens += tokens
        now = time.monotonic()
        if now - self._shown >= self.every or self.n == self.total:
            self._shown = now
            seconds = max(now - self._start, 1e-9)
            rate = (self.n - self._first) / seconds
            left = f", about {(self.total - self.n) / rate / 60:.1f} min left" if self.n < self.total else ""
            speed = f", {self.tokens / seconds:.1f} tokens/s" if self.tokens else ""
            self._print(f"{self.n}/{self.total} generations{speed}{left}")

    def close(self) -> None:
        """Nothing to tidy: every line is complete."""

    def _print(self, text: str) -> None:
        print(f"{self.label}: {text}", file=sys.stderr, flush=True)
