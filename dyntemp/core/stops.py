"""Stop strings, checked once for the library, the command line and the server."""

from __future__ import annotations

from typing import Sequence


def check_stop(stop: "str | Sequence[str] | None") -> tuple[str, ...]:
    """``stop`` (a string, a list of strings, or ``None``) as a tuple of non-empty strings.

    >>> check_stop("\\n\\n"), check_stop(None)
    (('\\n\\n',), ())
    >>> check_stop(["."," "]), check_stop([""])
    Traceback (most recent call last):
    ...
    ValueError: stop must be a string or a list of non-empty strings, got '' (a stop string cannot be empty)
    """
    if stop is None:
        return ()
    if not isinstance(stop, (str, Sequence)) or isinstance(stop, bytes):
        raise TypeError(f"stop must be a string or a list of strings, got {stop!r}")
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    for s in stops:
        if not isinstance(s, str):
            raise TypeError(f"stop must be a string or a list of strings, got {s!r}")
        if not s:
            raise ValueError(f"stop must be a string or a list of non-empty strings, got {s!r} (a stop string "
                             f"cannot be empty)")
    return stops
