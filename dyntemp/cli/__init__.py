"""The ``dyntemp`` command, one module per subcommand.

    dyntemp generate "Write four sentences about the sea." --chat --sentence-temps 0.2,0.9,1.4 --show
    dyntemp generate - --strategy edt:theta=0.6 --top-k 40 --trace run.jsonl < prompt.txt
    dyntemp serve --parallel 2 --strategy edt:theta=0.6
    dyntemp batch prompts.jsonl -o out.jsonl --workers 2 --seed 1
    dyntemp strategies [NAME]
    dyntemp eval --suite qa --strategy constant:temperature=0.3,0.7,1.0 --strategy edt:theta=0.3,0.6 --out runs/qa
    dyntemp plot runs/qa
    dyntemp compare runs/qa
    dyntemp report runs/qa -o report.html
    dyntemp info [--json]

Filter and penalty flags carry llama.cpp's CLI names. How failures are reported (exit statuses 2,
1, 130) is in ``dyntemp.cli.errors``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import batch, compare, evaluate, generate, info, plot, report, serve, strategies, tune
from .common import import_modules, modules_to_import
from .errors import (FAILED, INTERRUPTED, PIPE_CLOSED, USAGE, UsageError, WorkError, debugging, describe_oserror,
                     flag_of_path, internal_error, path_flags, traceback_text)

__all__ = ["UsageError", "build_parser", "main"]


#: The commands that take --import (and DYNTEMP_IMPORT).
_IMPORTING = ("generate", "serve", "batch", "strategies", "eval", "tune")


class _Parser(argparse.ArgumentParser):
    """argparse's own errors (a bad type, an unknown option) in one line too, not after the usage."""

    def error(self, message: str):
        self.exit(USAGE, f"dyntemp: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dyntemp`` command.

    >>> build_parser().parse_args(["generate", "Hi", "-n", "3"]).max_tokens
    3
    """
    parser = _Parser(prog="dyntemp", description="Token-adaptive temperature sampling on llama.cpp.")
    parser.add_argument("--version", action="version", version=info.version(), help="print the versions and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (generate, serve, batch, strategies, evaluate, tune, plot, compare, report, info):
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None, out=None) -> int:
    """Run the command; returns the exit status when it succeeds, and exits (``SystemExit``) with
    one line on standard error when it does not (see ``dyntemp.cli.errors``).

    >>> import io
    >>> buffer = io.StringIO()
    >>> main(["strategies", "constant"], out=buffer), buffer.getvalue().splitlines()[0]
    (0, 'constant(temperature=1.0)')
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args, user_files = None, {}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            early = _imports_only(argv)
            if early is not None:  # first: the modules register strategies and stages, and a stage's settings are flags
                user_files = import_modules(modules_to_import(early))
            parser = build_parser()
            args = parser.parse_args(argv)
            args.argv = argv
            status = args.run(args, out or sys.stdout)
    except KeyboardInterrupt:
        sys.stderr.write("dyntemp: interrupted\n")
        sys.exit(INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()  # the reader left (| head): nothing to report, and nothing more to flush
        sys.exit(PIPE_CLOSED)
    except UsageError as exc:
        _exit_with(args, exc, USAGE, f"dyntemp: error: {exc}\n")
    except WorkError as exc:  # what was written stays; an eval run resumes when rerun
        _exit_with(args, exc, FAILED, f"dyntemp: error: {exc}\n")
    except OSError as exc:
        where = flag_of_path(exc.filename, path_flags(args)) if args is not None else None
        _exit_with(args, exc, FAILED, f"dyntemp: error: {describe_oserror(exc, where)}\n")
    except Exception as exc:
        _exit_with(args, exc, FAILED, internal_error(exc, user_files, debugging(args)))
    return status or 0


def _imports_only(argv: list[str]) -> argparse.Namespace | None:
    """The ``--import`` flags of a command that takes them (generate, serve, batch, strategies,
    eval), read before the whole command line is; ``None`` for another command."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in _IMPORTING:
        return None
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--import", dest="imports", action="append", default=[])
    return early.parse_known_args(argv)[0]


def _exit_with(args, exc: BaseException, status: int, message: str) -> None:
    if debugging(args) and (status != USAGE or exc.__cause__ is not None):
        sys.stderr.write(traceback_text(exc.__cause__ or exc) if status == USAGE else traceback_text(exc))
    sys.stderr.write(message)
    sys.exit(status)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a replaced stdout without a file descriptor
        pass


_shown: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line for a person at a terminal, not a source location; each once, however
    often the settings that warn are rebuilt (a seed per sample, one per eval job)."""
    if str(message) not in _shown:
        _shown.add(str(message))
        print(f"dyntemp: warning: {message}", file=sys.stderr)

