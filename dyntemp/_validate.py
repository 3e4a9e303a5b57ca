"""Parameter checks shared by filters, penalties, strategies and the sampler.

Every check raises before any work starts, with a message that names the parameter, echoes the
value and says what is allowed.
"""

from __future__ import annotations

import difflib
import math
from numbers import Integral, Real
from typing import Iterable

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


def number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float after checking it lies in the allowed range.

    >>> number("top_p", 0.9, low=0, high=1)
    0.9
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def integer(name: str, value: object, *, low: int | None = None) -> int:
    """Return ``value`` as an int after checking its type and lower bound.

    >>> integer("top_k", 40, low=0)
    40
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return value


def closest(word: str, options: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The option most like ``word``, if one is close enough to suggest (``cutoff``: how alike, 0 to 1).

    >>> closest("thta", ["theta", "t0"]), closest("EDT", ["edt", "position"]), closest("top_a", ["top_k"], 0.85)
    ('theta', 'edt', None)
    """
    by_lower = {option.lower(): option for option in options}
    matches = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[matches[0]] if matches else None


def unknown(what: str, value: object, allowed: Iterable[str], *, listing: str | None = None) -> str:
    """The one message for a name that is not among ``allowed``: the closest match, then the list.

    >>> unknown("key", "thta", ["theta", "t0"])
    "unknown key 'thta'. Did you mean 'theta'? Allowed: theta, t0"
    >>> unknown("suite", "x", ["qa"], listing="Built-in suites")
    "unknown suite 'x'. Built-in suites: qa"
    """
    allowed = list(allowed)
    close = closest(str(value), allowed)
    hint = f" Did you mean {close!r}?" if close else ""
    return f"unknown {what} {value!r}.{hint} {listing or 'Allowed'}: {', '.join(allowed) or 'none'}"


class UnknownName(KeyError):
    """A name not among ``known`` (a strategy, a stage): the message names the closest and lists them.
    A subclass sets ``what`` and ``listing``."""

    what = "name"
    listing = "Known"

    def __init__(self, name: str, known: list[str]) -> None:
        self.name, self.known = name, known
        self.message = unknown(self.what, name, known, listing=self.listing)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Raised in a worker process, it must unpickle in the parent.
        return type(self), (self.name, self.known)


def message_of(exc: BaseException) -> str:
    """An exception's message as a person reads it (a ``KeyError`` repr-quotes its own).

    >>> message_of(KeyError("no such key")), message_of(ValueError("bad"))
    ('no such key', 'bad')
    """
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def chat_template(name: str, text: object) -> str:
    """``text`` checked to be a Jinja chat template (as a GGUF's ``tokenizer.chat_template``).

    >>> chat_template("t", "{% for m in messages %}{{ m['content'] }}{% endfor %}")[:6]
    '{% for'
    >>> chat_template("t", "{% for m in messages %}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: t: not a valid Jinja template: line 1: Unexpected end of template...
    """
    import jinja2

    if not isinstance(text, str):
        raise TypeError(f"{name} must be the text of a Jinja chat template, got {text!r:.80}")
    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{name}: not a valid Jinja template: line {exc.lineno}: {exc.message}") from None
    return text


def load_toml(data: bytes | str) -> dict:
    """Parse TOML text (``tomllib``, or ``tomli`` on Python 3.10); errors are ``tomllib.TOMLDecodeError``.

    >>> load_toml('a = 1')
    {'a': 1}
    """
    return tomllib.loads(data.decode("utf-8") if isinstance(data, bytes) else data)


TOMLDecodeError = tomllib.TOMLDecodeError
