"""``dyntemp strategies [NAME]``: every registered strategy with its parameters and one line of its
doc, then the sampler's stages in order with their flags; or one strategy's whole documentation."""

from __future__ import annotations

import inspect

from ..core.stages import default_order, stage_class
from ..core.stages.general import GENERAL
from ..strategies import list_strategies, search_space, strategy_factory, strategy_parameters
from ..strategies.registry import UnknownStrategyError, strategy_summary
from .common import add_import_flag, values_of
from .errors import UsageError


def add_parser(commands) -> None:
    strategies = commands.add_parser(
        "strategies", help="list every strategy with its parameters, or show one in full",
        description="List every registered strategy with its parameters and the first sentence of its doc, "
                    "then the sampler's stages in their default order with their flags, defaults and off values; "
                    "with NAME, show that strategy's whole documentation.")
    strategies.add_argument("name", nargs="?", metavar="NAME", help="one strategy to show in full")
    add_import_flag(strategies)
    strategies.set_defaults(run=run)


def signature(name: str) -> str:
    """``name(parameter=default, ...)``, as a strategy is listed.

    >>> signature("constant")
    'constant(temperature=1.0)'
    """
    params = ", ".join(key if default is inspect.Parameter.empty else f"{key}={default!r}"
                       for key, default in strategy_parameters(name).items())
    return f"{name}({params})"


def describe(name: str) -> str:
    """One strategy's whole documentation: its signature, its doc, its parameters and how to use it.

    >>> print(describe("constant").splitlines()[0])
    constant(temperature=1.0)
    """
    factory = strategy_factory(name)
    doc = inspect.getdoc(factory) or "(no documentation)"
    params = strategy_parameters(name)
    lines = [signature(name), "", doc, "", "parameters:"]
    for key, default in params.items():
        lines.append(f"  {key}" + (" (required)" if default is inspect.Parameter.empty else f" = {default!r}"))
    if not params:
        lines.append("  (none)")
    space = search_space(name)
    lines += ["", "search space (dyntemp tune):"]
    lines += [f"  {key}: {value.describe()}" for key, value in space.items()] or [
        "  (none declared: dyntemp tune cannot tune it; see dyntemp.strategies.search)"]
    example = ":".join([name, *(f"{key}=..." for key, default in params.items()
                                if default is inspect.Parameter.empty)])
    lines += ["", f"use: dyntemp generate PROMPT --strategy {example} [--param KEY=VALUE ...]",
              f"from: {getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', factory)}"]
    return "\n".join(lines)


def stages() -> str:
    """The sampler's stages in their default order, each with its flags, settings, defaults and off
    values, then the sampler's own settings that have a flag (from the stages' declarations).

    >>> print(stages().splitlines()[6])
      dry          --dry-multiplier N            dry_multiplier        default 0.0: off
    """
    rows = [(stage, f"{s.flag} {s.metavar}" if s.flag else "(no flag)", s.name, values_of(s))
            for stage in default_order() for s in stage_class(stage).settings]
    rows += [(None, f"{s.flag} {s.metavar}", s.name, values_of(s)) for s in GENERAL.settings if s.flag]
    rows.insert(next(i for i, row in enumerate(rows) if row[0] is None or default_order().index(row[0]) >
                     default_order().index("temperature")),
                ("temperature", "the strategy's: --strategy, --temp, ... (above)", "", ""))
    rows.insert(0, ("stage", "flag", "setting", "values"))
    width = [max(len(row[i]) for row in rows if row[2]) for i in (1, 2)]
    lines = ["sampler stages, in the default order (--samplers changes it; a stage that is off is skipped):"]
    last = None
    for stage, flag, setting, values in rows:
        name = "" if stage == last else stage or "(order)"
        last = stage
        lines.append(f"  {name:<12} {flag:<{width[0]}} {setting:<{width[1]}} {values}".rstrip())
    return "\n".join(lines)


def run(args, out) -> None:
    if args.name is not None:
        try:
            text = describe(args.name)
        except UnknownStrategyError as exc:
            raise UsageError(str(exc)) from None
        print(text, file=out)
        return
    for name in list_strategies():
        print(f"{signature(name)}\n    {strategy_summary(name)}", file=out)
    print(f"\n{stages()}", file=out)
