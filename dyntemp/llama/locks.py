"""Who may generate now: one generation at a time per model and per sampler."""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.sampler import Sampler


class _Owned:
    """A lock that knows its holder: another thread waits for it, its own thread is told it holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None

    def acquire(self, wait: bool, busy: str) -> None:
        me = threading.get_ident()
        if self.owner == me or not self._lock.acquire(blocking=wait):
            raise RuntimeError(busy)
        self.owner = me

    def release(self) -> None:
        self.owner = None
        self._lock.release()


_locks: "weakref.WeakKeyDictionary[object, _Owned]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def _lock_of(thing: object) -> _Owned:
    with _locks_guard:
        lock = _locks.get(thing)
        if lock is None:
            lock = _locks[thing] = _Owned()
        return lock


@contextlib.contextmanager
def using(sampler: "Sampler", llm):
    """One generation at a time on a model (another thread waits: llama.cpp's context is not
    thread-safe) and on a sampler (its state is one generation's: a second one is refused)."""
    _lock_of(sampler).acquire(False, "this Sampler is already generating, in another thread or an unfinished "
                                     "stream; use one Sampler per generation: Sampler.from_settings(sampler.settings)")
    try:
        _lock_of(llm).acquire(True, "this model is in the middle of another generation in this thread (an "
                                    "unfinished stream): finish or close that stream first")
        try:
            yield
        finally:
            _lock_of(llm).release()
    finally:
        _lock_of(sampler).release()
