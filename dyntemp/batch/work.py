"""Where a batch's generations run: in this process, in local worker processes, or on Ray actors;
each worker loads the model once. Every backend gives the same record for the same job."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..core import Sampler
from ..core.trace import Trace
from ..records import GenerationRecord
from .lines import BatchJob


@dataclass(frozen=True)
class ModelSetup:
    """How each worker loads its model, and what it imports first (the modules that register the
    batch's own strategies)."""

    path: str
    n_ctx: int
    threads: int
    n_gpu_layers: int = 0
    imports: tuple[str, ...] = ()
    trace: bool = False


class BatchWorker:
    """Loads the model once; called with a job, returns its record (the trace if the batch asks)."""

    def __init__(self, setup: ModelSetup) -> None:
        from ..llama.model import load_model

        for module in setup.imports:
            importlib.import_module(module)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"dyntemp\.core\.settings")  # shown once
        if not os.path.isfile(setup.path):
            raise FileNotFoundError(f"model file not found: {setup.path} (every node needs the model at this path)")
        self.llm = load_model(setup.path, n_ctx=setup.n_ctx, n_threads=setup.threads, n_gpu_layers=setup.n_gpu_layers)
        self.trace = setup.trace

    def __call__(self, job: BatchJob) -> GenerationRecord:
        result = Sampler.from_settings(job.settings).generate(self.llm, list(job.prompt), max_tokens=job.max_tokens,
                                                               stop=list(job.stop))
        return GenerationRecord(result.text, result.finish_reason, job.settings,
                                result.trace if self.trace else Trace(), completion_tokens=len(result.tokens),
                                prompt_tokens=len(job.prompt), id=job.id, item_hash=job.made_of)


_worker: BatchWorker | None = None


def _init(setup: ModelSetup) -> None:
    from ..children import die_with_parent

    global _worker
    die_with_parent()
    _worker = BatchWorker(setup)


def _work(job: BatchJob) -> GenerationRecord:
    return _worker(job)


def local_results(setup: ModelSetup, jobs: Sequence[BatchJob], workers: int) -> Iterator[GenerationRecord]:
    """The records of ``jobs`` as they finish, on ``workers`` processes (1: this process)."""
    if not jobs:
        return
    if workers == 1 or len(jobs) == 1:
        worker = BatchWorker(setup)
        for job in jobs:
            yield worker(job)
        return
    from ..ray_actors import WorkerFailed

    context = multiprocessing.get_context("spawn")  # the parent runs threads (the progress bar) a fork would copy
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, initializer=_init,
                             initargs=(setup,)) as pool:
        pending = {pool.submit(_work, job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        raise WorkerFailed("a worker process died (killed, or out of memory)") from None
        finally:
            for future in pending:
                future.cancel()


def ray_results(setup: ModelSetup, jobs: Sequence[BatchJob], actors: int,
                address: str | None) -> Iterator[GenerationRecord]:
    """The records of ``jobs`` as they finish, on ``actors`` Ray actors."""
    from ..ray_actors import ray_results as on_ray

    for _, record in on_ray(BatchWorker, (setup,), jobs, actors, address=address, num_cpus_per_actor=setup.threads):
        yield record
