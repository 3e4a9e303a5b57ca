"""Files that must survive a kill or a full disk: written whole or not at all, appended a line at a
time (a torn last line dropped before appending again), and held by one writer at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator


def drop_torn_line(path: Path) -> None:
    """Cut a last line left half-written by a killed run, so appends start on a fresh line."""
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a full disk leaves the old file, never a truncated one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def hold_lock(path: Path, busy: str, advice: str, error: type[Exception]) -> Iterator[None]:
    """Hold ``path`` as a lock (the kernel drops it when the process ends). Held by another
    process: ``error("{busy} ({holder}); wait for it to finish, {advice}")``."""
    with open(path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise error(f"{busy} ({holder}); wait for it to finish, {advice}") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield
