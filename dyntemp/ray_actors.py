"""Jobs on Ray actors, for batch and eval: each actor builds its worker once (loading its model),
then runs jobs; the results come back to the driver, which stays the single writer of the output.

An actor that dies mid-job is restarted by Ray and its job retried (``max_restarts``,
``max_task_retries``); if it stays dead, its jobs go to another actor. Each job's result is yielded
once. A local Ray (``address=None``) is started on the loopback interface, its usage statistics and
dashboard off; ``address="auto"`` or ``"HOST:PORT"`` joins a running cluster.
"""

from __future__ import annotations

import collections
import os
import warnings
from typing import Any, Callable, Iterator, Sequence

from .children import WorkerFailed

RESTARTS = 2


def start_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Connect to Ray if this process is not connected yet: a local Ray on loopback, or ``address``."""
    if address is None:
        # A local Ray otherwise takes the host's external address as its node's and talks over it. Ray
        # reads these when it is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                 configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)


class _Actor:
    """Holds one worker: ``factory(*args)``, built once in the actor's process."""

    def __init__(self, factory: Callable, args: tuple) -> None:
        import socket

        try:
            self.work = factory(*args)
        except Exception as exc:  # noqa: BLE001 - named with the node, for the driver's message
            raise WorkerFailed(f"node {socket.gethostname()}: {type(exc).__name__}: {exc}") from None

    def run(self, job: Any) -> Any:
        return self.work(job)

    def pid(self) -> int:
        return os.getpid()


def ray_results(factory: Callable, args: tuple, jobs: Sequence, actors: int, *, address: str | None = None,
                num_cpus_per_actor: float = 1, batch_size: int = 1) -> Iterator[tuple[Any, Any]]:
    """``(job, result)`` for each of ``jobs`` as they finish, on ``actors`` Ray actors each running
    ``factory(*args)(job)`` and holding ``num_cpus_per_actor`` CPUs. No more actors start than the
    cluster has CPUs for (one that could not start would hold its jobs for ever). ``batch_size`` > 1:
    an actor generates a group of that many jobs at once (the worker's ``many``)."""
    if batch_size > 1:
        from .children import Grouped, groups

        for _, pairs in ray_results(Grouped, (factory, args), groups(jobs, batch_size), actors, address=address,
                                    num_cpus_per_actor=num_cpus_per_actor):
            yield from pairs
        return
    start_ray(address)
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError

    room = int(ray.cluster_resources().get("CPU", 0) // num_cpus_per_actor)
    if min(actors, len(jobs)) > max(room, 1):
        warnings.warn(f"{actors} Ray actors of {num_cpus_per_actor:g} CPU(s) asked for; the cluster has CPUs for "
                      f"{max(room, 1)}: using {max(room, 1)}", stacklevel=2)
    actors = max(1, min(actors, len(jobs), room))
    remote = ray.remote(num_cpus=num_cpus_per_actor, max_restarts=RESTARTS, max_task_retries=RESTARTS)(_Actor)
    pool = [remote.options(name=f"dyntemp-{os.getpid()}-{i}").remote(factory, args) for i in range(actors)]
    pending = list(range(len(jobs)))[::-1]  # job indexes, popped from the end
    running: dict[Any, tuple[int, Any]] = {}  # result ref -> (job index, actor)
    deaths: collections.Counter = collections.Counter()

    def submit() -> None:
        """Give each live actor up to two jobs: one running, one waiting, so it never idles."""
        for actor in pool:
            while pending and sum(1 for _, a in running.values() if a is actor) < 2:
                index = pending.pop()
                running[actor.run.remote(jobs[index])] = (index, actor)

    try:
        submit()
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            index, actor = running.pop(done[0])
            try:
                result = ray.get(done[0])
            except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
                cause = _cause(exc)
                if cause is not None:
                    raise WorkerFailed(cause) from None
                deaths[index] += 1
                if deaths[index] > RESTARTS:  # this job kills whatever runs it
                    raise WorkerFailed(f"job {getattr(jobs[index], 'id', index)!r} ended {deaths[index]} Ray actors; "
                                       f"the last: {exc}") from None
                if actor in pool:  # dead after its restarts: its jobs go to the others
                    pool.remove(actor)
                    ray.kill(actor, no_restart=True)
                if not pool:
                    raise WorkerFailed(f"every Ray actor died; the last: {exc}") from None
                pending.append(index)
            except RayTaskError as exc:
                raise exc.as_instanceof_cause() from None
            else:
                yield jobs[index], result
            submit()
    finally:
        for actor in pool:
            ray.kill(actor, no_restart=True)


def _cause(exc: BaseException) -> str | None:
    """The message of a worker that could not be built (not a dead process: that is retried)."""
    text = str(exc)
    marker = "WorkerFailed: "
    if marker in text:
        return text[text.index(marker) + len(marker):].splitlines()[0]
    return None
