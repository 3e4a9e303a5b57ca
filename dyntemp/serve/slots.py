"""Slots: each served model has ``parallel`` slots, each its own ``llama_cpp.Llama`` (a llama.cpp
context is not thread-safe) and its own thread; a request takes a free slot or waits in a bounded
queue, and a full queue answers 503 at once rather than making the client wait without end."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from .errors import APIError

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class ModelFile:
    """A model to serve: the name clients ask for, and its GGUF."""

    name: str
    path: str


class Slot:
    """One ``Llama`` and the one thread that runs its generations."""

    def __init__(self, llm, index: int) -> None:
        self.llm = llm
        self.index = index
        self.thread = ThreadPoolExecutor(1, thread_name_prefix=f"dyntemp-slot-{index}")


class ServedModel:
    """A model's slots and its queue. ``llm`` (the first slot's) answers questions about the
    vocabulary and the chat template, which need no context of their own."""

    def __init__(self, model: ModelFile, slots: list[Slot], max_queue: int) -> None:
        self.name, self.path = model.name, model.path
        self.slots = slots
        self.llm = slots[0].llm
        self.n_ctx = self.llm.n_ctx()
        self.n_vocab = self.llm.n_vocab()
        self.max_queue = max_queue
        self.waiting = 0
        self._free: asyncio.Queue[Slot] | None = None
        self._eog: list[int] | None = None

    @property
    def eog(self) -> list[int]:
        """The end-of-generation tokens (banned by ``ignore_eos``)."""
        if self._eog is None:
            from ..llama.logits import eog_tokens

            self._eog = eog_tokens(self.llm)
        return self._eog

    @property
    def busy(self) -> int:
        return len(self.slots) - (self._queue().qsize())

    def _queue(self) -> asyncio.Queue:
        if self._free is None:  # made on the server's event loop, at first use
            self._free = asyncio.Queue()
            for slot in self.slots:
                self._free.put_nowait(slot)
        return self._free

    async def acquire(self) -> Slot:
        """A free slot, after waiting in the queue if need be; 503 when the queue is full."""
        free = self._queue()
        if free.empty() and self.waiting >= self.max_queue:
            raise APIError(f"the server is busy: {len(self.slots)} slots generating and {self.waiting} requests "
                           f"waiting for {self.name} (--max-queue {self.max_queue}); retry later", status=503,
                           code="queue_full", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.waiting += 1
        try:
            return await free.get()
        finally:
            self.waiting -= 1

    def run(self, slot: Slot, work: Callable[[object], object], loop: asyncio.AbstractEventLoop,
            done: Callable[[], None]) -> Future:
        """Run ``work(llm)`` on ``slot``'s thread; the slot is free again (and ``done`` called) when
        the work ends, whatever became of the request that asked for it."""

        def task():
            try:
                return work(slot.llm)
            finally:
                loop.call_soon_threadsafe(self._release, slot, done)

        return slot.thread.submit(task)

    def _release(self, slot: Slot, done: Callable[[], None]) -> None:
        self._queue().put_nowait(slot)
        done()

    def close(self) -> None:
        for slot in self.slots:
            slot.thread.shutdown(wait=True)
            slot.llm.close()


def load_models(models: list[ModelFile], *, parallel: int, threads: int | None, n_ctx: int, max_queue: int,
                n_gpu_layers: int = 0, verbose: bool = False) -> dict[str, ServedModel]:
    """Load ``parallel`` slots of each model, the threads split among a model's slots (by default
    the machine's physical cores)."""
    from ..host import default_threads
    from ..llama.model import load_model

    per_slot = max(1, (threads or default_threads()) // parallel)
    served = {}
    for model in models:
        slots = [Slot(load_model(model.path, n_threads=per_slot, n_ctx=n_ctx, n_gpu_layers=n_gpu_layers,
                                 verbose=verbose), i) for i in range(parallel)]
        served[model.name] = ServedModel(model, slots, max_queue)
    return served


def model_name(path: str) -> str:
    """The name a model is served under when none is given: its file name without ``.gguf``.

    >>> model_name("/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    'SmolLM2-135M-Instruct.Q4_1'
    """
    base = os.path.basename(path)
    return base[:-5] if base.lower().endswith(".gguf") else base
