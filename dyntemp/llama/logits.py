"""Reading llama.cpp's logits and token pieces fast."""

from __future__ import annotations

import ctypes
from typing import Callable, Sequence

import numpy as np


def last_logits(llm) -> np.ndarray:
    """The next-token logits llama.cpp holds after the last ``llm.eval`` (a view, not a copy).

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=128)
    >>> llm.eval(llm.tokenize(b"The capital of France is"))
    >>> llm.detokenize([int(last_logits(llm).argmax())])
    b' Paris'
    """
    return LogitsReader(llm)()


class LogitsReader:
    """Reads a model's next-token logits once per token, as cheaply as Python allows.

    Right after a decode every line of Python runs with cold caches, so this keeps what does not
    change between tokens: the vocabulary size, a ctypes function returning a plain address, and
    the numpy view of llama.cpp's output buffer, which llama.cpp keeps from token to token.

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=128)
    >>> read = LogitsReader(llm)
    >>> llm.eval(llm.tokenize(b"The capital of France is"))
    >>> read() is read(), read().shape
    (True, (49152,))
    """

    __slots__ = ("_ctx", "_n", "_address", "_view")

    def __init__(self, llm) -> None:
        self._ctx = llm.ctx
        self._n = llm.n_vocab()
        self._address = None
        self._view = None

    def __call__(self) -> np.ndarray:
        address = _logits_address(self._ctx, -1)
        if address != self._address:
            self._view = np.frombuffer((ctypes.c_float * self._n).from_address(address), dtype=np.float32)
            self._address = address
        return self._view


_get_logits_ith = None


def _logits_address(ctx, index: int) -> int:
    """``llama_get_logits_ith`` returning an address rather than a ctypes pointer to cast."""
    global _get_logits_ith
    if _get_logits_ith is None:
        import llama_cpp

        prototype = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)
        _get_logits_ith = prototype(("llama_get_logits_ith", llama_cpp.llama_cpp._lib))
    return _get_logits_ith(ctx, index)


def eog_tokens(llm) -> list[int]:
    """Every token at which llama.cpp ends a generation (end of sequence, of turn, and the others its
    vocabulary marks), e.g. to ban them all.

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=128)
    >>> llm.token_eos() in eog_tokens(llm)
    True
    """
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return [token for token in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, token)]


def piece_decoder(llm) -> Callable[[Sequence[int]], bytes]:
    """A detokenizer for one token at a time (``ids -> bytes``) that remembers each token's bytes:
    ``llm.detokenize`` costs tens of microseconds a call.

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=128)
    >>> piece_decoder(llm)(llm.tokenize(b" Paris", add_bos=False))
    b' Paris'
    """
    cache: dict[int, bytes] = {}

    def detokenize(ids: Sequence[int]) -> bytes:
        if len(ids) != 1:
            return llm.detokenize(list(ids))
        token = int(ids[0])
        data = cache.get(token)
        if data is None:
            data = cache[token] = llm.detokenize([token])
        return data

    return detokenize
