"""``GET /v1/strategies``: what ``dyntemp strategies`` lists, as JSON: every strategy with its
parameters and summary, the sampler's stages in their default order with their settings (defaults,
off values, help, request fields, flags), and the sampler's own settings, all from their
declarations."""

from __future__ import annotations

import inspect
import json
from typing import Any

from ..core.stages import default_order, stage_class
from ..core.stages.general import GENERAL
from ..strategies import list_strategies, strategy_parameters
from ..strategies.registry import strategy_summary


def _data(value: Any) -> Any:
    """A default as JSON data (``null`` for none, its text for anything JSON has no form for)."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def catalog() -> dict:
    """Strategies and stages as JSON data.

    >>> data = catalog()
    >>> data["strategies"][0]["name"], data["stages"][0]["stage"]
    ('adapt', 'penalties')
    """
    strategies = []
    for name in list_strategies():
        params = strategy_parameters(name)
        strategies.append({
            "name": name, "summary": strategy_summary(name),
            "parameters": {key: _data(None if default is inspect.Parameter.empty else default)
                           for key, default in params.items()},
            "required": [key for key, default in params.items() if default is inspect.Parameter.empty]})
    stages = [{"stage": stage, "summary": _summary(stage_class(stage)),
               "settings": [_setting(s) for s in stage_class(stage).settings]} for stage in default_order()]
    return {"strategies": strategies, "stages": stages, "order": list(default_order()),
            "sampler": [_setting(s) for s in GENERAL.settings]}


def _setting(setting) -> dict:
    """A declared setting as data: its name, default, off value, help and request fields."""
    return {"setting": setting.name, "default": _data(setting.checked(setting.default)), "off": setting.off,
            "help": setting.help, "fields": list(setting.fields), "flag": setting.flag}


def _summary(cls) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n")[0].replace("\n", " ")
