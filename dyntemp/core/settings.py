"""A sampler's settings: the strategy and every sampler parameter, checked once, immutable, as data.

``SamplerSettings`` is what sweep files, traces, the server and workers carry: it converts to and
from JSON-ready dicts (``to_dict``/``from_dict``), pickles, and builds samplers
(``Sampler.from_settings``). Its settings are those the stages declare (``dyntemp.core.stages``).

The stages, in llama.cpp's default order, with smoothing before the temperature (as KoboldCpp applies
it) and the stages that pick the token last::

    penalties → dry → top_n_sigma → top_k → typical_p → top_p → min_p → xtc → smoothing → temperature
    → mirostat | adaptive_p

Without mirostat or adaptive-p the token is drawn from what the temperature leaves. Unlike
llama.cpp, where ``--mirostat`` replaces the whole chain but the temperature, here mirostat runs
after the stages that are on: ``mirostat_note()`` says so when truncating filters run before it
(``Sampler`` and the command line warn with it).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Mapping

from .. import _validate
from ..strategies import Strategy
from ..strategies.spec import StrategySpec, spec_of
from .stages import SettingError, default_order, registry, stage_class, stage_name
from .stages.declare import Setting

#: The built-in stages in their default order (``dyntemp.core.stages.default_order()`` adds the user's).
STAGES = default_order()
DEFAULT_ORDER = STAGES


class SamplerSettings:
    """Everything that decides how a ``Sampler`` draws, checked when built.

    ``strategy`` takes a name or spec text (``"edt:theta=0.6"``), a table, a ``StrategySpec``, a
    number (a constant temperature) or a ``Strategy``; it is kept as a ``StrategySpec``, or as the
    ``Strategy`` itself when that cannot be written as data (then ``to_dict`` refuses). The other
    settings are ``Sampler``'s keyword arguments, one for each setting a stage declares
    (``dyntemp.core.stages``: the built-in ones and any registered with ``register_stage``), read as
    attributes; ``logit_bias`` is kept as sorted ``(token, bias)`` pairs and ``order`` as a tuple,
    so settings never change once built. ``grammar`` is GBNF text: only the tokens it allows reach
    the filters and the strategy (applied on a model, by ``dyntemp.llama``; see ``Sampler``'s
    ``grammar`` and ``json_schema``). ``check_strategy=False`` takes a ``StrategySpec`` as it is,
    without building it: for settings read back from a record, whose strategy may not be registered
    in the reading process. A value that is not allowed is a ``SettingError`` (a ``ValueError``;
    ``TypeError`` too for a wrong type) whose ``setting`` names it (``None`` when the error is of
    several settings together, as a stage set but left out of ``order``).

    >>> settings = SamplerSettings("edt:theta=0.6", top_k=20, seed=3)
    >>> settings.strategy.key, settings.top_k
    ('edt:theta=0.6', 20)
    >>> SamplerSettings.from_dict(settings.to_dict()) == settings
    True
    >>> SamplerSettings(0.7, top_p=1.5)
    Traceback (most recent call last):
    ...
    dyntemp.core.stages.declare.SettingError: top_p must be <= 1.0, got 1.5
    """

    __slots__ = ("strategy", "_values")

    def __init__(self, strategy: "StrategySpec | Strategy | str | float | Mapping", *, check_strategy: bool = True,
                 **values: Any) -> None:
        declared = {setting.name: setting for setting in registry.settings()}
        for name in values:
            if name not in declared:
                raise TypeError(_unknown_setting(name, declared))
        if check_strategy or not isinstance(strategy, StrategySpec):
            strategy = spec_of(strategy)
        checked = {}
        for name, setting in declared.items():
            checked[name] = setting.checked(values.get(name, setting.default))
        object.__setattr__(self, "strategy", strategy)
        object.__setattr__(self, "_values", checked)
        self._check_stages()

    @classmethod
    def declared(cls) -> tuple[Setting, ...]:
        """Every setting, in the order the settings list them (``strategy`` first, not declared)."""
        return tuple(registry.settings())

    def __contains__(self, name: str) -> bool:
        """Whether ``name`` is one of these settings (``"top_k" in settings``)."""
        return name in self._values

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "_values")[name]
        except KeyError:
            raise AttributeError(f"SamplerSettings has no setting {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"settings do not change: make new ones with "
                                              f"settings.replace({name}=...)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SamplerSettings):
            return NotImplemented
        return self.strategy == other.strategy and self._values == other._values

    def __hash__(self) -> int:
        return hash((self.strategy, tuple(self._values.items())))

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value!r}" for name, value in self._values.items())
        return f"SamplerSettings(strategy={self.strategy!r}, {values})"

    def __reduce__(self):
        return _restore, (self.strategy, self._values)

    def __copy__(self) -> "SamplerSettings":
        return _restore(self.strategy, self._values)

    def __deepcopy__(self, memo) -> "SamplerSettings":
        return _restore(copy.deepcopy(self.strategy, memo), copy.deepcopy(self._values, memo))

    def _check_stages(self) -> None:
        for stage in default_order():
            if stage not in self.order and not self.is_off(stage):
                raise SettingError(f"{stage_class(stage).switched_by(self)} is set but {stage!r} is not in order "
                                   f"{list(self.order)}")
        self._check_picking()

    def _check_picking(self) -> None:
        on = [stage for stage in self.order if not self.is_off(stage)]
        picking = [stage for stage in on if stage_class(stage).picks]
        if len(picking) > 1:
            raise SettingError(f"{stage_class(picking[0]).switched_by(self)} and "
                               f"{stage_class(picking[1]).switched_by(self)} both pick the token; turn one off")
        if picking and on[-1] != picking[0]:
            raise SettingError(f"{picking[0]!r} picks the token, so it runs last, as in llama.cpp; order "
                               f"{list(self.order)} has {on[-1]!r} after it")

    def mirostat_note(self) -> str | None:
        """What these settings do unlike llama.cpp's mirostat, which replaces the truncating filters:
        the ones that run before it here (``None``: none, or no mirostat)."""
        if not self.mirostat:
            return None
        on = [stage for stage in self.order if not self.is_off(stage) and stage_class(stage).truncates]
        if not on:
            return None
        cut = ", ".join(stage_class(stage).switched_by(self) for stage in on)
        return (f"{cut} run before mirostat here; llama.cpp and llama-cpp-python skip them with mirostat: turn them "
                f"off (top_k=0, top_p=1.0, min_p=0.0) to sample as they do")

    def bias_outside(self, n_vocab: int) -> int | None:
        """The first token ``logit_bias`` names that a vocabulary of ``n_vocab`` does not have.

        >>> SamplerSettings(1.0, logit_bias={5: 1.0, 70: -1.0}).bias_outside(50)
        70
        """
        return next((token for token, _ in self.logit_bias if token >= n_vocab), None)

    def is_off(self, stage: str) -> bool:
        """True when ``stage`` changes nothing with these settings (the sampler skips it)."""
        return stage_class(stage).is_off(self)

    def stages(self) -> tuple[str, ...]:
        """The stages that run, in order."""
        return tuple(stage for stage in self.order if not self.is_off(stage))

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
        declared = {setting.name: setting for setting in registry.settings()}
        if changes.keys() == {"seed"}:  # a new seed for each line or choice: the rest was checked once
            return _restore(self.strategy, {**self._values, "seed": declared["seed"].checked(changes["seed"])})
        strategy = changes.pop("strategy", None)
        values = {**self._values, **changes}
        if strategy is None:  # checked when these settings were made
            return SamplerSettings(self.strategy, check_strategy=False, **values)
        return SamplerSettings(strategy, **values)

    def to_dict(self) -> dict:
        """A JSON-ready dict that ``from_dict`` reads back (``logit_bias`` keys as strings, as JSON has them)."""
        if not isinstance(self.strategy, StrategySpec):
            raise TypeError(f"strategy {self.strategy!r} cannot be written as data: register it "
                            f"(dyntemp.register_strategy) and give it parameters that are numbers, text or lists")
        out = {"strategy": self.strategy.to_dict(), **self._values}
        # JSON has no infinity: a ban is written "-inf", which the bias check reads back.
        out["logit_bias"] = {str(token): ("-inf" if bias == -float("inf") else bias) for token, bias in self.logit_bias}
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
        allowed = ["strategy", *(setting.name for setting in registry.settings())]
        for key in data:
            if key not in allowed:
                raise ValueError(f"{where}: {_validate.unknown('key', key, allowed)}")
        if "strategy" not in data:
            raise ValueError(f"{where} needs a strategy")
        values = dict(data)
        strategy = values.pop("strategy")
        if not check_strategy and isinstance(strategy, Mapping):
            strategy = StrategySpec.from_dict(strategy, f"{where}: strategy")
        try:
            return cls(strategy, check_strategy=check_strategy, **values)
        except SettingError as exc:
            raise type(exc)(f"{where}: {exc}", exc.setting, exc.value) from None
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None


def _restore(strategy, values: Mapping[str, Any]) -> SamplerSettings:
    """Settings from values already checked (a copy, a pickle, a new seed)."""
    settings = object.__new__(SamplerSettings)
    object.__setattr__(settings, "strategy", strategy)
    object.__setattr__(settings, "_values", dict(values))
    return settings


# Names users bring from llama.cpp and llama-cpp-python, and what they are called here.
_OTHER_NAMES = {"repeat_last_n": "penalty_last_n", "typical": "typical_p", "samplers": "order",
                "mirostat_mode": "mirostat", "dry_seq_breakers": "dry_sequence_breakers",
                "temp": "the strategy (a number is a constant temperature: Sampler(0.7))",
                "temperature": "the strategy (a number is a constant temperature: Sampler(0.7))"}


def _unknown_setting(name: str, declared: Mapping[str, Setting]) -> str:
    if name in _OTHER_NAMES:
        return f"Sampler has no setting {name!r}: here it is {_OTHER_NAMES[name]}"
    return f"Sampler: {_validate.unknown('setting', name, list(declared))}"


__all__ = ["DEFAULT_ORDER", "STAGES", "SamplerSettings", "stage_name"]
