"""A setting, declared once: its name, default, check, the value that turns its stage off, the names
llama.cpp's command line and llama-server's requests give it, and one line of help. The settings
object, the command-line flags, the request schema, the listing of ``dyntemp strategies`` and
``/v1/strategies`` are all made from these declarations.

>>> top_k = Setting("top_k", 40, "top-k", integer(low=0), off=0, flag="--top-k")
>>> top_k.checked(20), top_k.fields
(20, ('top_k',))
>>> top_k.checked(-1)
Traceback (most recent call last):
...
dyntemp.core.stages.declare.SettingError: top_k must be >= 0, got -1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ... import _validate


class SettingError(ValueError):
    """A setting's value is not allowed: ``setting`` names it (the library's name), ``value`` is
    what was given; the message says what is allowed. Front ends name their own field or flag from
    ``setting`` (vLLM's ``VLLMValidationError(parameter=...)``)."""

    def __init__(self, message: str, setting: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.setting, self.value = setting, value


class SettingTypeError(SettingError, TypeError):
    """A setting's value has the wrong type."""


@dataclass(frozen=True)
class Setting:
    """One setting. ``check(name, value)`` returns the value as kept or raises ``TypeError`` /
    ``ValueError`` (made a ``SettingError`` by the settings object). ``off``: the value that turns its
    stage off (``None``: this setting does not switch it). ``flag``: llama.cpp's command-line flag
    (``None``: none). ``fields``: the request fields that set it, llama-server's names (default: its
    own name; empty: not a request field). ``schema``: the request field's type, when it is not the
    default's."""

    name: str
    default: Any
    help: str
    check: Callable[[str, Any], Any]
    off: Any = None
    flag: str | None = None
    fields: tuple[str, ...] | None = None
    metavar: str = "N"
    note: str = ""
    repeat: bool = False
    schema: Any = None

    def __post_init__(self) -> None:
        if self.fields is None:
            object.__setattr__(self, "fields", (self.name,))
        if self.schema is None:
            object.__setattr__(self, "schema", type(self.default))

    def checked(self, value: Any) -> Any:
        """``value`` checked; a ``SettingError`` naming this setting."""
        try:
            return self.check(self.name, value)
        except SettingError:
            raise
        except TypeError as exc:
            raise SettingTypeError(str(exc), self.name, value) from None
        except ValueError as exc:
            raise SettingError(str(exc), self.name, value) from None


@dataclass(frozen=True)
class Declared:
    """The settings of one stage (or the sampler's own: ``stage`` ``None``), in order."""

    stage: str | None
    settings: tuple[Setting, ...] = field(default_factory=tuple)


def number(*, low: float | None = None, high: float | None = None, low_open: bool = False) -> Callable:
    """A check: a finite number in ``[low, high]`` (``(low, ...`` with ``low_open``)."""
    return lambda name, value: _validate.number(name, value, low=low, high=high, low_open=low_open)


def integer(*, low: int | None = None) -> Callable:
    """A check: an integer ``>= low``."""
    return lambda name, value: _validate.integer(name, value, low=low)


def choice(*allowed: int, what: str) -> Callable:
    """A check: one of the integers ``allowed`` (``what`` says what they mean)."""
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or value not in allowed:
            raise ValueError(f"{name} must be {what}, got {value!r}")
        return int(value)
    return check
