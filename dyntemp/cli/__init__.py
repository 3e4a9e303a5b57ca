"""The ``dyntemp`` command, one module per subcommand.

    dyntemp generate "Write four sentences about the sea." --chat --sentence-temps 0.2,0.9,1.4 --show
    dyntemp generate - --strategy edt:theta=0.6 --top-k 40 --trace run.jsonl < prompt.txt
    dyntemp strategies
    dyntemp eval --suite qa --strategy constant:temperature=0.3,0.7,1.0 --strategy edt:theta=0.3,0.6 --out runs/qa
    dyntemp plot runs/qa
    dyntemp info [--json]

Filter and penalty flags carry llama.cpp's CLI names. Bad arguments exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from . import evaluate, generate, info, plot, strategies
from .common import UsageError

__all__ = ["UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse's own errors (a bad type, an unknown option) in one line too, not after the usage."""

    def error(self, message: str):
        self.exit(2, f"dyntemp: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dyntemp`` command."""
    parser = _Parser(prog="dyntemp", description="Token-adaptive temperature sampling on llama.cpp.")
    parser.add_argument("--version", action="version", version=info.version())
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (generate, strategies, evaluate, plot, info):
        command.add_parser(commands)
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
