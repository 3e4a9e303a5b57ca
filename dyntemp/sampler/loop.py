"""Reading llama.cpp's logits and token pieces fast."""

from __future__ import annotations

import ctypes
from typing import Callable, Sequence

import numpy as np

_FLOAT_ARRAYS: dict[int, type] = {}


def last_logits(llm) -> np.ndarray:
    """The next-token logits llama.cpp holds after the last ``llm.eval`` (a view, not a copy).

    >>> from dyntemp.model import load_model
    >>> llm = load_model(n_ctx=128)
    >>> llm.eval(llm.tokenize(b"The capital of France is"))
    >>> llm.detokenize([int(last_logits(llm).argmax())])
    b' Paris'
    """
    import llama_cpp  # here, not at the top: importing the sampler must not load llama.cpp

    n = llm.n_vocab()
    array_type = _FLOAT_ARRAYS.get(n)
    if array_type is None:
        array_type = _FLOAT_ARRAYS[n] = ctypes.c_float * n  # making the type is the slow part
    address = ctypes.cast(llama_cpp.llama_get_logits_ith(llm.ctx, -1), ctypes.c_void_p).value
    return np.frombuffer(array_type.from_address(address), dtype=np.float32)


def piece_decoder(llm) -> Callable[[Sequence[int]], bytes]:
    """A detokenizer for one token at a time (``ids -> bytes``) that remembers each token's bytes:
    ``llm.detokenize`` costs tens of microseconds a call.

    >>> from dyntemp.model import load_model
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
