"""Where a sweep's generations run: in this process, or in a pool of worker processes."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator

from ..records import GenerationRecord
from .spec import Sweep
from .worker import Worker, init_process, work


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
