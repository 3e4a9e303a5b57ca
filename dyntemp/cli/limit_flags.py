"""The request limits as flags (``dyntemp.api.limits``), for ``serve`` and ``batch``."""

from __future__ import annotations

import argparse

from .errors import UsageError


def add_limit_flags(parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """A flag for every limit but those in ``skip``, in a group of their own."""
    from ..api.limits import Limits

    group = parser.add_argument_group("limits of a request (each over its limit is refused with a 400 naming it)")
    for name, flag, default, help in Limits.flags():
        if name not in skip:
            group.add_argument(flag, dest=f"limit_{name}", type=type(default), default=default, metavar="N",
                               help=f"{help} (default {default})")


def limits_of(args: argparse.Namespace):
    """The ``Limits`` the flags give; a ``UsageError`` naming a flag out of range."""
    from ..api.limits import Limits

    given = {name: getattr(args, f"limit_{name}") for name, *_ in Limits.flags() if hasattr(args, f"limit_{name}")}
    try:
        return Limits(**given)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
