"""``dyntemp strategies``: every registered strategy with its parameters and one line of its doc."""

from __future__ import annotations

import inspect

from ..strategies import list_strategies, strategy_factory, strategy_parameters


def add_parser(commands) -> None:
    strategies = commands.add_parser("strategies", help="list every strategy with its parameters",
                                     description="List every registered strategy with its parameters.")
    strategies.set_defaults(run=run)


def _first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.split("\n\n")[0].split())
    head, dot, _ = paragraph.partition(". ")
    return head + dot.strip()


def run(args, out) -> None:
    for name in list_strategies():
        doc = inspect.getdoc(strategy_factory(name)) or ""
        params = ", ".join(name if default is inspect.Parameter.empty else f"{name}={default!r}"
                           for name, default in strategy_parameters(name).items())
        print(f"{name}({params})\n    {_first_sentence(doc)}", file=out)
