"""The stage registry: the built-in stages, a user's (``@register_stage``) and a plugin's (the
entry-point group ``dyntemp.stages``: a module that registers its stages when imported)::

    [project.entry-points."dyntemp.stages"]
    top-a = "my_package.stages"

The registry knows the default order of the stages and every declared setting, in the order the
settings object lists them.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Callable, Iterator, TypeVar

from ... import _validate
from .base import Stage
from .declare import Declared, Setting

ENTRY_POINT_GROUP = "dyntemp.stages"
_NAME = re.compile(r"[a-z][a-z0-9_]*")

S = TypeVar("S", bound=type[Stage])

_stages: dict[str, type[Stage]] = {}
_groups: list[Declared] = []  # the order the settings object lists its settings in
_order: list[str] = []  # the default order of the stages
_built_in: set[str] = set()
_plugins_loaded = False


class UnknownStageError(_validate.UnknownName, ValueError):
    """No stage has this name; the message lists the stages and the closest match."""

    what, listing = "stage", "Stages"


def register_stage(name: str, *, after: str | None = None, before: str | None = None) -> Callable[[S], S]:
    """Register a ``Stage`` subclass as stage ``name``, placed in the default order ``after`` or
    ``before`` a stage (default: just before ``temperature``). Its settings become settings of
    ``Sampler``, ``SamplerSettings``, the command line (their flags) and server requests. Returns
    the class unchanged.

    >>> import numpy as np
    >>> from dyntemp.core.stages import Setting, Stage, number
    >>> @register_stage("keep_two_doc_example", after="top_k")
    ... class KeepTwo(Stage):
    ...     settings = (Setting("keep_two", False, "keep the two most likely tokens",
    ...                         lambda name, value: bool(value), off=False),)
    ...     def apply(self, cand, ctx):
    ...         cand.keep(np.argsort(-cand.logits, kind="stable")[:2], True)
    >>> import dyntemp
    >>> dyntemp.Sampler(1.0, keep_two=True, top_k=0, top_p=1.0, min_p=0.0).distribution(np.zeros(5)).round(2)
    array([0.5, 0.5, 0. , 0. , 0. ])
    >>> unregister_stage("keep_two_doc_example")
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a stage name is lower-case letters, digits and '_', starting with a letter; got {name!r}")

    def decorator(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Stage)):
            raise TypeError(f"register_stage({name!r}) needs a subclass of dyntemp.Stage, got {cls!r}")
        if cls.apply is Stage.apply:
            raise TypeError(f"register_stage({name!r}): {cls.__name__} does not implement apply")
        _load_plugins()
        if name in _stages:
            raise ValueError(f"a stage named {name!r} is already registered ({_stages[name].__name__}); pick another "
                             f"name, or unregister_stage({name!r}) first")
        taken = {s.name for s in settings()}
        for setting in cls.settings:
            if not isinstance(setting, Setting):
                raise TypeError(f"register_stage({name!r}): {cls.__name__}.settings must hold Setting objects, got "
                                f"{setting!r}")
            if setting.name in taken or setting.name in ("strategy", "check_strategy"):
                raise ValueError(f"register_stage({name!r}): setting {setting.name!r} is already a setting")
        anchor = after or before or "temperature"
        if anchor not in _order:
            raise UnknownStageError(anchor, list(_order))
        _install(name, cls, _order.index(anchor) + (1 if after else 0))
        return cls

    return decorator


def _install(name: str, cls: type[Stage], position: int | None = None) -> None:
    cls.name = name
    _stages[name] = cls
    _groups.append(Declared(name, tuple(cls.settings)))
    _order.insert(len(_order) if position is None else position, name)


def _install_general(group: Declared) -> None:
    """The sampler's own settings (the bias, min_keep, the order, the seed, the grammar)."""
    _groups.append(group)


def _set_built_in_order(order: tuple[str, ...]) -> None:
    """The built-in stages, all installed, in their default order."""
    _order[:] = order
    _built_in.update(order)


def unregister_stage(name: str) -> None:
    """Remove a stage a user registered (not a built-in)."""
    stage_class(name)
    if name in _built_in:
        raise ValueError(f"stage {name!r} is built in")
    del _stages[name]
    _groups[:] = [group for group in _groups if group.stage != name]
    _order.remove(name)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:
            raise ImportError(f"stages from entry point {ep.value!r} failed to load: {exc}") from exc


def stage_class(name: str) -> type[Stage]:
    """The class of stage ``name``."""
    _load_plugins()
    try:
        return _stages[name]
    except KeyError:
        raise UnknownStageError(name, list(_order)) from None


def default_order() -> tuple[str, ...]:
    """Every stage, in the default order.

    >>> default_order()[:3]
    ('penalties', 'dry', 'top_n_sigma')
    """
    _load_plugins()
    return tuple(_order)


list_stages = default_order


def groups() -> tuple[Declared, ...]:
    """The declared settings, grouped by stage (``None``: the sampler's own), in listing order."""
    _load_plugins()
    return tuple(_groups)


def settings() -> Iterator[Setting]:
    """Every declared setting, in listing order."""
    for group in groups():
        yield from group.settings


def stage_of_setting() -> dict[str, str | None]:
    """The stage each setting belongs to (``None``: the sampler's own)."""
    return {setting.name: group.stage for group in groups() for setting in group.settings}
