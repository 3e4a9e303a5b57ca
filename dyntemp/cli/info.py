"""``dyntemp info`` and ``--version``: versions, the llama.cpp build, threads, and a decode check."""

from __future__ import annotations

import json
import sys


def add_parser(commands) -> None:
    info = commands.add_parser(
        "info", help="versions, the llama.cpp build, threads, the default model, and a decode check",
        description="Show dyntemp's and llama.cpp's versions, the CPU features llama.cpp was built with, the "
                    "threads it would use and the default model, and decode a few tokens in a child process, "
                    "so that a build that crashes on this host is reported, not suffered. Exit status 1 when the "
                    "decode check fails.")
    info.add_argument("--json", action="store_true", help="print it as JSON")
    info.set_defaults(run=run)


def run(args, out) -> int:
    from ..host import host_info

    info = host_info()
    if args.json:
        print(json.dumps(info.as_dict(), indent=2), file=out)
    else:
        print("\n".join(info.lines()), file=out)
        if info.check.ran and not info.check.ok:
            print(info.check.report(), file=sys.stderr)
    return 0 if info.check.ok else 1


def version() -> str:
    """``dyntemp --version``'s line."""
    from ..host import LLAMA_PACKAGE, version_of

    return f"dyntemp {version_of('dyntemp')} (llama-cpp-python {version_of(LLAMA_PACKAGE) or 'not installed'})"
