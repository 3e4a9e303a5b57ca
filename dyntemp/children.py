"""Child processes that hold a model (eval and batch workers, server slots): they die with the
process that started them, and a pool of them runs jobs for batch and eval as Ray's actors do
(``dyntemp.ray_actors``)."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator, Sequence

_PR_SET_PDEATHSIG = 1


class WorkerFailed(RuntimeError):
    """A worker could not be built, or its process died; the message says which and where."""


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (SIGKILL included), rather than leave a
    loaded model running with no one to report to. Call it first thing in the child."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent's own shutdown is all there is
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the line above
        os._exit(1)


def pool_results(factory: Callable, args: tuple, jobs: Sequence, workers: int,
                 batch_size: int = 1) -> Iterator[tuple[Any, Any]]:
    """``(job, result)`` for each of ``jobs`` as they finish, each result ``factory(*args)(job)``: in
    this process for one worker or one job, else on ``workers`` spawned processes, each building
    its worker once and dying with this one. A process that dies is a ``WorkerFailed``.

    ``batch_size`` > 1: each worker generates that many jobs at once, with its ``many(jobs)``
    (pairs as they finish): in this process over all the jobs, a new one starting as each ends;
    in worker processes, a group of ``batch_size`` jobs at a time."""
    if not jobs:
        return
    if batch_size > 1:
        if workers == 1 or len(jobs) <= batch_size:
            yield from factory(*args).many(jobs)
            return
        for _, pairs in pool_results(Grouped, (factory, args), groups(jobs, batch_size), workers):
            yield from pairs
        return
    if workers == 1 or len(jobs) == 1:
        worker = factory(*args)
        for job in jobs:
            yield job, worker(job)
        return
    context = multiprocessing.get_context("spawn")  # the parent runs threads (a progress bar) a fork would copy
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, initializer=_build,
                             initargs=(factory, args)) as pool:
        pending = {pool.submit(_run, job): job for job in jobs}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise WorkerFailed("a worker process died (killed, or out of memory)") from None
                    yield job, result
        finally:
            for future in pending:
                future.cancel()


def groups(jobs: Sequence, size: int) -> list[Sequence]:
    """``jobs`` in consecutive groups of ``size`` (the last may be smaller)."""
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


class Grouped:
    """``factory(*args)`` called with a group of jobs, which it generates together: their pairs."""

    def __init__(self, factory: Callable, args: tuple) -> None:
        self.worker = factory(*args)

    def __call__(self, group: Sequence) -> list[tuple[Any, Any]]:
        return list(self.worker.many(group))


_worker: Callable | None = None  # a pool process's worker


def _build(factory: Callable, args: tuple) -> None:
    global _worker
    die_with_parent()
    _worker = factory(*args)


def _run(job: Any) -> Any:
    return _worker(job)
