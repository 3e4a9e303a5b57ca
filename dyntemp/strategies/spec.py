"""Strategy specs: a strategy's name and parameters as data, and the one parser that reads them.

A spec is written the same way everywhere it appears:

- as text (``generate --strategy/--param``, ``eval --strategy``): ``NAME[:KEY=VALUE]...``. A value
  is JSON when it parses as JSON (``0.6``, ``true``, ``[0.2,0.9]``, ``{"name":"edt","theta":0.6}``),
  else plain text (``in_code_block``). Commas outside brackets and quotes separate *alternatives*:
  ``edt:theta=0.3,0.6`` is two settings, a grid an eval sweeps; a list value is written in
  brackets, ``sentence:temperatures=[0.2,0.9,1.4]``. Where one setting is wanted, alternatives are
  an error.
- as a table (TOML files, JSON requests, ``to_dict``): ``{"name": "edt", "theta": 0.6}``. Rules
  files have written the name as ``strategy = "edt"``; that is read too when there is no ``name``.

A parameter that takes a strategy (``clamp``/``scale``'s ``strategy``, ``choose``'s ``then`` and
``otherwise``, ``rules``' ``base``) takes any of: a number (a constant temperature), a name, a
table as above, a ``StrategySpec`` or a ``Strategy``.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Iterable, Mapping, Sequence

from .. import _validate
from .base import Strategy
from .registry import UnknownStrategyError, get_strategy, registered_name, strategy_parameters

_OPEN, _CLOSE = "[{(", "]})"


class SpecError(ValueError):
    """A strategy spec that cannot be read or built; the message says where and why."""


class UnknownStrategySpecError(SpecError, UnknownStrategyError):
    """A spec naming no registered strategy: a ``SpecError`` that says where, and an ``UnknownStrategyError``."""

    def __init__(self, where: str, cause: UnknownStrategyError) -> None:
        UnknownStrategyError.__init__(self, cause.name, [])
        self.message = f"{where}: {cause.message}"
        self.args = (self.message,)
        self._where, self._cause = where, cause

    def __reduce__(self):
        # Raised in a worker process, it must unpickle in the parent.
        return (type(self), (self._where, self._cause))


class _Frozen(dict):
    """A dict that refuses changes (a spec's parameters); it pickles as a plain dict would."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a StrategySpec's parameters cannot change; build another spec")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self):
        return (_Frozen, (dict(self),))


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Frozen({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Frozen parameters back as JSON data: dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class StrategySpec:
    """A strategy as data: its registered name and parameters (numbers, text, lists, tables; a
    strategy given as a parameter is kept as its table). It never changes, pickles, converts to and
    from JSON, and builds a fresh strategy with ``make()``.

    >>> spec = parse_spec("edt:theta=0.6")
    >>> spec, spec.key, spec.label
    (StrategySpec(name='edt', params={'theta': 0.6}), 'edt:theta=0.6', 'theta=0.6')
    >>> spec.make()
    EDT(t0=1.0, n=0.8, theta=0.6, entropy_floor=1e-06, min_temp=0.0, max_temp=inf)
    >>> StrategySpec.from_dict(spec.to_dict()) == spec
    True
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"a strategy spec needs a strategy name, got {self.name!r}")
        if not isinstance(self.params, Mapping):
            raise SpecError(f"strategy {self.name!r}: parameters must be a table, got {self.params!r}")
        for key, value in self.params.items():
            if _plain(value) is _NOT_PLAIN:
                raise SpecError(f"strategy {self.name!r}: parameter {key}={value!r} is not data (numbers, text, "
                                f"lists, tables or strategies that are); pass the Strategy itself instead")
        object.__setattr__(self, "params", _freeze({str(k): _plain(v) for k, v in self.params.items()}))

    @property
    def key(self) -> str:
        """The spec as text, e.g. ``constant:temperature=0.7``: its identity in a run folder, and
        read back by ``parse_spec``."""
        return ":".join([self.name, *(f"{k}={_dump(v)}" for k, v in self.params.items())])

    @property
    def label(self) -> str:
        """A short label for plots: the parameters (``defaults`` when there are none)."""
        return ", ".join(f"{k}={_dump(v)}" for k, v in self.params.items()) or "defaults"

    def make(self) -> Strategy:
        """A fresh strategy instance."""
        return get_strategy(self.name, **_thaw(self.params))

    def to_dict(self) -> dict:
        """``{"name": ..., **params}``, JSON-ready."""
        return {"name": self.name, **_thaw(self.params)}

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], where: str = "strategy") -> "StrategySpec":
        """The spec of a table ``{"name": ..., **params}`` (not yet checked: see ``check``)."""
        if not isinstance(table, Mapping):
            raise SpecError(f"{where}: a strategy table is {{\"name\": ..., parameters...}}, got {table!r}")
        params = dict(table)
        name = params.pop("name", None)
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where}: a strategy table needs name = \"<strategy>\", got {dict(table)!r}")
        return cls(name, params)

    @classmethod
    def of(cls, strategy: Strategy) -> "StrategySpec | None":
        """The spec that rebuilds ``strategy`` (its parameters that differ from their defaults), or
        ``None`` when it cannot be written as data: an unregistered class, a function among its
        parameters, or parameters that do not rebuild it (``params()`` not naming what ``__init__`` takes)."""
        name = strategy.name or registered_name(type(strategy))
        if name is None:
            return None
        given = _plain(strategy.params())
        defaults = strategy_parameters(name)
        if given is _NOT_PLAIN or set(defaults) - set(given):  # params() must name every parameter
            return None
        params = {k: v for k, v in given.items() if k not in defaults or _plain(defaults[k]) != v}
        try:
            rebuilt = _plain(get_strategy(name, **params).params())
        except (KeyError, TypeError, ValueError):
            return None
        return cls(name, params) if rebuilt == given else None

    def check(self, where: str = "strategy") -> "StrategySpec":
        """This spec, after building it once: an unknown name or a bad parameter raises ``SpecError``."""
        try:
            self.make()
        except UnknownStrategyError as exc:
            raise UnknownStrategySpecError(where, exc) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"{where}: {_validate.message_of(exc)}") from None
        return self

    def __hash__(self) -> int:
        # Equal specs can spell a value differently (1 and 1.0): the hash rests on what cannot differ.
        return hash((self.name, tuple(sorted(self.params))))


_NOT_PLAIN = object()


def _plain(value: Any) -> Any:
    """``value`` as JSON data (a strategy as its table), or ``_NOT_PLAIN``."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, Strategy):
        spec = StrategySpec.of(value)
        return _NOT_PLAIN if spec is None else spec.to_dict()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {str(k): _plain(v) for k, v in value.items()}
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in out.values()) else out
    if isinstance(value, (list, tuple)):
        out = [_plain(v) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in out) else out
    return _NOT_PLAIN


def spec_of(value: "str | Strategy | StrategySpec | Mapping | float", name: str = "strategy"
            ) -> "StrategySpec | Strategy":
    """The checked spec of a number (a constant temperature), spec text, a table or a spec; for a
    ``Strategy``, its spec, or the instance itself when it cannot be written as data.

    >>> spec_of(0.7), spec_of("edt:theta=0.6")
    (StrategySpec(name='constant', params={'temperature': 0.7}), StrategySpec(name='edt', params={'theta': 0.6}))
    """
    if isinstance(value, Strategy):
        return StrategySpec.of(value) or value
    if isinstance(value, Real) and not isinstance(value, bool):
        return StrategySpec("constant", {"temperature": float(value)}).check(name)
    if isinstance(value, StrategySpec):
        return value.check(name)
    if isinstance(value, Mapping):
        return StrategySpec.from_dict(value, name).check(name)
    if isinstance(value, str):
        return parse_spec(value, where=name)
    raise TypeError(f"{name} must be a strategy name, a table, a number or a Strategy, got {value!r}")


def as_strategy(value: "str | Strategy | StrategySpec | Mapping | float", name: str = "strategy") -> Strategy:
    """A strategy from a name or spec text, an instance, a spec, a table, or a number (a constant
    temperature): ``spec_of``'s rules.

    >>> as_strategy(0.7), as_strategy({"name": "edt", "theta": 0.6}).theta
    (Constant(temperature=0.7), 0.6)
    """
    if isinstance(value, Strategy):
        return value
    spec = spec_of(value, name)
    return spec if isinstance(spec, Strategy) else spec.make()


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets, braces, parentheses and double quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(depth - 1, 0)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _value(text: str, where: str) -> Any:
    text = text.strip()
    if not text:
        raise SpecError(f"{where}: empty value")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:  # nan, inf, -inf: numbers that the parameter's own check then names
        return float(text)
    except ValueError:
        return text


def parse_assignment(text: str, where: str) -> tuple[str, list]:
    """``KEY=V1,V2,...`` → ``(key, [alternatives])``.

    >>> parse_assignment('temperatures=[0.2,0.9],[1.0]', "--param")
    ('temperatures', [[0.2, 0.9], [1.0]])
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(f"{where}: expected KEY=VALUE, got {text!r}")
    return key, [_value(v, where) for v in _split(values, ",")]


def single(key: str, values: list, where: str) -> Any:
    """The one value of ``key``; alternatives, which only a grid can take, are an error."""
    if len(values) > 1:
        shown = ",".join(_dump(v) for v in values)
        raise SpecError(f"{where}: {key} has {len(values)} values ({shown}) where one setting takes one; "
                        f"write a list in brackets: {key}=[{shown}]")
    return values[0]


def _parse(text: str, where: str | None) -> tuple[str, dict[str, list], str]:
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where or 'strategy'}: needs a strategy name, got {text!r}")
    where = where or f"strategy {text!r}"
    name, *parts = _split(text.strip(), ":")
    axes: dict[str, list] = {}
    for part in parts:
        key, values = parse_assignment(part, where)
        if key in axes:
            raise SpecError(f"{where}: {key!r} is given twice")
        axes[key] = values
    return name.strip(), axes, where


def parse_spec(text: str, *, where: str | None = None, check: bool = True) -> StrategySpec:
    """The one setting ``NAME[:KEY=VALUE]...``, checked by building it once unless ``check=False``
    (when more parameters are still to be added).

    >>> parse_spec('clamp:strategy={"name":"edt","theta":0.6}:max_temp=1.2').make().strategy.theta
    0.6
    >>> parse_spec("sentence:temperatures=[0.2,0.9]").to_dict()
    {'name': 'sentence', 'temperatures': [0.2, 0.9]}
    """
    name, axes, where = _parse(text, where)
    spec = StrategySpec(name, {k: single(k, v, where) for k, v in axes.items()})
    return spec.check(where) if check else spec


def parse_grid(text: str, *, where: str | None = None) -> list[StrategySpec]:
    """Every setting of ``NAME[:KEY=V1,V2,...]...``: each key with alternatives is an axis.

    >>> [s.label for s in parse_grid("edt:theta=0.3,0.6:t0=1.0")]
    ['theta=0.3, t0=1.0', 'theta=0.6, t0=1.0']
    """
    name, axes, where = _parse(text, where)
    return grid(name, axes, where=where)


def parse_params(items: Iterable[str], *, where: str = "--param") -> dict[str, Any]:
    """``KEY=VALUE`` items (one value each) as a parameter dict.

    >>> parse_params(["theta=0.6", "temperatures=[0.2,0.9]"])
    {'theta': 0.6, 'temperatures': [0.2, 0.9]}
    """
    params = {}
    for item in items:
        key, values = parse_assignment(item, where)
        params[key] = single(key, values, f"{where} {item!r}")
    return params


def grid(name: str, axes: Mapping[str, Sequence] | None = None, fixed: Mapping[str, Any] | None = None,
         *, where: str = "strategy") -> list[StrategySpec]:
    """Every combination of the ``axes`` values (with the ``fixed`` parameters), each checked.

    >>> [s.key for s in grid("constant", {"temperature": [0.5, 1.0]})]
    ['constant:temperature=0.5', 'constant:temperature=1.0']
    """
    axes, fixed = dict(axes or {}), dict(fixed or {})
    for key, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise SpecError(f"{where}: grid values of {key!r} must be a non-empty list, got {values!r}")
    both = sorted(set(axes) & set(fixed))
    if both:
        raise SpecError(f"{where}: {', '.join(both)} given both as fixed and in the grid")
    return [StrategySpec(name, {**fixed, **dict(zip(axes, values))}).check(where)
            for values in itertools.product(*axes.values())]

