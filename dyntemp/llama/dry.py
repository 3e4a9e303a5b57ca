"""DRY's sequence breakers for a model's vocabulary, as llama.cpp builds them.

A breaker is text (``"\\n"``, ``":"``); in the token history it can appear inside a token, or start in
one token and go on in the next ones. Every token whose text holds the breaker is a breaker on its
own; a token whose text ends with the breaker's first bytes is a breaker head, followed by the
tokenization of the rest. This is llama.cpp's ``get_overlapping_token_sequences``; the result is the
``{head: (tail, ...)}`` map ``dyntemp.core.dry`` takes.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Sequence

from ..core.dry import MAX_BREAKER_BYTES, MAX_TAIL_TOKENS

# Each model's token texts, read once: building breakers reads the whole vocabulary.
_PIECES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_BREAKERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def use_model_breakers(sampler, llm) -> None:
    """Give ``sampler`` its DRY sequence breakers as ``llm``'s tokens, when DRY is on."""
    settings = sampler.settings
    if not settings.is_off("dry") and "dry" in settings.order and settings.dry_sequence_breakers:
        sampler.use_dry_breakers(dry_breakers(llm, settings.dry_sequence_breakers))


def dry_breakers(llm, breakers: Sequence[str]) -> dict[int, tuple[tuple[int, ...], ...]]:
    """The token sequences of text ``breakers`` in ``llm``'s vocabulary (kept per model).

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=128)
    >>> newline = llm.tokenize(b"\\n", add_bos=False)[0]
    >>> dry_breakers(llm, ["\\n"])[newline]
    ((),)
    """
    key = tuple(breakers)
    known = _BREAKERS.setdefault(llm, {})
    if key not in known:
        out: dict[int, tuple[tuple[int, ...], ...]] = {}
        pieces = _pieces(llm)
        for text in key:
            _add_overlaps(llm, pieces, text.encode("utf-8")[:MAX_BREAKER_BYTES], out)
        known[key] = out
    return known[key]


def _add_overlaps(llm, pieces: list[bytes], breaker: bytes, out: dict) -> None:
    for token, word in enumerate(pieces):
        if breaker in word:
            _add(out, token, ())
            continue
        pos = word.find(breaker[:1])
        while pos >= 0:
            rest = len(word) - pos  # the word's tail from pos is shorter than the breaker
            if word[pos:] == breaker[:rest]:
                tail = llm.tokenize(breaker[rest:], add_bos=False, special=False)[:MAX_TAIL_TOKENS]
                _add(out, token, tuple(tail))
            pos = word.find(breaker[:1], pos + 1)


def _add(out: dict, token: int, tail: tuple[int, ...]) -> None:
    tails = out.get(token, ())
    if tail not in tails:
        out[token] = tails + (tail,)


def _pieces(llm) -> list[bytes]:
    """Every token's text with special tokens written out, as llama.cpp's ``detokenize({id}, true)``."""
    pieces = _PIECES.get(llm)
    if pieces is None:
        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        buffer = ctypes.create_string_buffer(256)
        pieces = []
        for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
            ids = (llama_cpp.llama_token * 1)(token)
            n = llama_cpp.llama_detokenize(vocab, ids, 1, buffer, len(buffer), False, True)
            if n < 0:
                buffer = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_detokenize(vocab, ids, 1, buffer, len(buffer), False, True)
            pieces.append(buffer.raw[:n])
        _PIECES[llm] = pieces
    return pieces
