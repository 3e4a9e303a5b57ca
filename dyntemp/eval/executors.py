"""Where a sweep's generations run: in this process, in a pool of worker processes, or on Ray actors."""

from __future__ import annotations

from typing import Iterator

from ..children import pool_results
from ..records import GenerationRecord
from .spec import Sweep
from .worker import Worker


class _JobWorker:
    """A ``Worker`` called with one job tuple, as a pool process or a Ray actor calls it."""

    def __init__(self, sweep: Sweep) -> None:
        self.worker = Worker(sweep)

    def __call__(self, job: tuple) -> GenerationRecord:
        return self.worker(*job)

    def many(self, jobs: list) -> Iterator[tuple[tuple, GenerationRecord]]:
        return self.worker.many(jobs)


def results(sweep: Sweep, jobs: list) -> Iterator[GenerationRecord]:
    """The records of ``jobs`` as they finish, on the sweep's backend."""
    if sweep.backend == "ray" and jobs:
        from ..ray_actors import ray_results

        for _, record in ray_results(_JobWorker, (sweep,), jobs, sweep.workers, address=sweep.ray_address,
                                     batch_size=sweep.batch_size):
            yield record
        return
    for _, record in pool_results(_JobWorker, (sweep,), jobs, sweep.workers, sweep.batch_size):
        yield record
