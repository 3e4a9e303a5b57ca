"""A model's engine process: one ``llama_cpp.Llama`` and one ``BatchedEngine`` of ``parallel``
sequences in their own process, running every job the server's slots send it together.

A process, not a thread: a request's strategy or grammar that never returns, or crashes llama.cpp,
costs the process, which the server kills and starts again, and never the server itself; and the
process is not held by the server's GIL. It dies with the server (SIGKILL included); Ctrl-C at the
terminal reaches the server, which shuts it down.

When the process is killed (a job past its deadline that does not stop, a client that left a job
that does not stop) or dies, the jobs it was running fail with it (``slot_died``: retry), but a job
that had not yet sent anything is sent again to the new process: it loses nothing.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import queue
import signal
import threading
import time
from typing import Callable

from .engine import SLOT_DIED, TIMED_OUT, Failed

_POLL_SECONDS = 0.05  # how soon a client that left stops its generation, at the latest
#: Seconds a job has to stop by itself after its timeout or its client leaving; then its process is killed.
KILL_AFTER = 1.0
_DIED = object()  # a job's queue gets it when the process died under it


class EngineProcess:
    """The server's handle on a model's engine process: ``run`` a job there (from any thread; the
    jobs run together), relaying its events."""

    def __init__(self, index: int, path: str, load: dict, imports: tuple[str, ...], threads: int,
                 parallel: int) -> None:
        self.index = index
        self._args = (path, load, imports, threads, parallel)
        self._context = multiprocessing.get_context("spawn")  # a fork would copy the server's threads mid-state
        self._ids = itertools.count()
        self._jobs: dict[int, queue.Queue] = {}
        self._sending = threading.Lock()
        self._up = threading.Event()
        self.closing = False
        self._reply = None
        self.start()

    def start(self) -> None:
        self._up.clear()
        self.conn, child = self._context.Pipe()
        self.process = self._context.Process(target=_main, args=(child, *self._args), daemon=True,
                                             name=f"dyntemp-engine-{self.index}")
        self.process.start()
        child.close()
        self._loaded = threading.Event()
        threading.Thread(target=self._read, args=(self.conn, self.process), daemon=True,
                         name=f"dyntemp-engine-{self.index}-reader").start()

    def ready(self) -> tuple[int, int]:
        """Wait for the model to load: ``(n_ctx, n_vocab)``, or the ``ValueError`` loading raised."""
        self._loaded.wait()
        if self._reply[0] != "ready":
            raise ValueError(self._reply[1])
        return self._reply[1], self._reply[2]

    def _read(self, conn, process) -> None:
        """The process's messages, to the queues of their jobs; when it ends, every job still there
        is told, and (unless the server is closing) the process is started again."""
        try:
            reply = conn.recv()
        except (EOFError, OSError):
            reply = ("error", f"engine {self.index}'s process died while loading the model "
                              f"(exit status {process.exitcode})")
        self._reply = reply
        self._loaded.set()
        if reply[0] != "ready":
            return
        self._up.set()
        try:
            while True:
                job_id, event = conn.recv()
                jobs = self._jobs.get(job_id)
                if jobs is not None:
                    jobs.put(event)
        except (EOFError, OSError):
            pass
        self._up.clear()
        process.kill()
        process.join(5)
        for jobs in list(self._jobs.values()):
            jobs.put(_DIED)
        if not self.closing:
            self.start()

    def run(self, job, emit: Callable[[object], None], cancelled: threading.Event) -> None:
        """Run ``job`` in the process and ``emit`` its events; on the calling slot's thread. A job
        not over ``KILL_AFTER`` seconds after its timeout, or after its client left (``cancelled``),
        has its process killed and started again."""
        while True:
            sent = self._run_once(job, emit, cancelled)
            if sent is not None:
                return
            # The process died before this job sent anything: the new one runs it from the start.

    def _run_once(self, job, emit, cancelled: threading.Event) -> bool | None:
        """``True`` once the job is over; ``None`` when its process died before it sent an event."""
        if cancelled.is_set():  # the client left while it waited for a slot
            return True
        job_id = next(self._ids)
        events = self._jobs[job_id] = queue.Queue()
        limit = time.monotonic() + job.timeout + KILL_AFTER
        told, any_sent = False, False
        try:
            while not self._up.wait(_POLL_SECONDS):  # the process is starting again
                if self.closing or cancelled.is_set():
                    return True
                if time.monotonic() >= limit:
                    emit(Failed(SLOT_DIED, f"slot {self.index}'s process is not running: it could not be started "
                                           f"again ({self._reply[1] if self._reply else 'still loading'})"))
                    return True
            process = self.process
            if not self._send(("job", job_id, job)):
                return None
            while True:
                if cancelled.is_set() and not told:
                    self._send(("cancel", job_id))
                    told = True
                    limit = min(limit, time.monotonic() + KILL_AFTER)
                if time.monotonic() >= limit:
                    process.kill()  # the reader starts it again
                    if not cancelled.is_set():  # its client left, or it was aborted: nobody waits for a word
                        again = "" if self.closing else "; it is started again"
                        emit(Failed(TIMED_OUT, f"the request did not end within its time limit ({job.timeout:g} s: "
                                               f"--timeout, or t_max_predict_ms) and its slot was stopped{again}"))
                    return True
                try:
                    event = events.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                if event is None:  # the job is over
                    return True
                if event is _DIED:
                    if not any_sent and not self.closing and not cancelled.is_set():
                        return None
                    if not cancelled.is_set():
                        again = "" if self.closing else "; it is started again"
                        emit(Failed(SLOT_DIED, f"slot {self.index}'s process died (exit status "
                                               f"{process.exitcode}){again}"))
                    return True
                any_sent = True
                emit(event)
        finally:
            del self._jobs[job_id]

    def _send(self, message) -> bool:
        with self._sending:
            try:
                self.conn.send(message)
                return True
            except (OSError, ValueError):
                return False

    def close(self) -> None:
        self.closing = True
        self._send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _main(conn, path: str, load: dict, imports: tuple[str, ...], threads: int, parallel: int) -> None:
    """The engine process: load the model, then run the jobs it is sent until told to stop."""
    from ..children import die_with_parent
    from ..llama.batched import BatchedEngine
    from ..llama.model import load_model
    from .batch_jobs import JobRunner

    die_with_parent()
    # Ctrl-C at the terminal is the server's to handle: it lets running requests finish, then stops the
    # process. SIGTERM (to the whole process group, as systemd sends it) ends it once its jobs are done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state = {"busy": False, "stop": False}

    def terminate(signum, frame) -> None:
        if not state["busy"]:
            raise SystemExit(0)
        state["stop"] = True

    signal.signal(signal.SIGTERM, terminate)
    try:
        for module in imports:  # the modules that register the server's own strategies
            importlib.import_module(module)
        llm = load_model(path, n_threads=threads, **load)
        engine = BatchedEngine(llm, parallel, threads=threads)
    except Exception as exc:  # noqa: BLE001 - the server reports it as its own error
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", llm.n_ctx(), llm.n_vocab()))
    runner = JobRunner(llm, engine, conn.send)
    while True:
        state["busy"] = runner.busy
        if state["stop"] and not runner.busy:
            return
        # Idle: wait for a job. Busy: take what came, and decode.
        while conn.poll(None if not runner.busy else 0):
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            kind, job_id = message[0], message[1]
            state["busy"] = True
            if kind == "job":
                runner.start(job_id, message[2])
            else:
                runner.cancel(job_id)
        if runner.busy:
            runner.step()
