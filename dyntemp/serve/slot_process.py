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
#: Seconds a job has to stop by itself after its timeout or its client leaving; then, if its process
#: has been silent as long (stuck, not just busy), the process is killed.
KILL_AFTER = 1.0
#: Seconds past that after which the process is killed even if it is not silent.
_KILL_BUSY_AFTER = 10.0
_DIED = object()  # what a job's queue gets when the process died under it
_HEARTBEAT = -1  # the job id of the message the process sends while it steps
#: Seconds between the heartbeats of a busy process: often enough for KILL_AFTER to tell stuck from
#: busy, rarely enough not to wake the server for every token (its thread takes a core from the decode).
_HEARTBEAT_EVERY = 0.1


class _Link:
    """One run of the process: its pipe, the process, when it was last heard from, and whether it
    has loaded its model and takes jobs."""

    __slots__ = ("conn", "process", "heard", "up")

    def __init__(self, conn, process) -> None:
        self.conn, self.process, self.heard, self.up = conn, process, time.monotonic(), threading.Event()


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
        self._starting = threading.Lock()  # a start and the closing flag, one at a time
        self._loaded = threading.Event()
        self._reply = None  # the first process's answer to loading
        self._failure = ""  # why the last start failed, if it did
        self.closing = False
        self._start()

    def _start(self) -> None:
        conn, child = self._context.Pipe()
        process = self._context.Process(target=_main, args=(child, *self._args), daemon=True,
                                        name=f"dyntemp-engine-{self.index}")
        process.start()
        child.close()
        self._link = link = _Link(conn, process)
        threading.Thread(target=self._read, args=(link,), daemon=True,
                         name=f"dyntemp-engine-{self.index}-reader").start()

    def ready(self) -> tuple[int, int]:
        """Wait for the model to load: ``(n_ctx, n_vocab)``, or the ``ValueError`` loading raised."""
        self._loaded.wait()
        if self._reply[0] != "ready":
            raise ValueError(self._reply[1])
        return self._reply[1], self._reply[2]

    def _read(self, link: _Link) -> None:
        """The process's messages, to the queues of their jobs; when it ends, every job still there
        is told, and (unless the server is closing) the process is started again."""
        try:
            reply = link.conn.recv()
        except (EOFError, OSError):
            reply = ("error", f"slot {self.index}'s process died while loading the model "
                              f"(exit status {link.process.exitcode})")
        if self._reply is None:
            self._reply = reply
            self._loaded.set()
        if reply[0] != "ready":
            self._failure = reply[1]
            return
        link.up.set()
        try:
            while True:
                job_id, event = link.conn.recv()
                link.heard = time.monotonic()
                jobs = self._jobs.get(job_id)
                if jobs is not None:
                    jobs.put((link, event))
        except Exception:  # noqa: BLE001 - a pipe that breaks or cannot be read: the process is done for
            pass
        link.up.clear()
        link.process.kill()
        link.process.join(5)
        for jobs in list(self._jobs.values()):
            jobs.put((link, _DIED))
        with self._starting:
            if not self.closing:
                self._start()

    def run(self, job, emit: Callable[[object], None], cancelled: threading.Event) -> None:
        """Run ``job`` in the process and ``emit`` its events; on the calling slot's thread. A job
        not over ``KILL_AFTER`` seconds after its timeout, or after its client left (``cancelled``),
        has its process killed and started again, if the process has been silent as long. A job
        whose process died before it sent anything runs once more, on the new process."""
        limit = time.monotonic() + job.timeout + KILL_AFTER
        for last in (False, True):
            if self._run_once(job, emit, cancelled, limit, last):
                return

    def _run_once(self, job, emit, cancelled: threading.Event, limit: float, last: bool) -> bool:
        """``True`` once the job is over; ``False`` when its process died before it sent anything."""
        job_id = next(self._ids)
        events = self._jobs[job_id] = queue.Queue()
        again = "; it is started again"
        try:
            link = None
            while link is None:  # the process may be starting again
                if cancelled.is_set() or self.closing:
                    return True
                if time.monotonic() >= limit:
                    emit(Failed(SLOT_DIED, f"slot {self.index}'s process is not running: it could not be started "
                                           f"again ({self._failure or 'it is still loading'})"))
                    return True
                current = self._link
                if current.up.wait(_POLL_SECONDS) and self._send(current, ("job", job_id, job)):
                    link = current
            told, any_sent = False, False
            while True:
                now = time.monotonic()
                if cancelled.is_set() and not told:
                    told = self._send(link, ("cancel", job_id))
                    limit = min(limit, now + KILL_AFTER)
                if now >= limit and (now - link.heard >= KILL_AFTER or now >= limit + _KILL_BUSY_AFTER):
                    link.process.kill()  # stuck: the reader starts it again
                    if not cancelled.is_set():  # its client left, or it was aborted: nobody waits for a word
                        emit(Failed(TIMED_OUT, f"the request did not end within its time limit ({job.timeout:g} s: "
                                               f"--timeout, or t_max_predict_ms) and its slot was stopped"
                                               f"{'' if self.closing else again}"))
                    return True
                try:
                    source, event = events.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                if source is not link:  # from a process this job was not sent to
                    continue
                if event is None:  # the job is over
                    return True
                if event is _DIED:
                    if not (any_sent or last or self.closing or cancelled.is_set()):
                        return False
                    if not cancelled.is_set():
                        emit(Failed(SLOT_DIED, f"slot {self.index}'s process died (exit status "
                                               f"{link.process.exitcode}){'' if self.closing else again}"))
                    return True
                any_sent = True
                emit(event)
        finally:
            del self._jobs[job_id]

    def _send(self, link: _Link, message) -> bool:
        """Send ``message`` to ``link``'s process; ``False`` when it cannot be sent now (the pipe is
        broken, or another thread's send is blocked by a process that does not read)."""
        if not self._sending.acquire(timeout=_POLL_SECONDS):
            return False
        try:
            link.conn.send(message)
            return True
        except (OSError, ValueError):
            return False
        finally:
            self._sending.release()

    def close(self) -> None:
        with self._starting:
            self.closing = True
        link = self._link
        self._send(link, None)
        link.process.join(10)
        if link.process.is_alive():
            link.process.kill()
            link.process.join()


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
        # Prompts go in chunks of at most 256 tokens beside the others' tokens, so that a step (between
        # which cancellations are read, and after which the process says it is alive) stays short.
        engine = BatchedEngine(llm, parallel, threads=threads, n_batch=max(256, parallel))
    except Exception as exc:  # noqa: BLE001 - the server reports it as its own error
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", llm.n_ctx(), llm.n_vocab()))
    runner = JobRunner(llm, engine, conn.send)
    beat = 0.0
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
            except Exception:  # noqa: BLE001 - a message that cannot be read: its job times out
                continue
            if message is None:
                return
            state["busy"] = True
            if message[0] == "job":
                runner.start(message[1], message[2])
            else:
                runner.cancel(message[1])
        if runner.busy:
            runner.step()
            if time.monotonic() >= beat:
                conn.send((_HEARTBEAT, None))  # alive: busy, not stuck
                beat = time.monotonic() + _HEARTBEAT_EVERY
