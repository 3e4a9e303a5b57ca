"""A sampler's settings: the strategy and every sampler parameter, checked once, immutable, as data.

``SamplerSettings`` is what sweep files, traces, the server and workers carry: it converts to and
from JSON-ready dicts (``to_dict``/``from_dict``), pickles, and builds samplers
(``Sampler.from_settings``). The pipeline's stages and the order they run in are defined here.

The stages, in llama.cpp's default order::

    penalties → top_n_sigma → top_k → typical_p → top_p → min_p → xtc → temperature
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import InitVar, dataclass
from typing import Any, Mapping, Sequence

from .. import _validate
from ..strategies import Strategy
from ..strategies.spec import StrategySpec, spec_of
from . import filters
from .numerics import FLOAT32_MAX
from .penalties import check_penalties, penalties_neutral

STAGES = ("penalties", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc", "temperature")
DEFAULT_ORDER = STAGES
_ALIASES = {"typical": "typical_p", "typ_p": "typical_p", "temp": "temperature", "penalty": "penalties"}
_NOT_STAGES = ("dry", "mirostat", "mirostat_v2", "infill", "grammar")


def stage_name(name: str) -> str:
    """The canonical stage name for ``name`` (accepts llama.cpp's spellings such as ``typ_p``)."""
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _NOT_STAGES:
        raise ValueError(f"llama.cpp's {key!r} sampler is not a dyntemp stage; leave it out of order "
                         f"(stages are {', '.join(STAGES)})")
    if key not in STAGES:
        raise ValueError(f"unknown stage {name!r} in order; stages are {', '.join(STAGES)}")
    return key


@dataclass(frozen=True)
class SamplerSettings:
    """Everything that decides how a ``Sampler`` draws, checked when built.

    ``strategy`` takes a name or spec text (``"edt:theta=0.6"``), a table, a ``StrategySpec``, a
    number (a constant temperature) or a ``Strategy``; it is kept as a ``StrategySpec``, or as the
    ``Strategy`` itself when that cannot be written as data (then ``to_dict`` refuses). The other
    fields are ``Sampler``'s keyword arguments; ``logit_bias`` is kept as sorted ``(token, bias)``
    pairs and ``order`` as a tuple, so settings never change once built. ``grammar`` is GBNF text:
    only the tokens it allows reach the filters and the strategy (applied on a model, by
    ``dyntemp.llama``; see ``Sampler``'s ``grammar`` and ``json_schema``). ``check_strategy=False``
    takes a ``StrategySpec`` as it is, without building it: for settings read back from a record,
    whose strategy may not be registered in the reading process.

    >>> settings = SamplerSettings("edt:theta=0.6", top_k=20, seed=3)
    >>> settings.strategy.key, settings.top_k
    ('edt:theta=0.6', 20)
    >>> SamplerSettings.from_dict(settings.to_dict()) == settings
    True
    >>> SamplerSettings(0.7, top_p=1.5)
    Traceback (most recent call last):
    ...
    ValueError: top_p must be <= 1.0, got 1.5
    """

    strategy: "StrategySpec | Strategy"
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    top_n_sigma: float = -1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    penalty_last_n: int = 64
    logit_bias: "Mapping[int, float] | tuple[tuple[int, float], ...]" = ()
    min_keep: int = 1
    order: "Sequence[str] | str" = DEFAULT_ORDER
    seed: int | None = None
    grammar: str | None = None
    xtc_probability: float = 0.0
    xtc_threshold: float = 0.1
    check_strategy: InitVar[bool] = True

    def __new__(cls, *args: Any, **kwargs: Any) -> "SamplerSettings":
        # Here, before the generated __init__, so that a name from llama.cpp or a typo gets a useful message.
        for name in kwargs:
            if name not in _NAMES:
                raise TypeError(_unknown_setting(name))
        return super().__new__(cls)

    def __post_init__(self, check_strategy: bool) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if check_strategy or not isinstance(self.strategy, StrategySpec):
            put("strategy", spec_of(self.strategy))
        put("top_k", _validate.integer("top_k", self.top_k, low=0))
        for name in ("top_p", "min_p", "typical_p", "xtc_probability", "xtc_threshold"):
            put(name, _validate.number(name, getattr(self, name), low=0.0, high=1.0))
        put("top_n_sigma", _validate.number("top_n_sigma", self.top_n_sigma))
        for name, value in zip(("repeat_penalty", "frequency_penalty", "presence_penalty", "penalty_last_n"),
                               check_penalties(self.repeat_penalty, self.frequency_penalty, self.presence_penalty,
                                               self.penalty_last_n, "penalty_last_n")):
            put(name, value)
        put("logit_bias", _check_bias(self.logit_bias))
        put("min_keep", _validate.integer("min_keep", self.min_keep, low=0))
        put("order", _check_order(self.order))
        if self.seed is not None:
            put("seed", _validate.integer("seed", self.seed, low=0))
        if self.grammar is not None and (not isinstance(self.grammar, str) or not self.grammar.strip()):
            raise TypeError(f"grammar must be GBNF text, got {self.grammar!r:.80}")
        for stage in STAGES:
            if stage not in self.order and not self.is_off(stage):
                setting = (f"repeat_penalty={self.repeat_penalty}, frequency_penalty={self.frequency_penalty}, "
                           f"presence_penalty={self.presence_penalty}" if stage == "penalties"
                           else f"xtc_probability={self.xtc_probability}" if stage == "xtc"
                           else f"{stage}={getattr(self, stage)!r}")
                raise ValueError(f"{setting} is set but {stage!r} is not in order {list(self.order)}")

    def is_off(self, stage: str) -> bool:
        """True when ``stage`` changes nothing with these settings (the sampler skips it)."""
        if stage == "penalties":
            return penalties_neutral(self.repeat_penalty, self.frequency_penalty, self.presence_penalty,
                                     self.penalty_last_n)
        if stage == "xtc":
            return self.xtc_probability <= 0.0 or filters.is_off("xtc", self.xtc_threshold)
        return stage != "temperature" and filters.is_off(stage, getattr(self, stage))

    def plan(self) -> tuple:
        """The stages that run, in order: ``(name, keep function or None, value)``."""
        value = {"xtc": self.xtc_threshold}
        return tuple((stage, filters.KEEP.get(stage), value.get(stage, getattr(self, stage, None)))
                     for stage in self.order if not self.is_off(stage))

    def make_strategy(self) -> Strategy:
        """A fresh strategy for one generation (a copy when the settings hold an instance)."""
        if isinstance(self.strategy, StrategySpec):
            return self.strategy.make()
        return copy.deepcopy(self.strategy)

    def replace(self, **changes: Any) -> "SamplerSettings":
        """New settings with ``changes`` applied and checked.

        >>> SamplerSettings("edt").replace(seed=5).seed
        5
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """A JSON-ready dict that ``from_dict`` reads back (``logit_bias`` keys as strings, as JSON has them)."""
        if not isinstance(self.strategy, StrategySpec):
            raise TypeError(f"strategy {self.strategy!r} cannot be written as data: register it "
                            f"(dyntemp.register_strategy) and give it parameters that are numbers, text or lists")
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["strategy"] = self.strategy.to_dict()
        # JSON has no infinity: a ban is written "-inf", which _check_bias reads back.
        out["logit_bias"] = {str(token): ("-inf" if bias == -math.inf else bias) for token, bias in self.logit_bias}
        out["order"] = list(self.order)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "settings", *,
                  check_strategy: bool = True) -> "SamplerSettings":
        """Settings from a dict such as ``to_dict`` writes; missing keys take their defaults.
        ``check_strategy=False`` reads the strategy's table without building it."""
        if not isinstance(data, Mapping):
            raise TypeError(f"{where} must be a table of sampler settings, got {data!r}")
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in allowed:
                raise ValueError(f"{where}: {_validate.unknown('key', key, allowed)}")
        if "strategy" not in data:
            raise ValueError(f"{where} needs a strategy")
        values = dict(data)
        if not check_strategy and isinstance(values["strategy"], Mapping):
            values["strategy"] = StrategySpec.from_dict(values["strategy"], f"{where}: strategy")
        try:
            return cls(**values, check_strategy=check_strategy)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None


# Names users bring from llama.cpp and llama-cpp-python, and what they are called here.
_OTHER_NAMES = {"repeat_last_n": "penalty_last_n", "typical": "typical_p", "samplers": "order",
                "temp": "the strategy (a number is a constant temperature: Sampler(0.7))",
                "temperature": "the strategy (a number is a constant temperature: Sampler(0.7))"}
_NAMES = frozenset(f.name for f in dataclasses.fields(SamplerSettings)) | {"check_strategy"}


def _unknown_setting(name: str) -> str:
    if name in _OTHER_NAMES:
        return f"Sampler has no setting {name!r}: here it is {_OTHER_NAMES[name]}"
    settings = [f.name for f in dataclasses.fields(SamplerSettings) if f.name != "strategy"]
    return f"Sampler: {_validate.unknown('setting', name, settings)}"


def _check_bias(logit_bias: object) -> tuple[tuple[int, float], ...]:
    if logit_bias is None:
        return ()
    if isinstance(logit_bias, (list, tuple)):  # (token, bias) pairs, as settings keep them
        if not all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in logit_bias):
            raise TypeError(f"logit_bias must be a mapping of token id to bias or (token, bias) pairs, "
                            f"got {logit_bias!r}")
        logit_bias = dict(logit_bias)
    if not isinstance(logit_bias, Mapping):
        raise TypeError(f"logit_bias must be a mapping of token id to bias, got {logit_bias!r}")
    out = {}
    for token, bias in logit_bias.items():
        if isinstance(token, str) and token.isdigit():
            token = int(token)  # JSON object keys
        token = _validate.integer("logit_bias token id", token, low=0)
        if bias == -math.inf or bias == "-inf":
            out[token] = -math.inf
            continue
        try:
            out[token] = _validate.number(f"logit_bias[{token}]", bias, low=-FLOAT32_MAX, high=FLOAT32_MAX)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (a bias is a number; -inf, or \"-inf\" in JSON, bans the token)") from None
    return tuple(sorted(out.items()))


def _check_order(order: "Sequence[str] | str") -> tuple[str, ...]:
    if not isinstance(order, (str, Sequence)):
        raise TypeError(f"order must be a list of stage names or a ';'-separated string, got {order!r}")
    if isinstance(order, str):
        order = [s for s in order.replace(",", ";").split(";") if s.strip()]
    for stage in order:
        if not isinstance(stage, str):
            raise TypeError(f"order must hold stage names, got {stage!r} in {list(order)!r}")
    names = tuple(stage_name(s) for s in order)
    for name in set(names):
        if names.count(name) > 1:
            raise ValueError(f"stage {name!r} appears {names.count(name)} times in order {list(order)}")
    if "temperature" not in names:
        raise ValueError(f"order {list(order)} has no 'temperature' stage: the strategy would never run")
    return names

