"""llama.cpp's own samplers applied to a numpy logits vector: the reference dyntemp is measured by.

``NativeChain`` builds a llama.cpp sampler chain through ``llama_cpp`` and runs it with
``llama_sampler_apply`` on a ``llama_token_data_array`` filled from numpy. Tests compare dyntemp's
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
        self._buf = np.zeros(n_vocab, dtype=TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._data = self._buf.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data))
        self._array = llama_cpp.llama_token_data_array(data=self._data, size=n_vocab, selected=-1, sorted=False)
        self._pointer = ctypes.pointer(self._array)

    def accept(self, tokens: Sequence[int]) -> None:
        """Feed tokens to the chain's stateful samplers (penalties' history)."""
        for token in tokens:
            llama_cpp.llama_sampler_accept(self._chain, int(token))

    def reset(self) -> None:
        """Clear the chain's state (penalty history, generator seed)."""
        llama_cpp.llama_sampler_reset(self._chain)

    def _run(self, logits: np.ndarray, candidates: np.ndarray | None) -> None:
        if candidates is None:
            n = self.n_vocab
            self._buf["id"] = self._ids
            self._buf["logit"] = logits
        else:
            n = len(candidates)
            self._buf["id"][:n] = candidates
            self._buf["logit"][:n] = logits[candidates]
        self._array.data = self._data  # a sampler may move it (XTC drops the front by advancing it)
        self._array.size = n
        self._array.sorted = False
        self._array.selected = -1
        llama_cpp.llama_sampler_apply(self._chain, self._pointer)

    def _left(self) -> np.ndarray:
        """The token data the chain left: from where its data pointer now starts, ``size`` of them."""
        start = (ctypes.addressof(self._array.data.contents) - self._buf.ctypes.data) // TOKEN_DATA.itemsize
        return self._buf[start:start + self._array.size]

    def apply(self, logits: np.ndarray, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, logits)`` of the candidates left, in llama.cpp's order; ``-inf`` ones dropped.

        ``candidates`` limits the array handed to llama.cpp to those token ids, as if an earlier
        sampler had removed the rest.
        """
        self._run(logits, candidates)
        out = self._left()
        keep = out["logit"] > -np.inf
        return out["id"][keep].astype(np.int64), out["logit"][keep].copy()

    def sample(self, logits: np.ndarray) -> int:
        """The token the chain draws (it must end with ``dist`` or ``greedy``)."""
        self._run(logits, None)
        return int(self._left()["id"][self._array.selected])

    def __del__(self) -> None:
        chain = getattr(self, "_chain", None)
        if chain is not None:
            llama_cpp.llama_sampler_free(chain)
            self._chain = None
