"""A llama.cpp context for several sequences at once, and the ``llama_batch`` that feeds it.

One context holds ``n_seq`` sequences, each in its own stream of the KV cache. Each ``decode``
evaluates every token added since the last one, of any sequences, in one ``llama_decode``: on a
CPU a step is bound by reading the weights, so several sequences cost little more than one, and
each sequence's logits are those it would have alone.

The batch's arrays are numpy arrays this object owns (llama.cpp reads them during ``decode``
only), so that a prompt chunk is added with a few slice assignments rather than a ctypes call per
token.
"""

from __future__ import annotations

import ctypes
import weakref

import numpy as np

from .. import _validate
from .logits import _logits_address


class BatchContext:
    """``n_seq`` sequences of at most ``n_ctx_seq`` tokens each on ``llm``'s model, ``n_batch``
    tokens per decode, ``threads`` threads (default: the model's).

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=256)
    >>> ctx = BatchContext(llm, 2, 128)
    >>> prompt = llm.tokenize(b"The capital of France is")
    >>> rows = [ctx.add_tokens(prompt, 0, seq) for seq in (0, 1)]  # where each prompt's last logits will be
    >>> ctx.decode()
    >>> [llm.detokenize([int(ctx.logits(row).argmax())]) for row in rows]
    [b' Paris', b' Paris']
    """

    def __init__(self, llm, n_seq: int, n_ctx_seq: int, n_batch: int = 512, threads: int | None = None) -> None:
        import llama_cpp

        self.n_seq = _validate.integer("n_seq", n_seq, low=1)
        if n_seq > llama_cpp.llama_max_parallel_sequences():
            raise ValueError(f"n_seq must be <= {llama_cpp.llama_max_parallel_sequences()} (llama.cpp's most "
                             f"sequences in a context), got {n_seq}")
        self.n_ctx_seq = _validate.integer("n_ctx_seq", n_ctx_seq, low=1)
        self.n_batch = _validate.integer("n_batch", n_batch, low=n_seq)
        threads = llm.n_threads if threads is None else _validate.integer("threads", threads, low=1)
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = n_seq * n_ctx_seq
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        # A KV stream per sequence: attention then reads only the sequence's own cells and rounds as it
        # does for one sequence alone (a unified cache changed logits by up to 0.6 on the default
        # model), and costs nothing for the cells of the others.
        params.kv_unified = False
        params.n_threads = params.n_threads_batch = threads
        self.ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise ValueError(f"llama.cpp could not make a context of {n_seq} sequences x {n_ctx_seq} tokens "
                             f"(too large for this machine's memory?): give fewer sequences or a smaller context")
        self._close = weakref.finalize(self, llama_cpp.llama_free, self.ctx)
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._decode = llama_cpp.llama_decode
        self._n_vocab = llm.n_vocab()
        # SWA models keep only a window of past positions: a prefix may be gone, and cannot be reused.
        self.reuses_prefixes = llama_cpp.llama_model_n_swa(llm.model) == 0
        self.token = np.zeros(n_batch, np.int32)
        self.pos = np.zeros(n_batch, np.int32)
        self.seq = np.zeros(n_batch, np.int32)
        self.wants_logits = np.zeros(n_batch, np.int8)
        self._n_seq_id = np.ones(n_batch, np.int32)
        # One sequence per token: each token's seq_id list is its own element of self.seq.
        int_p = ctypes.POINTER(ctypes.c_int32)
        self._seq_ids = (int_p * n_batch)(*(ctypes.cast(self.seq.ctypes.data + 4 * i, int_p) for i in range(n_batch)))
        self._batch = llama_cpp.llama_batch(
            n_tokens=0, token=self.token.ctypes.data_as(int_p), embd=None, pos=self.pos.ctypes.data_as(int_p),
            n_seq_id=self._n_seq_id.ctypes.data_as(int_p), seq_id=self._seq_ids,
            logits=self.wants_logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)))
        self.size = 0

    @property
    def room(self) -> int:
        """How many more tokens the batch takes before a ``decode``."""
        return self.n_batch - self.size

    def add(self, token: int, pos: int, seq: int) -> int:
        """Add one token of ``seq`` at position ``pos``, whose logits are wanted: its index in the batch."""
        i = self.size
        self.token[i], self.pos[i], self.seq[i], self.wants_logits[i] = token, pos, seq, 1
        self.size = i + 1
        return i

    def add_tokens(self, tokens, pos: int, seq: int, logits: bool = True) -> int:
        """Add ``tokens`` of ``seq`` from position ``pos`` on, with logits for the last one if
        ``logits``: the last one's index in the batch."""
        i, n = self.size, len(tokens)
        if n > self.n_batch - i:
            raise ValueError(f"{n} tokens do not fit in the batch's room of {self.n_batch - i}")
        self.token[i:i + n] = tokens
        self.pos[i:i + n] = np.arange(pos, pos + n, dtype=np.int32)
        self.seq[i:i + n] = seq
        self.wants_logits[i:i + n] = 0
        self.wants_logits[i + n - 1] = logits
        self.size = i + n
        return i + n - 1

    def decode(self) -> None:
        """Evaluate the tokens added since the last decode; the batch is empty again afterwards.
        ``MemoryError``: the KV cache has no room for them (nothing was decoded)."""
        self._batch.n_tokens = self.size
        self.size = 0
        status = self._decode(self.ctx, self._batch)
        if status == 1:
            raise MemoryError("llama.cpp found no room in the KV cache for the batch")
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")

    def logits(self, i: int) -> np.ndarray:
        """The next-token logits after the batch's token ``i`` (added with logits wanted): a view of
        llama.cpp's buffer, valid until the next decode."""
        address = _logits_address(self.ctx, i)
        return np.frombuffer((ctypes.c_float * self._n_vocab).from_address(address), dtype=np.float32)

    def clear(self, seq: int) -> None:
        """Drop every cell of ``seq``."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._memory, seq, -1, -1)

    def trim(self, seq: int, n: int) -> None:
        """Keep only the first ``n`` positions of ``seq``."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._memory, seq, n, -1)

    def share(self, source: int, target: int, n: int) -> None:
        """``target`` gets the first ``n`` positions of ``source``: llama.cpp copies a whole stream
        (at the next decode), and the copy is cut to ``n``."""
        import llama_cpp

        self.clear(target)
        llama_cpp.llama_memory_seq_cp(self._memory, source, target, -1, -1)  # only whole streams copy
        self.trim(target, n)

    def close(self) -> None:
        """Free llama.cpp's context now (it is freed with this object otherwise)."""
        self._close()
