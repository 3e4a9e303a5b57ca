"""What the subcommands share: llama.cpp-named sampler and host flags, ``--import``, and the checks of
the files and folders a command line names, made before any model is loaded."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from typing import Mapping

from .errors import UsageError, describe_oserror

__all__ = ["UsageError", "add_host_flags", "add_import_flag", "add_sampler_flags", "check_host_flags",
           "check_input_file", "check_output_folder", "import_modules", "modules_to_import", "sampler_kwargs"]

IMPORT_VARIABLE = "DYNTEMP_IMPORT"

# llama.cpp's flag → Sampler keyword.
SAMPLER_FLAGS = {
    "top_k": "top_k", "top_p": "top_p", "min_p": "min_p", "typical": "typical_p", "top_n_sigma": "top_n_sigma",
    "repeat_penalty": "repeat_penalty", "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty", "repeat_last_n": "penalty_last_n", "samplers": "order",
    "xtc_probability": "xtc_probability", "xtc_threshold": "xtc_threshold",
}


def sampler_kwargs(args) -> dict:
    """The Sampler settings given on the command line (the others keep the Sampler's defaults)."""
    kwargs = {key: getattr(args, flag) for flag, key in SAMPLER_FLAGS.items() if getattr(args, flag) is not None}
    grammar = _grammar(args)
    if grammar is not None:
        kwargs["grammar"] = grammar
    return kwargs


def _grammar(args) -> str | None:
    """The GBNF of ``--grammar``, ``--grammar-file``, ``--json-schema`` or ``--json-schema-file`` (one of them)."""
    given = [(flag, value) for flag, value in (("--grammar", args.grammar), ("--grammar-file", args.grammar_file),
                                               ("--json-schema", args.json_schema),
                                               ("--json-schema-file", args.json_schema_file)) if value is not None]
    if not given:
        return None
    if len(given) > 1:
        raise UsageError(f"give one of --grammar, --grammar-file, --json-schema, --json-schema-file, not "
                         f"{' and '.join(flag for flag, _ in given)}")
    flag, value = given[0]
    if flag.endswith("-file"):
        try:
            with open(check_input_file(flag, value), encoding="utf-8") as f:
                value = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{flag} {value}: cannot be read: {exc}") from None
    if flag.startswith("--json-schema"):
        from ..llama.grammar import json_schema_grammar

        try:
            return json_schema_grammar(value)
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    return value


def add_sampler_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top-k", type=int, metavar="N", help="top-k (default 40; 0: off)")
    parser.add_argument("--top-p", type=float, metavar="P", help="top-p (default 0.95; 1.0: off)")
    parser.add_argument("--min-p", type=float, metavar="P", help="min-p (default 0.05; 0.0: off)")
    parser.add_argument("--typical", type=float, metavar="P", help="typical-p (default 1.0: off)")
    parser.add_argument("--top-n-sigma", type=float, metavar="N", help="top-nσ (default -1: off)")
    parser.add_argument("--repeat-penalty", type=float, metavar="R", help="repetition penalty (default 1.0: off)")
    parser.add_argument("--frequency-penalty", type=float, metavar="F", help="frequency penalty (default 0.0: off)")
    parser.add_argument("--presence-penalty", type=float, metavar="F", help="presence penalty (default 0.0: off)")
    parser.add_argument("--repeat-last-n", type=int, metavar="N", help="tokens the penalties look back on (default 64)")
    parser.add_argument("--xtc-probability", type=float, metavar="P",
                        help="XTC: the chance, per token, of removing the top choices (default 0.0: off)")
    parser.add_argument("--xtc-threshold", type=float, metavar="T",
                        help="XTC: the probability a top choice has at least (default 0.1; above 0.5: off)")
    parser.add_argument("--samplers", metavar="STAGES",
                        help="stage order, ';'-separated, e.g. penalties;top_k;top_p;min_p;temperature")
    parser.add_argument("--grammar", metavar="GBNF", help="only output this GBNF grammar allows (llama.cpp's syntax)")
    parser.add_argument("--grammar-file", metavar="FILE", help="the grammar from a .gbnf file")
    parser.add_argument("--json-schema", metavar="SCHEMA",
                        help='only JSON matching this JSON schema, e.g. \'{"type": "object"}\'')
    parser.add_argument("--json-schema-file", metavar="FILE", help="the JSON schema from a file")


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


def add_import_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import a Python module first, so that the strategies it registers "
                             "(@dyntemp.register_strategy) can be named; found on PYTHONPATH or in the "
                             f"current folder; repeatable (also ${IMPORT_VARIABLE}, comma-separated)")


def modules_to_import(args, environ: Mapping[str, str] = os.environ) -> list[tuple[str, str]]:
    """``(module, where it was named)`` for ``$DYNTEMP_IMPORT``'s modules, then ``--import``'s, once each.

    >>> import argparse
    >>> modules_to_import(argparse.Namespace(imports=["b", "c"]), {IMPORT_VARIABLE: "a, b"})
    [('a', 'DYNTEMP_IMPORT'), ('b', 'DYNTEMP_IMPORT'), ('c', '--import')]
    """
    named = [(m.strip(), IMPORT_VARIABLE) for m in environ.get(IMPORT_VARIABLE, "").split(",") if m.strip()]
    named += [(m, "--import") for m in getattr(args, "imports", None) or ()]
    seen, out = set(), []
    for module, where in named:
        if module not in seen:
            seen.add(module)
            out.append((module, where))
    return out


def import_modules(modules: list[tuple[str, str]]) -> dict[str, str]:
    """Import each ``(module, where)``; returns their source files and folders (path → module name),
    by which an exception from their code is told from dyntemp's own.

    A module that is not found, or whose code fails, is a usage error naming where it was given.
    The current folder is searched last, as ``python -m`` would, so that the ``dyntemp`` command
    finds a module next to the user as ``python -m dyntemp`` does; worker processes inherit the path.
    """
    if modules and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    files = {}
    for module, where in modules:
        try:
            imported = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module or module.startswith(f"{exc.name}."):
                raise UsageError(f"{where} {module}: no module named {exc.name!r} on PYTHONPATH or in the "
                                 f"current folder") from None
            raise UsageError(f"{where} {module}: the module failed to import: {exc}") from exc
        except Exception as exc:  # the user's code: its own error, shown as such
            raise UsageError(f"{where} {module}: the module failed to import: {type(exc).__name__}: {exc}") from exc
        path = getattr(imported, "__file__", None)
        if path:
            package = getattr(imported, "__path__", None)
            files[os.path.abspath(os.path.dirname(path) if package else path)] = module
    return files


def check_input_file(flag: str, path: str) -> str:
    """``path`` if it is a file this process can read, else a usage error naming ``flag``.

    >>> check_input_file("--rules", "no/such.toml")
    Traceback (most recent call last):
    ...
    dyntemp.cli.errors.UsageError: --rules no/such.toml: no such file or directory
    """
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(describe_oserror(exc, flag, path)) from None
    return path


def check_output_folder(flag: str, path: str) -> str:
    """``path`` as a folder that exists (made if needed) and takes new files, else a usage error.

    >>> check_output_folder("--out", "/dev/null/runs")
    Traceback (most recent call last):
    ...
    dyntemp.cli.errors.UsageError: --out /dev/null/runs: a part of the path is not a directory
    """
    try:
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{flag} {path}: exists and is not a folder")
        os.makedirs(path, exist_ok=True)
        # Writing a file is the one test that catches permissions, read-only mounts and root alike.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(describe_oserror(exc, flag, path)) from None
    return path
