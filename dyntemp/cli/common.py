"""What the subcommands share: the one-line usage error, llama.cpp-named sampler and host flags,
and the strategy a command line asks for."""

from __future__ import annotations

import argparse

from ..strategies import get_strategy
from ..strategies.spec import SpecError, parse_params, parse_spec


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit status 2."""


# llama.cpp's flag → Sampler keyword.
SAMPLER_FLAGS = {
    "top_k": "top_k", "top_p": "top_p", "min_p": "min_p", "typical": "typical_p", "top_n_sigma": "top_n_sigma",
    "repeat_penalty": "repeat_penalty", "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty", "repeat_last_n": "penalty_last_n", "samplers": "order",
}


def sampler_kwargs(args) -> dict:
    """The Sampler settings given on the command line (the others keep the Sampler's defaults)."""
    return {key: getattr(args, flag) for flag, key in SAMPLER_FLAGS.items() if getattr(args, flag) is not None}


def add_sampler_flags(parser: argparse.ArgumentParser) -> None:
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


def add_host_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", "-t", type=int, metavar="N",
                        help="llama.cpp threads (default: the physical cores, split between workers)")
    parser.add_argument("--n-gpu-layers", "-ngl", type=int, default=0, metavar="N",
                        help="layers to offload to a GPU, -1 for all (needs a GPU build of llama.cpp; default 0)")


def check_host_flags(args) -> None:
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    if args.n_gpu_layers < -1:
        raise UsageError(f"--n-gpu-layers must be >= -1 (-1: all layers), got {args.n_gpu_layers}")


def strategy_from_args(args):
    """The strategy of ``generate``'s flags: ``--rules``, ``--sentence-temps``, ``--strategy`` (a name
    or spec text) or the default constant ``--temp``; ``--param`` items add parameters."""
    chosen = [flag for flag, given in (("--rules", args.rules), ("--sentence-temps", args.sentence_temps),
                                        ("--strategy", args.strategy)) if given]
    if len(chosen) > 1:
        raise UsageError(f"give one of --strategy, --rules, --sentence-temps, not {' and '.join(chosen)}")
    try:
        params = parse_params(args.param)
        if args.rules:
            return get_strategy("rules", file=args.rules, **params)
        if args.sentence_temps:
            return get_strategy("sentence", temperatures=_temperatures(args.sentence_temps), **params)
        if args.strategy:
            spec = parse_spec(args.strategy, where=f"--strategy {args.strategy!r}")
            return get_strategy(spec.name, **{**spec.params, **params})
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    return get_strategy("constant", **{"temperature": args.temp, **params})


def _temperatures(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--sentence-temps takes numbers separated by commas, got {text!r}") from None
