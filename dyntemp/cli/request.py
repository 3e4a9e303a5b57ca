"""What a ``generate`` command line asks for, read and checked before the model loads: the prompt
(unescaped as llama.cpp does), the chat messages and template, the stop strings, the sampler
settings, the seeds, and the header each trace file starts with."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass

from .. import _validate
from ..core.settings import SamplerSettings
from ..core.stops import check_stop
from .common import check_host_flags, check_input_file, check_model, sampler_kwargs
from .errors import UsageError, checked, describe_oserror
from .llama_syntax import merge_biases, unescape
from .strategy_flags import preset_sampler, strategy_spec

SEED_RANGE = 2 ** 32  # llama.cpp's seeds are 32-bit


@dataclass
class Request:
    """A checked ``generate`` command line. ``messages`` is ``None`` without chat; ``max_tokens``
    ``None`` means until the context is full (``-n -1``)."""

    prompt: str
    messages: list[dict] | None
    chat_template: str | None
    stop: list[str] | None
    settings: SamplerSettings
    seeds: list[int]
    seed_picked: bool
    max_tokens: int | None
    argv: list[str]
    model: str | None

    def header(self, settings: SamplerSettings, seed: int, n_ctx: int) -> dict:
        """A trace file's header: what reproduces this sample."""
        from ..host import LLAMA_PACKAGE, version_of
        from ..llama.model import default_model_path

        return {"dyntemp": version_of("dyntemp"), "llama_cpp_python": version_of(LLAMA_PACKAGE),
                "model": os.path.abspath(self.model) if self.model else default_model_path(),
                "strategy": settings.strategy.key, "settings": settings.to_dict(), "seed": seed,
                "prompt": self.prompt, "messages": self.messages, "chat_template": self.chat_template,
                "stop": self.stop, "max_tokens": self.max_tokens, "n_ctx": n_ctx, "command": self.argv}


def read_request(args) -> Request:
    """Check ``generate``'s flags and read the prompt and the files they name."""
    check_host_flags(args)
    _check_numbers(args)
    _check_modes(args)
    spec = strategy_spec(args)
    with checked():
        settings = SamplerSettings(spec, **{**preset_sampler(args), **sampler_kwargs(args)}, logit_bias=merge_biases(args.logit_bias))
    args.model = check_model("--model", args.model)
    template = read_chat_template(args.chat_template)
    system = typed_text(args.system, "--system", args.no_escape) if args.system is not None else None
    prompt = _prompt(args)
    chat = args.chat or system is not None or template is not None
    messages = None
    if chat:
        messages = ([{"role": "system", "content": system}] if system is not None else []) + [
            {"role": "user", "content": prompt}]
    stop = None
    if args.stop is not None:
        stop = [typed_text(s, "--stop", args.no_escape) for s in args.stop]
        try:
            check_stop(stop)
        except ValueError as exc:
            raise UsageError(f"--{exc}") from None  # "stop must be ...": the flag's name
    picked = args.seed is None or args.seed == -1
    first = secrets.randbelow(SEED_RANGE - args.samples + 1) if picked else args.seed
    return Request(prompt, messages, template, stop, settings, [first + i for i in range(args.samples)], picked,
                   None if args.max_tokens == -1 else args.max_tokens, list(getattr(args, "argv", None) or []),
                   args.model)


def _check_numbers(args) -> None:
    if args.seed is not None and args.seed < -1:
        raise UsageError(f"--seed must be >= 0 (-1: pick one), got {args.seed}")
    if args.samples < 1:
        raise UsageError(f"--samples must be >= 1, got {args.samples}")
    if args.max_tokens == 0 or args.max_tokens < -1:
        raise UsageError(f"--max-tokens must be >= 1 (-1: until the context is full), got {args.max_tokens}")
    if args.ctx_size < 0:
        raise UsageError(f"--ctx-size must be >= 0 (0: the model's own context length), got {args.ctx_size}")


def _check_modes(args) -> None:
    """Flags that cannot work together, or that would do nothing: said, not ignored."""
    if args.json and args.show:
        raise UsageError("--json and --show are two ways to print the result: give one")
    if args.json and args.trace == "-":
        raise UsageError("--json and --trace - both write to standard output: write the trace to a file")
    if args.color is not None and not args.show:
        raise UsageError("--color applies to --show's coloured text: add --show")


def typed_text(text: str, flag: str, raw: bool) -> str:
    """Text typed on the command line, with llama.cpp's escapes replaced unless ``--no-escape``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # bytes the locale could not decode, kept as surrogates
        raise UsageError(f"{flag}: not UTF-8 text (character {exc.start})") from None
    if raw:
        return text
    with checked():
        return unescape(text, flag)


def _prompt(args) -> str:
    if args.prompt != "-":
        prompt = typed_text(args.prompt, "the prompt", args.no_escape)
    else:  # a file's text is taken as it is: only typed text has escapes
        if sys.stdin is None:
            raise UsageError("the prompt is -, but there is no standard input to read it from")
        try:
            # The bytes, decoded here: the text layer may be set to let bytes that are not UTF-8 through.
            data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
            prompt = (data.decode("utf-8") if isinstance(data, bytes) else data).rstrip("\n")
        except UnicodeDecodeError as exc:
            raise UsageError(f"standard input: not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise UsageError("cannot read the prompt from standard input: "
                             + describe_oserror(exc, path="")) from None
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    return prompt


def read_chat_template(path: str | None) -> str | None:
    """The text of a ``--chat-template`` file, checked to be a Jinja template (``None`` without one)."""
    if not path:
        return None
    check_input_file("--chat-template", path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"--chat-template {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return _validate.chat_template(f"--chat-template {path}", text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
