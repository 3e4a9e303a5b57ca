"""A sampler's settings: the strategy and every sampler parameter, checked once, immutable, as data.

``SamplerSettings`` is what sweep files, traces, the server and workers carry: it converts to and
from JSON-ready dicts (``to_dict``/``from_dict``), pickles, and builds samplers
(``Sampler.from_settings``). The pipeline's stages and the order they run in are defined here.

The stages, in llama.cpp's default order, with smoothing before the temperature (as KoboldCpp applies
it) and the stages that pick the token last::

    penalties → dry → top_n_sigma → top_k → typical_p → top_p → min_p → xtc → smoothing → temperature
    → mirostat | adaptive_p

Without mirostat or adaptive-p the token is drawn from what the temperature leaves. Unlike
llama.cpp, where ``--mirostat`` replaces the whole chain but the temperature, here mirostat runs
after the stages that are on: ``SamplerSettings`` warns when truncating filters run before it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from dataclasses import InitVar, dataclass
from typing import Any, Mapping, Sequence

from .. import _validate
from ..strategies import Strategy
from ..strategies.spec import StrategySpec, spec_of
from . import filters
from .dry import DEFAULT_SEQUENCE_BREAKERS, MAX_BREAKER_BYTES, dry_is_off
from .numerics import FLOAT32_MAX
from .penalties import check_penalties, penalties_neutral
from .smoothing import smoothing_is_off

STAGES = ("penalties", "dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc", "smoothing",
          "temperature", "mirostat", "adaptive_p")
DEFAULT_ORDER = STAGES
#: The stages that pick the token: at most one is on, and nothing after it.
PICKING = ("mirostat", "adaptive_p")
_TRUNCATING = ("top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc")
_ALIASES = {"typical": "typical_p", "typ_p": "typical_p", "temp": "temperature", "penalty": "penalties",
            "quadratic_sampling": "smoothing"}
_NOT_STAGES = {"mirostat_v2": "the mirostat stage is 'mirostat'; its version is the mirostat setting (1 or 2)",
               "infill": "llama.cpp's 'infill' sampler is not a dyntemp stage; leave it out of order",
               "grammar": "a grammar is not a stage: give Sampler(grammar=...), which applies it before every stage"}


def stage_name(name: str) -> str:
    """The canonical stage name for ``name`` (accepts llama.cpp's spellings such as ``typ_p``)."""
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _NOT_STAGES:
        raise ValueError(f"{_NOT_STAGES[key]} (stages are {', '.join(STAGES)})")
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
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_penalty_last_n: int = -1
    dry_sequence_breakers: "Sequence[str]" = DEFAULT_SEQUENCE_BREAKERS
    smoothing_factor: float = 0.0
    smoothing_curve: float = 1.0
    mirostat: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    adaptive_target: float = -1.0
    adaptive_decay: float = 0.9
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
        put("seed", _check_seed(self.seed))
        if self.grammar is not None and (not isinstance(self.grammar, str) or not self.grammar.strip()):
            raise TypeError(f"grammar must be GBNF text, got {self.grammar!r:.80}")
        self._check_samplers(put)
        for stage in STAGES:
            if stage not in self.order and not self.is_off(stage):
                raise ValueError(f"{_stage_setting(self, stage)} is set but {stage!r} is not in order {list(self.order)}")
        self._check_picking()

    def _check_samplers(self, put) -> None:
        """DRY, smoothing, mirostat and adaptive-p: llama.cpp's (and text-generation-webui's) ranges."""
        put("dry_multiplier", _validate.number("dry_multiplier", self.dry_multiplier, low=0.0))
        put("dry_base", _validate.number("dry_base", self.dry_base, low=1.0))
        put("dry_allowed_length", _validate.integer("dry_allowed_length", self.dry_allowed_length, low=0))
        put("dry_penalty_last_n", _validate.integer("dry_penalty_last_n", self.dry_penalty_last_n, low=-1))
        put("dry_sequence_breakers", _check_breakers(self.dry_sequence_breakers))
        put("smoothing_factor", _validate.number("smoothing_factor", self.smoothing_factor, low=0.0))
        put("smoothing_curve", _validate.number("smoothing_curve", self.smoothing_curve))
        if isinstance(self.mirostat, bool) or self.mirostat not in (0, 1, 2):
            raise ValueError(f"mirostat must be 0 (off), 1 or 2 (the version), got {self.mirostat!r}")
        put("mirostat", int(self.mirostat))
        put("mirostat_tau", _validate.number("mirostat_tau", self.mirostat_tau, low=0.0))
        put("mirostat_eta", _validate.number("mirostat_eta", self.mirostat_eta, low=0.0))
        # A negative target turns adaptive-p off, as in llama.cpp; decay is where llama.cpp clamps it.
        put("adaptive_target", _validate.number("adaptive_target", self.adaptive_target, high=1.0))
        put("adaptive_decay", _validate.number("adaptive_decay", self.adaptive_decay, low=0.0, high=0.99))

    def _check_picking(self) -> None:
        on = [stage for stage in self.order if not self.is_off(stage)]
        picking = [stage for stage in on if stage in PICKING]
        if len(picking) > 1:
            raise ValueError(f"{_stage_setting(self, picking[0])} and {_stage_setting(self, picking[1])} both pick "
                             f"the token; turn one off")
        if picking and on[-1] != picking[0]:
            raise ValueError(f"{picking[0]!r} picks the token, so it runs last, as in llama.cpp; order "
                             f"{list(self.order)} has {on[-1]!r} after it")
        if self.mirostat and any(stage in _TRUNCATING for stage in on):
            cut = ", ".join(_stage_setting(self, stage) for stage in on if stage in _TRUNCATING)
            # Issued from here, not the caller's line: settings are rebuilt often (replace, workers), and
            # Python shows a warning once per place and text.
            warnings.warn(f"{cut} run before mirostat here; llama.cpp and llama-cpp-python skip them with mirostat: "
                          f"turn them off (top_k=0, top_p=1.0, min_p=0.0) to sample as they do", stacklevel=1)

    def is_off(self, stage: str) -> bool:
        """True when ``stage`` changes nothing with these settings (the sampler skips it)."""
        if stage == "penalties":
            return penalties_neutral(self.repeat_penalty, self.frequency_penalty, self.presence_penalty,
                                     self.penalty_last_n)
        if stage == "xtc":
            return self.xtc_probability <= 0.0 or filters.is_off("xtc", self.xtc_threshold)
        if stage in _OFF:
            return _OFF[stage](self)
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
        if changes.keys() == {"seed"}:  # a new seed for each line or choice: the rest was checked once
            changed = copy.copy(self)
            object.__setattr__(changed, "seed", _check_seed(changes["seed"]))
            return changed
        if "strategy" not in changes:  # checked when these settings were made
            changes["check_strategy"] = False
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
        out["dry_sequence_breakers"] = list(self.dry_sequence_breakers)
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


_OFF = {"dry": lambda s: dry_is_off(s.dry_multiplier, s.dry_penalty_last_n),
        "smoothing": lambda s: smoothing_is_off(s.smoothing_factor),
        "mirostat": lambda s: s.mirostat == 0,
        "adaptive_p": lambda s: s.adaptive_target < 0.0}
# The setting that turns each stage on, for messages.
_TURNS_ON = {"xtc": "xtc_probability", "dry": "dry_multiplier", "smoothing": "smoothing_factor",
             "adaptive_p": "adaptive_target"}


def _stage_setting(settings: SamplerSettings, stage: str) -> str:
    if stage == "penalties":
        return (f"repeat_penalty={settings.repeat_penalty}, frequency_penalty={settings.frequency_penalty}, "
                f"presence_penalty={settings.presence_penalty}")
    name = _TURNS_ON.get(stage, stage)
    return f"{name}={getattr(settings, name)!r}"


def _check_breakers(breakers: object) -> tuple[str, ...]:
    if isinstance(breakers, str) or not isinstance(breakers, Sequence):
        raise TypeError(f"dry_sequence_breakers must be a list of strings, got {breakers!r}")
    for text in breakers:
        if not isinstance(text, str) or not text:
            raise ValueError(f"dry_sequence_breakers must hold non-empty strings, got {text!r} in {list(breakers)!r}")
        if len(text.encode("utf-8")) > MAX_BREAKER_BYTES:
            raise ValueError(f"a DRY sequence breaker is at most {MAX_BREAKER_BYTES} bytes (as in llama.cpp), got "
                             f"{text!r:.60}")
    return tuple(breakers)


# Names users bring from llama.cpp and llama-cpp-python, and what they are called here.
_OTHER_NAMES = {"repeat_last_n": "penalty_last_n", "typical": "typical_p", "samplers": "order",
                "mirostat_mode": "mirostat", "dry_seq_breakers": "dry_sequence_breakers",
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


def _check_seed(seed: int | None) -> int | None:
    return None if seed is None else _validate.integer("seed", seed, low=0)


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

