"""``generate``'s strategy flags and the one strategy spec they make.

``--strategy`` (a name or spec text), ``--rules FILE``, ``--sentence-temps`` and ``--preset FILE``
choose a strategy; without one, the strategy is the constant ``--temp`` (0.8 when not given). A
preset (a sweep file of one setting, as ``dyntemp tune`` writes) also gives sampler settings, which
the command line's own flags override (``preset_sampler``). ``--param`` items add
parameters. No flag is ever ignored: a value given twice, or given where it has no effect, is an
error that says which flag to use instead.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..strategies.constant import LLAMA_CPP_TEMPERATURE as DEFAULT_TEMPERATURE
from ..strategies.registry import UnknownStrategyError, strategy_parameters
from ..strategies.spec import SpecError, StrategySpec, parse_params, parse_spec
from .common import check_input_file
from .errors import UsageError, describe_oserror



def add_strategy_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", "-s", metavar="NAME[:KEY=VALUE...]",
                        help="a registered strategy, with parameters if you like (see: dyntemp strategies NAME)")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                        help="a strategy parameter; repeat for more (values: numbers, text, or JSON such as [0.2,0.9])")
    parser.add_argument("--rules", metavar="FILE", help="a TOML or JSON rules file (the rules strategy)")
    parser.add_argument("--sentence-temps", metavar="T1,T2,...", help="one temperature per sentence, the last repeats")
    parser.add_argument("--preset", metavar="FILE.toml", help="a preset: a sweep file of one setting, its strategy "
                        "and [sampler] settings (dyntemp tune writes best.toml); sampler flags given here override it")
    parser.add_argument("--temp", type=float, default=None, metavar="T",
                        help=f"temperature of the default constant strategy ({DEFAULT_TEMPERATURE}); other "
                             "strategies take their own parameters (--param)")


def strategy_spec(args) -> StrategySpec:
    """The checked strategy spec of the command line (a ``UsageError`` when it cannot be).

    >>> import argparse
    >>> flags = dict(strategy=None, rules=None, sentence_temps=None, temp=None, param=[])
    >>> strategy_spec(argparse.Namespace(**flags)).key
    'constant:temperature=0.8'
    >>> strategy_spec(argparse.Namespace(**{**flags, "strategy": "edt", "param": ["theta=0.6"]})).key
    'edt:theta=0.6'
    >>> strategy_spec(argparse.Namespace(**{**flags, "strategy": "edt", "temp": 0.5}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dyntemp.cli.errors.UsageError: --temp sets the temperature of the default strategy ...; with --strategy edt, give its own ...)
    """
    preset = getattr(args, "preset", None)
    chosen = [flag for flag, given in (("--rules", args.rules), ("--sentence-temps", args.sentence_temps),
                                        ("--strategy", args.strategy)) if given]
    if preset and (chosen or args.temp is not None):
        raise UsageError(f"--preset {preset} gives the strategy; leave out {(chosen or ['--temp'])[0]}, or the preset")
    strategy_name = args.strategy.partition(":")[0].strip() if args.strategy else ""
    if chosen[:2] in (["--rules", "--strategy"], ["--sentence-temps", "--strategy"]) and len(chosen) == 2 \
            and strategy_name == {"--rules": "rules", "--sentence-temps": "sentence"}[chosen[0]]:
        chosen = chosen[:1]  # --strategy names the strategy the shortcut flag gives: they agree
    if len(chosen) > 1:
        raise UsageError(f"give one of --strategy, --rules, --sentence-temps, not {' and '.join(chosen)}")
    if args.temp is not None and chosen:
        name = args.strategy.partition(":")[0].strip() if args.strategy else ""
        raise UsageError(_temp_with(chosen[0], name))
    params: dict[str, Any] = {}
    given_by: dict[str, str] = {}

    def add(values: dict, flag: str) -> None:
        for key, value in values.items():
            if key in params:
                raise UsageError(f"the strategy parameter {key!r} is given twice: by {given_by[key]} and by {flag}")
            params[key], given_by[key] = value, flag

    try:
        if args.strategy and chosen[0] != "--strategy":  # --strategy rules with --rules, say: its parameters too
            add(dict(parse_spec(args.strategy, where=f"--strategy {args.strategy!r}", check=False).params),
                f"--strategy {args.strategy}")
        if args.rules:
            name = "rules"
            add({"file": check_input_file("--rules", args.rules)}, "--rules")
        elif args.sentence_temps:
            name = "sentence"
            add({"temperatures": _temperatures(args.sentence_temps)}, "--sentence-temps")
        elif args.strategy:
            spec = parse_spec(args.strategy, where=f"--strategy {args.strategy!r}", check=False)
            name = spec.name
            add(dict(spec.params), f"--strategy {args.strategy}")
        elif preset:
            spec, _ = load_preset(preset)
            name = spec.name
            add(dict(spec.params), f"--preset {preset}")
        else:
            name = "constant"
        for item in args.param:
            add(parse_params([item]), f"--param {item}")
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if name == "constant" and args.temp is not None:
        if "temperature" in params:
            raise UsageError(f"--temp {args.temp} and {given_by['temperature']} both set the constant strategy's "
                             f"temperature: give one")
        params["temperature"] = args.temp
    elif name == "constant" and not preset:
        params.setdefault("temperature", DEFAULT_TEMPERATURE)
    if name == "rules":
        _check_rules(params, given_by)
    where = (f"--strategy {args.strategy!r}" if args.strategy else chosen[0] if chosen
             else f"--preset {preset}" if preset else "--param")
    try:
        return StrategySpec(name, params).check(where)
    except SpecError as exc:
        default = "" if chosen else " (without --strategy, the strategy is constant)"
        raise UsageError(f"{exc}{default}") from None


def load_preset(path: str) -> tuple[StrategySpec, dict]:
    """A preset file's strategy spec and sampler settings, or a usage error naming what is wrong.

    >>> load_preset("/nonexistent.toml")
    Traceback (most recent call last):
    ...
    dyntemp.cli.errors.UsageError: --preset /nonexistent.toml: no such file or directory
    """
    from ..eval.spec import SweepSpecError, load_sweep

    check_input_file("--preset", path)
    try:
        sweep = load_sweep(path)
    except SweepSpecError as exc:
        raise UsageError(f"--preset: {exc}") from None
    if len(sweep.settings) != 1:
        raise UsageError(f"--preset {path}: a preset holds one setting, this file has {len(sweep.settings)} "
                         f"(a sweep file: give it to dyntemp eval --config)")
    return sweep.settings[0], dict(sweep.sampler)


def preset_sampler(args) -> dict:
    """The sampler settings of ``--preset`` (none without one): the defaults the command line's
    sampler flags override."""
    preset = getattr(args, "preset", None)
    return load_preset(preset)[1] if preset else {}


def _temp_with(flag: str, name: str) -> str:
    start = ("--temp sets the temperature of the default strategy (constant, when none of --strategy, --rules, "
             "--sentence-temps is given)")
    if flag == "--sentence-temps":
        return f"{start}; --sentence-temps gives the temperatures itself"
    if flag == "--rules":
        return f"{start}; the rules set or scale their base strategy's temperature: give it with --param base=T"
    try:
        names = list(strategy_parameters(name))
    except UnknownStrategyError:
        names = []
    if "temperature" in names:
        return f"{start}; with --strategy {name}, give --param temperature=T"
    listed = f" ({name}'s parameters: {', '.join(names)}; see: dyntemp strategies {name})" if names else ""
    return f"{start}; with --strategy {name}, give its own parameters with --param KEY=VALUE{listed}"


def _check_rules(params: dict, given_by: dict) -> None:
    if "rules" not in params and "file" not in params:
        raise UsageError("the rules strategy needs rules: give --rules FILE (or --param file=FILE, or "
                         "--param rules=[...])")
    path = params.get("file")
    if isinstance(path, str) and given_by["file"] != "--rules":
        label = "--param file" if given_by["file"].startswith("--param") else "--strategy rules:file"
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(describe_oserror(exc, None, f"{label}={path}")) from None


def _temperatures(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--sentence-temps takes numbers separated by commas, got {text!r}") from None
