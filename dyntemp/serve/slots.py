"""Slots: each served model has ``parallel`` slots over one engine process
(``dyntemp.serve.slot_process``), where the jobs of all its slots are decoded together, one token of
each per llama.cpp batch, with every core; a thread here per slot relays its job's events. A request
takes a free slot or waits in a bounded queue, and a full queue answers 503 at once rather than
making the client wait without end."""

from __future__ import annotations

import asyncio
import collections
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from ..llama.model import default_model_path
from ..api.errors import APIError
from .auth import RETRY_AFTER_SECONDS
from .slot_process import EngineProcess



@dataclass(frozen=True)
class ModelFile:
    """A model to serve: the name clients ask for, and its GGUF."""

    name: str
    path: str


class Slot:
    """One of a model's ``parallel`` places: a request holds it while its job runs on the model's
    engine process."""

    def __init__(self, index: int, engine: EngineProcess) -> None:
        self.index, self.engine = index, engine

    def run(self, job, emit: Callable[[object], None], cancelled: threading.Event) -> None:
        self.engine.run(job, emit, cancelled)


class ServedModel:
    """A model's slots and its queue. Its vocabulary, loaded in the server's own process
    (``dyntemp.llama.vocabulary``), gives the sizes a request is checked against; prompts are
    tokenized and grammars parsed in the slots.

    Waiting requests get a slot first come, first served; a slot that comes free goes to the
    longest waiting request, else back to the free ones, the one that just finished on top (its
    caches are warm)."""

    def __init__(self, model: ModelFile, engine: EngineProcess, parallel: int, max_queue: int, vocabulary) -> None:
        self.name = model.name
        self.engine = engine
        self.slots = [Slot(i, engine) for i in range(parallel)]
        self.vocabulary = vocabulary
        self.llm, self.n_vocab = vocabulary.llm, vocabulary.n_vocab
        self.max_prompt_chars = vocabulary.max_prompt_chars
        self.n_ctx, _ = engine.ready()
        self.threads = [ThreadPoolExecutor(1, thread_name_prefix=f"dyntemp-slot-{s.index}") for s in self.slots]
        self.max_queue = max_queue
        self._free = list(self.slots)
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    @property
    def eog(self) -> list[int]:
        """The end-of-generation tokens (banned by ``ignore_eos``)."""
        return self.vocabulary.eog

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def busy(self) -> int:
        return len(self.slots) - len(self._free)

    async def acquire(self) -> Slot:
        """A free slot, after waiting in the queue if need be; 503 when the queue is full. A request
        cancelled while it waits (its client left) leaves the queue."""
        if self._free and not self._waiters:
            slot = self._free.pop()
        else:
            if len(self._waiters) >= self.max_queue:
                raise APIError(f"the server is busy: {len(self.slots)} slots generating and {self.waiting} requests "
                               f"waiting for {self.name} (--max-queue {self.max_queue}); retry later", status=503,
                               code="queue_full", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                slot = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed a slot just as it was cancelled
                    self._hand_on(waiter.result())
                else:
                    self._waiters.remove(waiter)
                raise
        return slot

    def _hand_on(self, slot: Slot) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free.append(slot)

    def run(self, slot: Slot, job, emit: Callable[[object], None], cancelled: threading.Event,
            loop: asyncio.AbstractEventLoop, done: Callable[[], None]) -> Future:
        """Run ``job`` on ``slot`` (``emit`` gets its events, on the slot's thread); the slot is free
        again (and ``done`` called, on the event loop) when the job ends, whatever became of the
        request that asked for it."""

        def task():
            try:
                slot.run(job, emit, cancelled)
            finally:
                loop.call_soon_threadsafe(self._release, slot, done)

        return self.threads[self.slots.index(slot)].submit(task)

    def _release(self, slot: Slot, done: Callable[[], None]) -> None:
        self._hand_on(slot)
        done()

    def close(self) -> None:
        self.engine.closing = True  # an engine that dies now is not started again
        for thread in self.threads:
            thread.shutdown(wait=True)
        self.engine.close()
        self.llm.close()


def load_models(models: list[ModelFile], *, parallel: int, threads: int | None, n_ctx: int, max_queue: int,
                n_gpu_layers: int = 0, verbose: bool = False, imports: tuple[str, ...] = (),
                chat_template: str | None = None) -> dict[str, ServedModel]:
    """Start an engine process of ``parallel`` sequences for each model (loading at once), each
    with ``threads`` threads (by default the machine's physical cores). ``imports``: modules each
    process imports first, for the strategies they register. ``chat_template``: every model's, in
    place of its GGUF's. A model that cannot load is a ``ValueError``."""
    from ..threads import default_threads
    from ..llama.vocabulary import Vocabulary

    load = {"n_ctx": n_ctx, "n_gpu_layers": n_gpu_layers, "verbose": verbose, "chat_template": chat_template}
    started = {model.name: EngineProcess(m, model.path or default_model_path(), load, tuple(imports),
                                         threads or default_threads(), parallel)
               for m, model in enumerate(models)}
    served = {}
    try:
        for model in models:
            vocabulary = Vocabulary(model.path, n_ctx, chat_template)
            served[model.name] = ServedModel(model, started[model.name], parallel, max_queue, vocabulary)
    except BaseException:
        for engine in started.values():
            engine.close()
        raise
    return served


def model_name(path: str) -> str:
    """The name a model is served under when none is given: its file name without ``.gguf``.

    >>> model_name("/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    'SmolLM2-135M-Instruct.Q4_1'
    """
    base = os.path.basename(path)
    return base[:-5] if base.lower().endswith(".gguf") else base
