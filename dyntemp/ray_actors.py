"""Jobs on Ray actors, for batch and eval: each actor builds its worker once (loading its model),
then runs jobs; the results come back to the driver, which stays the single writer of the output.

An actor that dies mid-job is restarted by Ray and its job retried (``max_restarts``,
``max_task_retries``); if it stays dead, its jobs go to another actor. Each job's result is yielded
once. A local Ray (``address=None``) is started on the loopback interface, its usage statistics and
dashboard off; ``address="auto"`` or ``"HOST:PORT"`` joins a running cluster.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

RESTARTS = 2


class WorkerFailed(RuntimeError):
    """A worker could not be built or could not run a job; the message names the node."""


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
                num_cpus_per_actor: float = 1) -> Iterator[tuple[Any, Any]]:
    """``(job, result)`` for each of ``jobs`` as they finish, on ``actors`` Ray actors each running
    ``factory(*args)(job)``."""
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError

    start_ray(address)
    remote = ray.remote(num_cpus=num_cpus_per_actor, max_restarts=RESTARTS, max_task_retries=RESTARTS)(_Actor)
    pool = [remote.options(name=f"dyntemp-{os.getpid()}-{i}").remote(factory, args) for i in range(actors)]
    pending = list(range(len(jobs)))[::-1]  # job indexes, popped from the end
    running: dict[Any, tuple[int, Any]] = {}  # result ref -> (job index, actor)

    def submit(actor) -> None:
        if pending:
            index = pending.pop()
            running[actor.run.remote(jobs[index])] = (index, actor)

    try:
        for actor in pool:
            for _ in range(2):  # one running, one waiting: the actor never idles between jobs
                submit(actor)
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            ref = done[0]
            index, actor = running.pop(ref)
            try:
                result = ray.get(ref)
            except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
                cause = _cause(exc)
                if cause is not None:
                    raise WorkerFailed(cause) from None
                pool = [a for a in pool if a is not actor]
                if not pool:
                    raise WorkerFailed(f"every Ray actor died; the last: {exc}") from None
                pending.append(index)  # to another actor
                for other in pool:
                    if sum(1 for _, a in running.values() if a is other) < 2:
                        submit(other)
                continue
            except RayTaskError as exc:
                raise exc.as_instanceof_cause() from None
            yield jobs[index], result
            submit(actor)
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
