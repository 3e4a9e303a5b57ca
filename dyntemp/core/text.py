"""The generated text, decoded incrementally, and where it stands: sentence, line, code block.

A sentence ends at ``.``, ``!`` or ``?`` (optionally followed by closing quotes or brackets) when
whitespace follows, or when the text ends there; at a blank line; and at ``。``, ``！`` or ``？``
whatever follows (CJK text puts no space between sentences). A period never ends a sentence after a
common abbreviation (``e.g.``, ``Dr.``, ``U.S.``) or a numbered-list marker (``2.`` at a line start);
after a digit or a single letter it waits for the next character, so ``3.14`` and ``e.g.`` typed
token by token stay one sentence. Boundaries are
committed once and never taken back: a token's sentence index is fixed when it is sampled, so a
sentence that ends at the end of the text (``"...calm."``) starts the next one with the next token.
"""

from __future__ import annotations

import codecs
import re
from typing import Callable, Sequence

Detokenizer = Callable[[Sequence[int]], bytes]

_TERMINAL = frozenset(".!?")
_CJK_TERMINAL = frozenset("。！？")
_CLOSERS = frozenset("\"')]}”’»")
ABBREVIATIONS = frozenset("e.g i.e cf vs al approx dr mr mrs ms prof sr jr st fig figs eq vol".split())
_WORD_BEFORE_PERIOD = re.compile(r"([\w.]+)\.$")
_DOTTED = re.compile(r"(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}")  # U.S, a.m, Ph.D
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_MARKER = re.compile(r"[ \t]*\d{1,3}\.")


class TextTracker:
    """Builds the generated text from token ids and tracks sentences, lines and code fences.

    >>> t = TextTracker(lambda ids: bytes(ids))
    >>> for tok in b"Hi there. Dr. Who? 3.14 is pi":
    ...     _ = t.feed(tok)
    >>> t.sentence_index, t.sentence
    (2, '3.14 is pi')
    """

    __slots__ = (
        "_detokenize", "_decoder", "text", "sentence_index", "sentence_position", "_sentence_start",
        "_has_content", "_pending", "_newlines", "_line_start", "in_code_block",
    )

    def __init__(self, detokenize: Detokenizer | None = None) -> None:
        self.use_detokenizer(detokenize)
        self.reset()

    @property
    def detokenizer(self) -> Detokenizer | None:
        """The function that turns token ids into bytes (``None``: the text stays empty)."""
        return self._detokenize

    def use_detokenizer(self, detokenize: Detokenizer | None) -> None:
        """Decode tokens with ``detokenize`` (token ids → bytes) from now on."""
        if detokenize is not None and not callable(detokenize):
            raise TypeError(f"detokenizer must be a function from a list of token ids to bytes, got {detokenize!r}")
        self._detokenize = detokenize

    def __getstate__(self) -> dict:
        # A detokenizer belongs to a model of this process: it is not pickled (the copy has none).
        state = {name: getattr(self, name) for name in self.__slots__}
        state["_detokenize"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def reset(self) -> None:
        """Forget all text: ready for a new generation."""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.sentence_index = 0
        self.sentence_position = 0
        self._sentence_start = 0
        self._has_content = False
        self._pending = False
        self._newlines = 0
        self._line_start = 0
        self.in_code_block = False

    @property
    def sentence(self) -> str:
        """The current sentence so far, without leading whitespace."""
        return self.text[self._sentence_start:].lstrip()

    @property
    def line(self) -> str:
        """The current line so far."""
        return self.text[self._line_start:]

    @property
    def at_line_start(self) -> bool:
        """True when the current line holds only whitespace (the next token starts the line)."""
        return self.text[self._line_start:].strip() == ""

    def bytes_of(self, token: int) -> bytes:
        """The bytes of ``token`` from the detokenizer (``b""`` without one); changes nothing."""
        if self._detokenize is None:
            return b""
        data = self._detokenize([token])
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"detokenizer returned {type(data).__name__} for token {token}; it must return bytes")
        return data

    def feed(self, token: int) -> str:
        """Account for one sampled token; return the text it added (``""`` mid-character)."""
        return self.feed_bytes(self.bytes_of(token))

    def feed_bytes(self, data: bytes) -> str:
        """Account for one sampled token given its bytes; return the text it added."""
        piece = self._decoder.decode(data) if data else ""
        before = self.sentence_index
        if piece:
            self._scan(len(self.text), piece)
        # Whitespace before a sentence's first word does not move its position off 0; a token that
        # ends one sentence and starts the next (". The") was that sentence's position 0.
        if self.sentence_index != before:
            self.sentence_position = 1 if self._has_content else 0
        elif not self._has_content:
            self.sentence_position = 0
        else:
            self.sentence_position += 1
        return piece

    def _scan(self, offset: int, piece: str) -> None:
        self.text += piece
        for i, c in enumerate(piece, offset):
            if c == "\n":
                self._end_line(i)
            if self._pending:
                if c in _CLOSERS:
                    continue
                self._pending = False
                if c.isspace():
                    self._boundary(i + 1)
            if c.isspace():
                if c == "\n":
                    self._newlines += 1
                    if self._newlines >= 2:
                        self._boundary(i + 1)
                continue
            self._newlines = 0
            if c in _CJK_TERMINAL:
                self._boundary(i + 1)
            elif c in _TERMINAL:
                self._pending = not (c == "." and (self._abbreviation(i) or self._list_marker(i)))
            elif c not in _CLOSERS:
                self._has_content = True
        if self._pending and not self._may_continue(len(self.text) - 1):
            self._pending = False
            self._boundary(len(self.text))

    def _end_line(self, newline_at: int) -> None:
        if _FENCE.match(self.text[self._line_start:newline_at]):
            self.in_code_block = not self.in_code_block
        self._line_start = newline_at + 1

    def _abbreviation(self, period_at: int) -> bool:
        match = _WORD_BEFORE_PERIOD.search(self.text[max(0, period_at - 12):period_at + 1])
        if match is None:
            return False
        word = match.group(1)
        return word.lower() in ABBREVIATIONS or _DOTTED.fullmatch(word) is not None

    def _list_marker(self, period_at: int) -> bool:
        """True for the period of a numbered-list marker: digits alone at the start of a line."""
        return _LIST_MARKER.fullmatch(self.text, self._line_start, period_at + 1) is not None

    def _may_continue(self, index: int) -> bool:
        """True if the period ending the text may be inside a number (``3.``) or an abbreviation
        spelled token by token (``e.``, ``U.``): then only the next character decides."""
        while index >= 0 and self.text[index] in _CLOSERS:
            index -= 1
        if index < 1 or self.text[index] != ".":
            return False
        before = self.text[index - 1]
        if before.isdigit():
            return True
        return before.isalpha() and (index < 2 or not self.text[index - 2].isalpha())

    def _boundary(self, start: int) -> None:
        if self._has_content:
            self.sentence_index += 1
            self._has_content = False
        self._sentence_start = start
