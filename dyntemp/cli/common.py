"""What the subcommands share: llama.cpp-named sampler and host flags, ``--import``, and the checks of
the files and folders a command line names, made before any model is loaded."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import warnings
from typing import Mapping

from .. import _validate
from ..core import stages
from ..core.options import as_llama_cpp, blame
from ..core.settings import SamplerSettings
from ..core.stages import Setting
from .errors import UsageError, describe_oserror
from .llama_syntax import unescape

__all__ = ["UsageError", "add_host_flags", "add_import_flag", "add_sampler_flags",
           "check_host_flags", "check_input_file", "check_output_folder", "default_of", "import_modules",
           "modules_to_import", "sampler_flags", "sampler_kwargs", "values_of"]

IMPORT_VARIABLE = "DYNTEMP_IMPORT"


def sampler_flags() -> dict[str, Setting]:
    """Every sampler flag (llama.cpp's names; smoothing: KoboldCpp's and text-generation-webui's) and
    the setting it gives, from the stages' declarations (a registered stage's flags too): the
    parser, the settings, the mirostat and ``--samplers`` rules and the listing of ``dyntemp
    strategies`` are made from it."""
    return {setting.flag: setting for setting in stages.settings() if setting.flag}


def dest(flag: str) -> str:
    """The attribute of the parsed arguments that holds ``flag``'s value."""
    return flag.lstrip("-").replace("-", "_")


def default_of(flag: str) -> str:
    """``flag``'s default, as shown.

    >>> default_of("--top-p"), default_of("--samplers")[:18], default_of("--dry-sequence-breaker")[:4]
    ('0.95', 'penalties;dry;top_', "'\\\\n'")
    """
    return _shown_default(sampler_flags()[flag])


def _shown_default(setting: Setting) -> str:
    value = setting.checked(setting.default)
    if setting.name == "order":
        return ";".join(value)
    return ", ".join(map(repr, value)) if isinstance(value, tuple) else str(value)


def values_of(setting: "Setting | str") -> str:
    """The default, the off value and the note of a setting (or of its flag): ``default 40; 0: off``."""
    if isinstance(setting, str):
        setting = sampler_flags()[setting]
    default = _shown_default(setting)
    if setting.off is None:
        text = f"default {default}"
    elif str(setting.off) == default:
        text = f"default {default}: off"
    else:
        text = f"default {default}; {setting.off}: off"
    return f"{text}; {setting.note}" if setting.note else text


def sampler_kwargs(args) -> dict:
    """The Sampler settings given on the command line (the others keep the Sampler's defaults), checked:
    a bad value is a usage error naming its flag. As in llama.cpp, ``--mirostat 1|2`` turns off the
    truncating filters not given, and ``--samplers`` the stages it leaves out whose flags are not given."""
    flags = sampler_flags()
    given = {flag: getattr(args, dest(flag)) for flag in flags if getattr(args, dest(flag), None) is not None}
    if "--dry-sequence-breaker" in given:
        given["--dry-sequence-breaker"] = _breakers(given["--dry-sequence-breaker"], getattr(args, "no_escape", False))
    kwargs = as_llama_cpp({flags[flag].name: value for flag, value in given.items()})
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
        note = SamplerSettings(1.0, **kwargs).mirostat_note()
    except (TypeError, ValueError) as exc:
        flags = sampler_flags()
        flag = blame({flag: (flags[flag].name, value) for flag, value in given.items()}, exc)
        message = _validate.message_of(exc)
        raise UsageError(f"{flag}: {message}" if flag else message) from None
    if note:
        warnings.warn(note, stacklevel=2)


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
    for flag, setting in sampler_flags().items():
        kind = type(setting.default)
        parser.add_argument(flag, dest=dest(flag), metavar=setting.metavar,
                            action="append" if setting.repeat else "store",
                            type=kind if kind in (int, float) else str, help=f"{setting.help} ({values_of(flag)})")
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


def check_model(flag: str, model: str | None) -> str | None:
    """The GGUF file of ``model`` (a file, or a model's name: smollm2-135m, gemma3-270m), checked
    readable; ``None`` stays ``None`` (the default model). A usage error naming ``flag`` otherwise.

    >>> check_model("--model", "gemma4-9b")
    Traceback (most recent call last):
    ...
    dyntemp.cli.errors.UsageError: --model gemma4-9b: no such file or directory (or give a model by name: smollm2-135m, gemma3-270m)
    """
    from ..llama.model import MODELS, ModelNotFoundError, model_path

    if model is None:
        return None
    try:
        path = model_path(model)
    except ModelNotFoundError as exc:
        raise UsageError(f"{flag} {model}: {exc}") from None
    if path == model and not os.path.exists(path):
        raise UsageError(f"{flag} {model}: no such file or directory (or give a model by name: {', '.join(MODELS)})")
    return check_input_file(flag, path)


def check_run_folder(folder: str) -> str:
    """``folder`` if it holds an eval run's generations, else a usage error.

    >>> check_run_folder("/nowhere")
    Traceback (most recent call last):
    ...
    dyntemp.cli.errors.UsageError: RUN: no generations.jsonl in /nowhere: is it a run folder written by dyntemp eval?
    """
    from ..eval.run_folder import GENERATIONS

    if not os.path.isfile(os.path.join(folder, GENERATIONS)):
        raise UsageError(f"RUN: no {GENERATIONS} in {folder}: is it a run folder written by dyntemp eval?")
    return folder


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
