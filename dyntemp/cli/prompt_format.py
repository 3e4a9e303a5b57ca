"""The prompt format flags of the commands that run suites (``eval``, ``tune``): a chat template for
a model without one, and stop strings for every prompt."""

from __future__ import annotations

import argparse

from .request import read_chat_template, typed_text


def add_prompt_format_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chat-template", metavar="FILE",
                        help="a Jinja chat template for the chat prompts, for a model without one (a base model)")
    parser.add_argument("--stop", action="append", metavar="TEXT",
                        help="a stop string for every prompt, besides its own (escapes such as \\n replaced); "
                             "repeatable")


def prompt_format(args) -> dict:
    """``chat_template`` (the file's text) and ``stop`` of the command line, ``None`` where not given."""
    return {"chat_template": read_chat_template(args.chat_template),
            "stop": [typed_text(s, "--stop", False) for s in args.stop] if args.stop else None}
