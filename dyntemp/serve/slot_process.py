"""A slot's process: one ``llama_cpp.Llama`` in its own process, running the jobs the server sends.

A process, not a thread: llama.cpp's OpenMP threads slow every decode by about a third once two
threads of one process have decoded (measured on two cores: 107 → 72 tokens/s, one slot busy at a
time), and a process is not held by the server's GIL. The process dies with the server (SIGKILL
included); Ctrl-C at the terminal reaches the server, which shuts its slots down.
"""

from __future__ import annotations

import importlib
import multiprocessing
import signal
import threading
import time
from typing import Callable

from .engine import SLOT_DIED, TIMED_OUT, Failed, run_job

_POLL_SECONDS = 0.05  # how soon a client that left stops its generation, at the latest
#: Seconds a slot has to stop by itself after its job's timeout or its client leaving; then it is killed.
KILL_AFTER = 1.0


class _Overdue(Exception):
    """The slot's job ran past its time (``cancelled``: the time its client's leaving left it)."""

    def __init__(self, cancelled: bool) -> None:
        super().__init__()
        self.cancelled = cancelled


class SlotProcess:
    """The server's handle on one slot's process: ``run`` a job there, relaying its events."""

    def __init__(self, index: int, path: str, load: dict, imports: tuple[str, ...], busy, threads: int) -> None:
        self.index = index
        self._args = (path, load, imports, busy, threads)
        self._context = multiprocessing.get_context("spawn")  # a fork would copy the server's threads mid-state
        self.closing = False
        self.start()

    def start(self) -> None:
        self.conn, child = self._context.Pipe()
        self.cancel = self._context.Event()
        self.process = self._context.Process(target=_main, args=(child, self.cancel, *self._args), daemon=True,
                                             name=f"dyntemp-slot-{self.index}")
        self.process.start()
        child.close()

    def ready(self) -> tuple[int, int]:
        """Wait for the model to load: ``(n_ctx, n_vocab)``, or the ``ValueError`` loading raised."""
        try:
            reply = self.conn.recv()
        except EOFError:
            raise ValueError(f"slot {self.index}'s process died while loading the model "
                             f"(exit status {self.process.exitcode})") from None
        if reply[0] == "error":
            raise ValueError(reply[1])
        return reply[1], reply[2]

    def run(self, job, emit: Callable[[object], None], cancelled: threading.Event) -> None:
        """Run ``job`` in the process and ``emit`` its events; on the slot's own thread. A process
        that has not finished ``KILL_AFTER`` seconds after the job's timeout, or after its client
        left (``cancelled``), is killed and started again."""
        self.cancel.clear()
        if cancelled.is_set():  # the client left while it waited for this slot
            return
        limit = time.monotonic() + job.timeout + KILL_AFTER
        try:
            self.conn.send(job)
            while True:
                if cancelled.is_set() and not self.cancel.is_set():
                    self.cancel.set()
                    limit = min(limit, time.monotonic() + KILL_AFTER)
                if time.monotonic() >= limit:
                    raise _Overdue(cancelled.is_set())
                if not self.conn.poll(_POLL_SECONDS):
                    if not self.process.is_alive():
                        raise EOFError
                    continue
                event = self.conn.recv()
                if event is None:  # the job is done
                    return
                emit(event)
        except Exception as exc:  # noqa: BLE001 - whatever broke the pipe, the next job needs a fresh one
            self.process.kill()
            self.process.join(5)
            again = "" if self.closing else "; it is started again"
            if isinstance(exc, _Overdue) and exc.cancelled:
                pass  # its client left, or it was aborted: nobody waits for a word
            elif isinstance(exc, _Overdue):
                emit(Failed(TIMED_OUT, f"the request did not end within its time limit ({job.timeout:g} s: "
                                       f"--timeout, or t_max_predict_ms) and its slot was stopped{again}"))
            else:
                died = "died" if isinstance(exc, (EOFError, OSError)) else f"could not be read ({type(exc).__name__})"
                emit(Failed(SLOT_DIED, f"slot {self.index}'s process {died} (exit status {self.process.exitcode})"
                                       f"{again}"))
            if not self.closing:
                self.start()
                self.ready()

    def close(self) -> None:
        self.closing = True
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _main(conn, cancel, path: str, load: dict, imports: tuple[str, ...], busy, threads: int) -> None:
    """The slot process: load the model, then run jobs until told to stop."""
    from ..children import die_with_parent
    from ..llama.model import load_model

    die_with_parent()
    # Ctrl-C at the terminal is the server's to handle: it lets running requests finish, then stops its
    # slots. SIGTERM (to the whole process group, as systemd sends it) ends a slot once its job is done.
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
    except Exception as exc:  # noqa: BLE001 - the server reports it as its own error
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", llm.n_ctx(), llm.n_vocab()))

    def per_slot() -> int:  # the busy slots split the threads
        return max(1, threads // max(1, busy.value))

    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        state["busy"] = True
        run_job(job, llm, conn.send, cancel, per_slot)
        conn.send(None)
        state["busy"] = False
        if state["stop"]:
            return
