"""What the subcommands share: llama.cpp-named sampler and host flags, ``--import``, and the checks of
the files and folders a command line names, made before any model is loaded."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from .. import _validate
from ..core.options import OFF_VALUES, SETTING_STAGE, as_llama_cpp, blame
from ..core.settings import SamplerSettings
from .errors import UsageError, describe_oserror
from .llama_syntax import unescape

__all__ = ["SAMPLER_FLAGS", "SamplerFlag", "UsageError", "add_host_flags", "add_import_flag", "add_sampler_flags",
           "check_host_flags", "check_input_file", "check_output_folder", "default_of", "import_modules",
           "modules_to_import", "sampler_kwargs", "values_of"]

IMPORT_VARIABLE = "DYNTEMP_IMPORT"


@dataclass(frozen=True)
class SamplerFlag:
    """One sampler flag: the setting it gives and what it is (its help, to which the default and the
    off value are added; ``note`` tells about other values). Its stage and the value that turns the
    stage off are the core's (``SETTING_STAGE``, ``OFF_VALUES``)."""

    setting: str
    help: str
    metavar: str = "N"
    note: str = ""
    repeat: bool = False  # given once per value, as --dry-sequence-breaker

    @property
    def stage(self) -> str | None:
        return SETTING_STAGE.get(self.setting)

    @property
    def off(self) -> Any:
        """The value that turns the stage off (``None``: this flag does not switch its stage)."""
        return OFF_VALUES.get(self.setting)


# The one table of sampler flags, llama.cpp's names (smoothing: KoboldCpp's and text-generation-webui's):
# flag → what it sets. The parser, the settings, the mirostat and --samplers rules and the listing of
# ``dyntemp strategies`` are made from it; the defaults are SamplerSettings' own.
SAMPLER_FLAGS = {
    "--top-k": SamplerFlag("top_k", "top-k"),
    "--top-p": SamplerFlag("top_p", "top-p", "P"),
    "--min-p": SamplerFlag("min_p", "min-p", "P"),
    "--typical": SamplerFlag("typical_p", "typical-p", "P"),
    "--top-n-sigma": SamplerFlag("top_n_sigma", "top-nσ"),
    "--repeat-penalty": SamplerFlag("repeat_penalty", "repetition penalty", "R"),
    "--frequency-penalty": SamplerFlag("frequency_penalty", "frequency penalty", "F"),
    "--presence-penalty": SamplerFlag("presence_penalty", "presence penalty", "F"),
    "--repeat-last-n": SamplerFlag("penalty_last_n", "tokens the penalties look back on",
                                   note="0: off; -1: the whole history"),
    "--xtc-probability": SamplerFlag("xtc_probability", "XTC: the chance, per token, of removing the "
                                     "top choices", "P"),
    "--xtc-threshold": SamplerFlag("xtc_threshold", "XTC: the probability a top choice has at least",
                                   "T", note="above 0.5: off"),
    "--dry-multiplier": SamplerFlag("dry_multiplier", "DRY: the multiplier of its repeat penalty"),
    "--dry-base": SamplerFlag("dry_base", "DRY: the base of its repeat penalty, >= 1"),
    "--dry-allowed-length": SamplerFlag("dry_allowed_length", "DRY: the longest repeat left unpenalized"),
    "--dry-penalty-last-n": SamplerFlag("dry_penalty_last_n", "DRY: tokens it looks back on",
                                        note="0: off; -1: the whole history"),
    "--dry-sequence-breaker": SamplerFlag("dry_sequence_breakers", "DRY: text that no repeat is matched "
                                          "across; the first one given replaces the defaults, none clears them "
                                          "all; repeatable", "STRING", repeat=True),
    "--smoothing-factor": SamplerFlag("smoothing_factor", "quadratic smoothing (KoboldCpp's, "
                                      "text-generation-webui's): larger sharpens"),
    "--smoothing-curve": SamplerFlag("smoothing_curve", "quadratic smoothing's curve: larger raises "
                                     "the tokens near the top"),
    "--mirostat": SamplerFlag("mirostat", "Mirostat, picks the token last",
                              note="1, 2: its version; turns off the top-k, top-p, min-p, typical, top-nσ and "
                                   "XTC not given, as llama.cpp"),
    "--mirostat-lr": SamplerFlag("mirostat_eta", "Mirostat learning rate, parameter eta"),
    "--mirostat-ent": SamplerFlag("mirostat_tau", "Mirostat target entropy (surprise, bits), "
                                  "parameter tau"),
    "--adaptive-target": SamplerFlag("adaptive_target", "adaptive-p: picks the token near this "
                                     "probability, 0 to 1, last; negative: off"),
    "--adaptive-decay": SamplerFlag("adaptive_decay", "adaptive-p: decay of its moving average, "
                                    "0 to 0.99 (lower reacts faster)"),
    "--samplers": SamplerFlag("order", "stage order, ';'-separated, e.g. penalties;dry;top_k;min_p;"
                              "temperature; the stages left out whose flags are not given are off, as in "
                              "llama.cpp", "STAGES"),
}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SamplerSettings)}


