"""Where the hook's time goes inside ``create_completion``: the median microseconds per token of its
call and of its parts, timed in the decoding loop itself (right after each decode, with the caches
the decode left), not in isolation.

Each part is wrapped in a timer, which adds about a microsecond to each, so the parts are upper
bounds and overlap (``sample`` holds ``run``, which holds ``scan`` and ``pipeline``); the ``hook``
line is also given from an unwrapped run. Not a benchmark against a peer: ``bench_decode.py`` is
that. Use it to see what to cut.

    python benchmarks/profile_hook.py [--strategy edt] [--runs 5] [--tokens 100] [--model PATH]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import defaultdict

import dyntemp
from dyntemp.core import kernel, pipeline, sampler, text
from dyntemp.llama import hook
from dyntemp.llama.generation import chat_prompt
from dyntemp.llama.model import load_model
from dyntemp.threads import default_threads

TIMES: dict[str, list[int]] = defaultdict(list)
PARTS = [(hook.LogitsHook, "__call__", "hook"), (hook.LogitsHook, "_logits", "read llama.cpp's logits"),
         (sampler.Sampler, "sample", "sample"), (sampler.Sampler, "_run", "run"), (kernel, "scan", "scan"),
         (pipeline.Pipeline, "run", "pipeline"), (kernel, "head", "cuts (head)"), (kernel, "scale", "temperature division"),
         (sampler.Sampler, "_temperature", "strategy"), (kernel, "draw", "draw"),
         (text.TextTracker, "bytes_of", "token bytes"), (text.TextTracker, "feed_bytes", "text tracking")]


def timed(name: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter_ns()
        result = fn(*args, **kwargs)
        TIMES[name].append(time.perf_counter_ns() - start)
        return result
    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="edt", help="a strategy spec (default edt)")
    parser.add_argument("--runs", type=int, default=5, help="generations timed (default 5)")
    parser.add_argument("--tokens", type=int, default=100, help="tokens a generation (default 100)")
    parser.add_argument("--model", default=None, help="a GGUF path (default: the default model)")
    args = parser.parse_args(argv)
    llm = load_model(args.model, n_threads=default_threads())
    eos = llm.token_eos()
    prompt = chat_prompt(llm, [{"role": "user", "content": "Tell me a long story about the sea."}])

    def generate() -> None:
        s = dyntemp.Sampler(args.strategy, seed=1, logit_bias={eos: -math.inf}, top_k=40, top_p=0.95, min_p=0.05)
        llm.reset()
        llm.create_completion(prompt, max_tokens=args.tokens, logits_processor=s.logits_processor(llm),
                              **s.llama_kwargs())

    medians: dict[str, list[float]] = defaultdict(list)
    originals = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in PARTS]
    plain = timed("hook (parts not timed)", hook.LogitsHook.__call__)
    wrapped = [(owner, attribute, timed(name, getattr(owner, attribute))) for owner, attribute, name in PARTS]
    generate()  # warm-up
    for run in range(2 * args.runs):  # alternating, so that both kinds of run see the same machine
        # the modules call kernel.<name> and the classes' methods: they see what is set here
        for owner, attribute, fn in (wrapped if run % 2 else originals):
            setattr(owner, attribute, fn)
        if not run % 2:
            hook.LogitsHook.__call__ = plain
        TIMES.clear()
        generate()
        for name, values in TIMES.items():
            medians[name].append(statistics.median(values) / 1e3)
    for owner, attribute, fn in originals:
        setattr(owner, attribute, fn)
    print(f"{args.strategy}, vocabulary {llm.n_vocab():,}, {args.runs} runs of {args.tokens} tokens: "
          f"median microseconds per token (the median over runs)")
    for name, values in sorted(medians.items(), key=lambda item: -statistics.median(item[1])):
        print(f"  {name:<28} {statistics.median(values):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
