"""Driving a llama.cpp model token by token with a ``Sampler`` deciding every token."""

from __future__ import annotations

from typing import Sequence

import llama_cpp
import numpy as np


def last_logits(llm) -> np.ndarray:
    """The next-token logits llama.cpp holds after the last ``llm.eval`` (a view, not a copy).

    >>> from dyntemp.model import load_model
    >>> llm = load_model(n_ctx=128)
    >>> llm.eval(llm.tokenize(b"The capital of France is"))
    >>> llm.detokenize([int(last_logits(llm).argmax())])
    b' Paris'
    """
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))


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
