"""llama.cpp's own samplers applied to a numpy logits vector: the reference dyntemp is measured by.

``NativeChain`` builds a llama.cpp sampler chain through ``llama_cpp`` and runs it with
``llama_sampler_apply`` on a ``llama_token_data_array`` filled from numpy (``TokenArray``, which the
grammar constraint uses too). Tests compare dyntemp's
filters, penalties and ``dynatemp`` with it; the step benchmark times it.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import llama_cpp
import numpy as np

TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")], align=True)
assert TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


def _init(name: str, args: Sequence, n_vocab: int):
    if name == "penalties":
        return llama_cpp.llama_sampler_init_penalties(n_vocab, *args)
    return getattr(llama_cpp, f"llama_sampler_init_{name}")(*args)


class TokenArray:
    """A ``llama_token_data_array`` over numpy memory: filled from logits, handed to a llama.cpp
    sampler, read back where the sampler left it."""

    def __init__(self, n_vocab: int) -> None:
        self.buf = np.zeros(n_vocab, dtype=TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._data = self.buf.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data))
        self.array = llama_cpp.llama_token_data_array(data=self._data, size=n_vocab, selected=-1, sorted=False)
        self._pointer = ctypes.pointer(self.array)

    def apply(self, sampler, logits: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
        """Run ``sampler`` on ``logits`` (or on the ``candidates`` ids only); returns the token data it
        left, from where its data pointer now starts (XTC drops the front by advancing it)."""
        if candidates is None:
            n = len(self.buf)
            self.buf["id"] = self._ids
            self.buf["logit"] = logits
        else:
            n = len(candidates)
            self.buf["id"][:n] = candidates
            self.buf["logit"][:n] = logits[candidates]
        self.array.data = self._data
        self.array.size, self.array.sorted, self.array.selected = n, False, -1
        llama_cpp.llama_sampler_apply(sampler, self._pointer)
        start = (ctypes.addressof(self.array.data.contents) - self.buf.ctypes.data) // TOKEN_DATA.itemsize
        return self.buf[start:start + self.array.size]


class NativeChain:
    """A llama.cpp sampler chain over logits of one vocabulary size.

    ``stages`` are ``(name, args)`` pairs naming ``llama_sampler_init_<name>``: ``("top_k", (40,))``,
    ``("top_p", (0.95, 1))``, ``("min_p", (0.05, 1))``, ``("typical", (p, 1))``,
    ``("top_n_sigma", (n,))``, ``("temp", (t,))``, ``("temp_ext", (t, delta, exponent))``,
    ``("penalties", (last_n, repeat, freq, present))`` (``n_vocab`` is added), ``("dist", (seed,))``.

    >>> chain = NativeChain([("top_k", (2,))], n_vocab=4)
    >>> ids, logits = chain.apply(np.array([0.0, 3.0, 1.0, 2.0], dtype=np.float32))
    >>> sorted(ids.tolist())
    [1, 3]
    """

    def __init__(self, stages: Sequence[tuple[str, Sequence]], n_vocab: int) -> None:
        self.n_vocab = n_vocab
        self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        for name, args in stages:
            llama_cpp.llama_sampler_chain_add(self._chain, _init(name, args, n_vocab))
        self._tokens = TokenArray(n_vocab)

    def accept(self, tokens: Sequence[int]) -> None:
        """Feed tokens to the chain's stateful samplers (penalties' history)."""
        for token in tokens:
            llama_cpp.llama_sampler_accept(self._chain, int(token))

    def reset(self) -> None:
        """Clear the chain's state (penalty history, generator seed)."""
        llama_cpp.llama_sampler_reset(self._chain)

    def apply(self, logits: np.ndarray, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, logits)`` of the candidates left, in llama.cpp's order; ``-inf`` ones dropped.

        ``candidates`` limits the array handed to llama.cpp to those token ids, as if an earlier
        sampler had removed the rest.
        """
        out = self._tokens.apply(self._chain, logits, candidates)
        keep = out["logit"] > -np.inf
        return out["id"][keep].astype(np.int64), out["logit"][keep].copy()

    def sample(self, logits: np.ndarray) -> int:
        """The token the chain draws (it must end with ``dist`` or ``greedy``)."""
        out = self._tokens.apply(self._chain, logits)
        return int(out["id"][self._tokens.array.selected])

    def __del__(self) -> None:
        chain = getattr(self, "_chain", None)
        if chain is not None:
            llama_cpp.llama_sampler_free(chain)
            self._chain = None
