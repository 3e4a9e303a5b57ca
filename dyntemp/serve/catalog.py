"""``GET /v1/strategies``: what ``dyntemp strategies`` lists, as JSON: every strategy with its
parameters and summary, and the sampler's stages in their default order with their settings,
defaults and off values."""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Any

from ..core.options import OFF_VALUES, SETTING_STAGE
from ..core.settings import STAGES, SamplerSettings
from ..strategies import list_strategies, strategy_parameters
from ..strategies.registry import strategy_summary

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SamplerSettings)}


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
    stages = [{"stage": stage, "settings": [
        {"setting": setting, "default": _data(_DEFAULTS[setting]), "off": OFF_VALUES.get(setting)}
        for setting, of in SETTING_STAGE.items() if of == stage]} for stage in STAGES]
    return {"strategies": strategies, "stages": stages, "order": list(STAGES)}