def dest(flag: str) -> str:
    """The attribute of the parsed arguments that holds ``flag``'s value."""
    return flag.lstrip("-").replace("-", "_")


def default_of(flag: str) -> str:
    """``flag``'s default, as shown.

    >>> default_of("--top-p"), default_of("--samplers")[:18], default_of("--dry-sequence-breaker")[:4]
    ('0.95', 'penalties;dry;top_', "'\\\\n'")
    """
    value = _DEFAULTS[SAMPLER_FLAGS[flag].setting]
    if SAMPLER_FLAGS[flag].setting == "order":
        return ";".join(value)
    return ", ".join(map(repr, value)) if isinstance(value, tuple) else str(value)


def values_of(flag: str) -> str:
    """The default, the off value and the note of ``flag``: ``default 40; 0: off``."""
    info = SAMPLER_FLAGS[flag]
    default = default_of(flag)
    if info.off is None:
        text = f"default {default}"
    elif str(info.off) == default:
        text = f"default {default}: off"
    else:
        text = f"default {default}; {info.off}: off"
    return f"{text}; {info.note}" if info.note else text


def sampler_kwargs(args) -> dict:
    """The Sampler settings given on the command line (the others keep the Sampler's defaults), checked:
    a bad value is a usage error naming its flag. As in llama.cpp, ``--mirostat 1|2`` turns off the
    truncating filters not given, and ``--samplers`` the stages it leaves out whose flags are not given."""
    given = {flag: getattr(args, dest(flag)) for flag in SAMPLER_FLAGS if getattr(args, dest(flag)) is not None}
    if "--dry-sequence-breaker" in given:
        given["--dry-sequence-breaker"] = _breakers(given["--dry-sequence-breaker"], getattr(args, "no_escape", False))
    kwargs = as_llama_cpp({SAMPLER_FLAGS[flag].setting: value for flag, value in given.items()})
    _check(given, kwargs)
    grammar = _grammar(args)
    if grammar is not None:
        kwargs["grammar"] = grammar
    return kwargs


def _breakers(values: list[str], raw: bool) -> list[str]:
    """``--dry-sequence-breaker``'s values as llama.cpp takes them: the first given replaces the
    defaults, ``none`` clears what came before, and escapes are replaced unless ``--no-escape``."""
    out: list[str] = []
    for value in values:
        if value == "none":
            out.clear()
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # bytes the locale could not decode, kept as surrogates
            raise UsageError(f"--dry-sequence-breaker: not UTF-8 text (character {exc.start})") from None
        if not raw:
            try:
                value = unescape(value, "--dry-sequence-breaker")
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        out.append(value)
    return out


def _check(given: dict, kwargs: dict) -> None:
    """The settings checked as the library checks them, before any model loads. An error that one
    flag's value makes on its own is that flag's: ``--mirostat: mirostat must be 0 (off), 1 or 2 ...``."""
    try:
        with warnings.catch_warnings():  # the settings made for the run warn; these are only a check
            warnings.simplefilter("ignore")
            SamplerSettings(1.0, **kwargs)
    except (TypeError, ValueError) as exc:
        flag = blame({flag: (SAMPLER_FLAGS[flag].setting, value) for flag, value in given.items()}, exc)
        message = _validate.message_of(exc)
        raise UsageError(f"{flag}: {message}" if flag else message) from None


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
    for flag, info in SAMPLER_FLAGS.items():
        kind = type(_DEFAULTS[info.setting])
        parser.add_argument(flag, dest=dest(flag), metavar=info.metavar, action="append" if info.repeat else "store",
                            type=kind if kind in (int, float) else str, help=f"{info.help} ({values_of(flag)})")
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
