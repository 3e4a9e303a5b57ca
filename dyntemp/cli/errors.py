"""How the command reports failure: one line for a person, never a traceback they did not ask for.

The rule:

- a bad command line is a ``UsageError``: one line, exit status 2, before the model is loaded
  whenever the value can be checked without it. The command checks its own flags up front, and
  converts the library's validation errors (``ValueError``, ``TypeError``, ``SpecError``,
  ``UnknownStrategyError``) into usage errors only where it hands the library the command line's
  values (``checked``), never around the work itself;
- a file or folder that cannot be read or written is named with its flag (``describe_oserror``):
  exit status 2 when checked up front, 1 when writing fails during the work (``WorkError``: a full
  disk, say), and what was written stays;
- Ctrl-C exits with status 130 and one line; a closed standard output (``dyntemp ... | head``)
  ends the command quietly with status 141, as a program killed by SIGPIPE;
- anything else is a bug: ``dyntemp: internal error: <type>: <message>`` and a request to report it,
  exit status 1. The traceback shows with ``--verbose`` or ``DYNTEMP_DEBUG=1``. An exception raised
  inside a module given to ``--import`` is that module's, and is reported as such.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import traceback
from contextlib import contextmanager
from typing import Iterator, Sequence

from .. import _validate
from ..strategies.registry import UnknownStrategyError

USAGE, FAILED, INTERRUPTED, PIPE_CLOSED = 2, 1, 130, 141


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit status 2."""


class WorkError(Exception):
    """A failure during the work, such as an output that cannot be written: one line, exit status 1."""


@contextmanager
def checked(where: str | None = None) -> Iterator[None]:
    """Turn the library's validation errors raised inside into usage errors (``where: message``).

    For the calls that hand the library the command line's values, and only those: elsewhere such
    an exception is a bug, not the user's mistake.

    >>> with checked("--top-p"):
    ...     _validate.number("top_p", 2.0, high=1.0)
    Traceback (most recent call last):
    ...
    dyntemp.cli.errors.UsageError: --top-p: top_p must be <= 1.0, got 2.0
    """
    try:
        yield
    except (ValueError, TypeError, UnknownStrategyError) as exc:
        message = _validate.message_of(exc)
        raise UsageError(f"{where}: {message}" if where else message) from exc


def describe_oserror(exc: OSError, flag: str | None = None, path: str | None = None) -> str:
    """One line for an ``OSError`` on a file: the flag and the path, then what is wrong.

    >>> describe_oserror(IsADirectoryError(errno.EISDIR, "Is a directory", "runs"), "--trace")
    '--trace runs: is a directory, not a file'
    >>> describe_oserror(PermissionError(errno.EACCES, "Permission denied", "/sys/t.jsonl"), "--trace")
    '--trace /sys/t.jsonl: permission denied'
    """
    path = path if path is not None else exc.filename
    reasons = {
        errno.ENOENT: "no such file or directory",
        errno.EISDIR: "is a directory, not a file",
        errno.ENOTDIR: "a part of the path is not a directory",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.ENOSPC: "no space left on the device",
        errno.EEXIST: "already exists",
    }
    reason = reasons.get(exc.errno) or (exc.strerror or str(exc)).lower()
    name = " ".join(str(part) for part in (flag, path) if part is not None)
    return f"{name}: {reason}" if name else reason


def flag_of_path(path: object, flags: Sequence[tuple[str, object]]) -> str | None:
    """The flag whose value is ``path`` or the folder holding it, among ``(flag, value)`` pairs.

    >>> flag_of_path("runs/qa/sweep.json", [("--model", "m.gguf"), ("--out", "runs/qa")])
    '--out'
    """
    if path is None:
        return None
    target = os.path.abspath(os.fspath(path))
    for flag, value in flags:
        if isinstance(value, (str, os.PathLike)) and value != "-":
            mine = os.path.abspath(os.fspath(value))
            if target == mine or target.startswith(mine.rstrip(os.sep) + os.sep):
                return flag
    return None


def path_flags(args) -> list[tuple[str, object]]:
    """``(flag, value)`` for every argument of ``args`` that names a file or folder."""
    names = ("trace", "rules", "model", "chat_template", "out", "config", "scorer", "folder")
    pairs = []
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            pairs.append(("RUN" if name == "folder" else "--" + name.replace("_", "-"), value))
    pairs += [("--suite", value) for value in getattr(args, "suite", None) or ()]
    return pairs


def internal_error(exc: BaseException, user_files: dict[str, str], debug: bool) -> str:
    """The lines for an unexpected exception: the user's module's error (from a module given to
    ``--import``, by the files in ``user_files``: path → module name) or dyntemp's bug."""
    what = f"{type(exc).__name__}: {_validate.message_of(exc)}"
    module = _user_module(exc, user_files)
    hint = "" if debug else " (rerun with DYNTEMP_DEBUG=1 to see the traceback)"
    if module is not None:
        return f"dyntemp: error in module {module} (--import): {what}{hint}\n"
    return (f"dyntemp: internal error: {what}\n"
            f"dyntemp: this is a bug in dyntemp; please report it with the command and its traceback{hint}\n")


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _user_module(exc: BaseException, user_files: dict[str, str]) -> str | None:
    """The ``--import`` module whose code raised ``exc``, judged by the innermost frame in it."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        for where, module in user_files.items():
            if path == where or path.startswith(where + os.sep):
                found = module
    return found


def debugging(args) -> bool:
    """True when tracebacks are wanted: ``--verbose``, or ``DYNTEMP_DEBUG`` set to anything but 0."""
    return bool(getattr(args, "verbose", False)) or os.environ.get("DYNTEMP_DEBUG", "") not in ("", "0")


@contextmanager
def interrupts_kept() -> Iterator[None]:
    """Ctrl-C while llama.cpp calls back into Python (its log lines, during loading) is swallowed by
    ctypes: note it, and raise it when the block ends.
    """
    seen = []

    def note(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    def quiet(unraisable):  # the swallowed interrupt is raised below, not printed as "Exception ignored"
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            unraisable_hook(unraisable)

    previous, unraisable_hook = signal.signal(signal.SIGINT, note), sys.unraisablehook
    sys.unraisablehook = quiet
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = unraisable_hook
    if seen:
        raise KeyboardInterrupt
