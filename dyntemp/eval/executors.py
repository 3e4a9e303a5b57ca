"""Where a sweep's generations run: in this process, in a pool of worker processes, or on Ray actors."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator

from ..records import GenerationRecord
from .spec import Sweep
from .worker import Worker, init_process, work


class _JobWorker:
    """A ``Worker`` called with one job tuple, as a Ray actor calls it."""

    def __init__(self, sweep: Sweep) -> None:
        self.worker = Worker(sweep)

    def __call__(self, job: tuple) -> GenerationRecord:
        return self.worker(*job)


def results(sweep: Sweep, jobs: list) -> Iterator[GenerationRecord]:
    """The records of ``jobs`` as they finish, on the sweep's backend."""
    if sweep.backend == "ray" and jobs:
        from ..ray_actors import ray_results

        for _, record in ray_results(_JobWorker, (sweep,), jobs, sweep.workers, address=sweep.ray_address):
            yield record
        return
    yield from local_results(sweep, jobs)


def local_results(sweep: Sweep, jobs: list) -> Iterator[GenerationRecord]:
    """The records of ``jobs`` as they finish, on ``sweep.workers`` processes (each loading the model once)."""
    if not jobs:  # a finished run: nothing to load a model for
        return
    if sweep.workers == 1 or len(jobs) == 1:
        worker = Worker(sweep)
        for job in jobs:
            yield worker(*job)
        return
    # Spawned, not forked: the parent runs threads (the progress bar) that a fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(sweep.workers, len(jobs)), mp_context=context, initializer=init_process,
                             initargs=(sweep,)) as pool:
        pending = {pool.submit(work, job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()
