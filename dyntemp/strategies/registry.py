"""The strategy registry: built-ins by name, user strategies by decorator, plugins by entry point.

Third-party packages register strategies in the entry-point group ``dyntemp.strategies``::

    [project.entry-points."dyntemp.strategies"]
    my-strategy = "my_package.strategies:MyStrategy"

They are listed with the built-ins and imported on first use.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
import warnings
from importlib import metadata
from typing import Callable, TypeVar

from .. import _validate
from .base import Strategy

ENTRY_POINT_GROUP = "dyntemp.strategies"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

F = TypeVar("F", bound=Callable[..., Strategy])

_registry: dict[str, Callable[..., Strategy]] = {}
_entry_points: dict[str, metadata.EntryPoint] | None = None
_from_plugins: set[str] = set()


class UnknownStrategyError(_validate.UnknownName):
    """No strategy has this name; the message lists the known names and the closest match."""

    what, listing = "strategy", "Known strategies"


def register_strategy(name: str, *, replace: bool = False) -> Callable[[F], F]:
    """Register a ``Strategy`` subclass (or a factory returning one) under ``name``.

    Returns the decorated object unchanged. A name already taken raises ``ValueError`` unless
    ``replace=True`` (for a notebook cell run again). A subclass that does not implement
    ``temperature`` is refused here rather than when first used.

    >>> @register_strategy("half-doc-example")
    ... class Half(Strategy):
    ...     def temperature(self, step):
    ...         return 0.5
    >>> get_strategy("half-doc-example").temperature(None)
    0.5
    >>> unregister_strategy("half-doc-example")
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"strategy name must be letters, digits, '-', '_' or '.', starting with a letter or digit; got {name!r}"
        )

    def decorator(obj: F) -> F:
        if not callable(obj):
            raise TypeError(f"register_strategy({name!r}) needs a Strategy subclass or a factory, got {obj!r}")
        if name in _registry and not replace:
            raise ValueError(
                f"a strategy named {name!r} is already registered ({_registry[name]!r}); pick another name, "
                f"call unregister_strategy({name!r}) first, or pass replace=True"
            )
        if inspect.isclass(obj):
            if not issubclass(obj, Strategy):
                raise TypeError(f"register_strategy({name!r}): {obj.__name__} is not a subclass of dyntemp.Strategy")
            if inspect.isabstract(obj):
                missing = ", ".join(sorted(obj.__abstractmethods__))
                raise TypeError(f"register_strategy({name!r}): {obj.__name__} does not implement {missing}")
        _registry[name] = obj
        return obj

    return decorator


def unregister_strategy(name: str) -> None:
    """Remove a registered strategy (a plugin's stays listed through its entry point)."""
    if name not in _registry:
        raise UnknownStrategyError(name, list_strategies())
    del _registry[name]
    _from_plugins.discard(name)


def _plugins(refresh: bool = False) -> dict[str, metadata.EntryPoint]:
    global _entry_points
    if _entry_points is None or refresh:
        _entry_points = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _registry and ep.name not in _from_plugins:
                warnings.warn(f"entry point {ep.value!r} declares strategy {ep.name!r}, a name already taken by "
                              f"{_registry[ep.name]!r}; the entry point is ignored", stacklevel=3)
            else:
                _entry_points[ep.name] = ep
    return _entry_points


def list_strategies(pattern: str = "*") -> list[str]:
    """Sorted names of every strategy, built-in, registered or from a plugin, matching ``pattern``.

    >>> list_strategies("sentence*")
    ['sentence', 'sentence-position']
    """
    names = set(_registry) | set(_plugins())
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def strategy_factory(name: str) -> Callable[..., Strategy]:
    """The class or factory registered under ``name`` (importing a plugin on first use)."""
    if name in _registry:
        return _registry[name]
    ep = _plugins().get(name) or _plugins(refresh=True).get(name)
    if ep is None:
        raise UnknownStrategyError(name, list_strategies())
    try:
        obj = ep.load()
    except Exception as exc:
        raise ImportError(f"strategy {name!r} from entry point {ep.value!r} failed to load: {exc}") from exc
    if name not in _registry:
        register_strategy(name)(obj)
    _from_plugins.add(name)
    return _registry[name]


def get_strategy(name: "str | Strategy", **params) -> Strategy:
    """A ``Strategy`` instance: ``name`` looked up in the registry and built with ``params``.

    >>> get_strategy("edt", theta=0.6)
    EDT(t0=1.0, n=0.8, theta=0.6, entropy_floor=1e-06, min_temp=0.0, max_temp=inf)
    """
    if isinstance(name, Strategy):
        if params:
            raise TypeError(f"parameters {sorted(params)} given with a ready Strategy instance {name!r}")
        return name
    if not isinstance(name, str):
        raise TypeError(f"strategy must be a name or a Strategy instance, got {name!r}")
    factory = strategy_factory(name)
    _check_params(name, factory, params)
    strategy = factory(**params)
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy {name!r} built {strategy!r}, which is not a dyntemp.Strategy")
    strategy.name = name
    return strategy


def registered_name(factory: Callable) -> str | None:
    """The name ``factory`` (a class or function) is registered under, if any."""
    return next((name for name, obj in _registry.items() if obj is factory), None)


def strategy_parameters(name: str) -> dict[str, object]:
    """Parameter names of strategy ``name`` with their defaults (``inspect.Parameter.empty``: required)."""
    return {p.name: p.default for p in inspect.signature(strategy_factory(name)).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def strategy_summary(name: str) -> str:
    """The first sentence of strategy ``name``'s documentation, as listings show it.

    >>> strategy_summary("constant")
    'The same ``temperature`` for every token (0 is greedy).'
    """
    paragraph = " ".join((inspect.getdoc(strategy_factory(name)) or "").split("\n\n")[0].split())
    head, dot, _ = paragraph.partition(". ")
    return head + dot.strip()


def _check_params(name: str, factory: Callable, params: dict) -> None:
    sig = inspect.signature(factory)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    allowed = [p.name for p in sig.parameters.values() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for key in params:
        if key not in allowed:
            raise TypeError(f"strategy {name!r}: {_validate.unknown('parameter', key, allowed, listing='Its parameters')}")
    missing = [p.name for p in sig.parameters.values()
               if p.default is p.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in params]
    if missing:
        raise TypeError(f"strategy {name!r} needs parameter(s) {', '.join(missing)}")
