"""Reading llama.cpp's logits and token pieces fast, and a plain generation loop."""

from __future__ import annotations

import ctypes
from typing import Callable, Sequence

import llama_cpp
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


def sample_tokens(llm, sampler, prompt: "str | Sequence[int]", max_tokens: int) -> list[int]:
    """Evaluate ``prompt`` on ``llm`` (a ``llama_cpp.Llama``) and sample up to ``max_tokens`` tokens,
    stopping at an end-of-generation token. Special tokens written in a text prompt (a chat
    template's ``<|im_start|>``) are parsed as such. The sampler is reset first; its penalties see
    the prompt.

    >>> from dyntemp import Sampler
    >>> from dyntemp.model import load_model
    >>> llm = load_model(n_ctx=256)
    >>> tokens = sample_tokens(llm, Sampler(0.0, detokenizer=llm.detokenize), "The capital of France is", 2)
    >>> llm.detokenize(tokens)
    b' Paris.'
    """
    prompt_ids = llm.tokenize(prompt.encode("utf-8"), special=True) if isinstance(prompt, str) else list(prompt)
    llm.reset()
    llm.eval(prompt_ids)
    sampler.reset()
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    out: list[int] = []
    for _ in range(max_tokens):
        token = sampler.sample(last_logits(llm), prompt_ids + out)
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        out.append(token)
        llm.eval([token])
    return out
