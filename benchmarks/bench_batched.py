"""Batched generation against raw llama.cpp batched decoding, paired, at 1, 4 and 8 sequences.

Raw: one llama.cpp context of N sequences (the same ``BatchContext`` the engine uses, so both pay
the same for a context), the N prompts evaluated in one batch, then one ``llama_decode`` of N
tokens per step with each row of logits read (its argmax is the next token): no sampling at all.
dyntemp: ``BatchedEngine`` generating the same N prompts, each sequence with its own sampler (the
strategies alternate: constant, edt, sentence; top-k 40, top-p 0.95, min-p 0.05), its own seed and
trace, end-of-generation banned so that both sides decode exactly ``--tokens`` tokens a sequence.

Each round runs both sides right after each other, the order alternating; the printed ratio is the
median over rounds of dyntemp's tokens/s over raw's, with a distribution-free 95% interval, and
raw's own gain over one sequence (what batching can give on this machine).

    python benchmarks/bench_batched.py [--tokens N] [--rounds N] [--sizes 1,4,8] [--models smollm2,gemma]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np

import dyntemp
from bench_decode import each_model, median_interval
from dyntemp.llama.batch_context import BatchContext
from dyntemp.llama.batched import BatchedEngine, BatchRequest
from dyntemp.llama.logits import eog_tokens
from dyntemp.llama.model import load_model
from dyntemp.threads import default_threads

GOAL = 0.9  # at 4 and 8 sequences
FILTERS = dict(top_k=40, top_p=0.95, min_p=0.05)
STRATEGIES = ("constant:temperature=0.8", "edt", "sentence:temperatures=[0.2,0.9,1.4]")
TOPICS = ("the sea", "a lighthouse", "a fox", "the moon", "a market", "a storm", "a robot", "a garden")


def prompts(llm, n: int) -> list[list[int]]:
    return [llm.tokenize(f"Tell me a long story about {TOPICS[i % len(TOPICS)]}.".encode()) for i in range(n)]


def raw(context: BatchContext, prompts: list[list[int]], tokens: int) -> float:
    """Tokens/s of raw batched decoding: the prompts, then ``tokens`` steps of one token each."""
    start = time.perf_counter()
    rows = [context.add_tokens(p, 0, seq) for seq, p in enumerate(prompts)]
    context.decode()
    last = [int(context.logits(row).argmax()) for row in rows]
    positions = [len(p) for p in prompts]
    for _ in range(tokens - 1):
        rows = [context.add(last[seq], positions[seq], seq) for seq in range(len(prompts))]
        context.decode()
        last = [int(context.logits(row).argmax()) for row in rows]
        positions = [p + 1 for p in positions]
    for seq in range(len(prompts)):  # empty streams again, as the engine leaves them and expects them
        context.clear(seq)
    return len(prompts) * tokens / (time.perf_counter() - start)


def engine_rate(engine: BatchedEngine, prompts: list[list[int]], tokens: int, banned: dict) -> float:
    requests = [BatchRequest(dyntemp.Sampler(STRATEGIES[i % len(STRATEGIES)], seed=i, logit_bias=banned, **FILTERS),
                             p, tokens) for i, p in enumerate(prompts)]
    start = time.perf_counter()
    results = engine.generate(requests)
    seconds = time.perf_counter() - start
    engine.reset()  # its places kept the prompts: the next run evaluates them again, as raw decoding does
    decoded = sum(len(r.tokens) for r in results)
    if decoded != len(prompts) * tokens:
        raise RuntimeError(f"decoded {decoded} tokens, not {len(prompts) * tokens}: the runs would not compare")
    return decoded / seconds


def bench(name: str, path: str | None, args) -> dict[int, float]:
    llm = load_model(path, n_threads=args.threads, n_ctx=256)
    banned = {token: -math.inf for token in eog_tokens(llm)}
    print(f"\n{name}: vocabulary {llm.n_vocab():,}, {args.threads} thread(s), {args.tokens} tokens a sequence, "
          f"{args.rounds} paired rounds")
    print(f"{'sequences':>9} {'raw tokens/s':>13} {'raw gain':>9} {'dyntemp/raw':>12} {'95% CI':>13}")
    medians, single = {}, None
    for n in args.sizes:
        engine = BatchedEngine(llm, n, n_ctx=args.tokens + 64)
        context = engine.context  # raw decoding on the same context: same cache, same threads
        batch = prompts(llm, n)
        raw(context, batch, 4), engine_rate(engine, batch, 4, banned)  # warm-up
        ratios, raws = [], []
        for round_ in range(args.rounds):
            if round_ % 2:
                ours, theirs = engine_rate(engine, batch, args.tokens, banned), raw(context, batch, args.tokens)
            else:
                theirs, ours = raw(context, batch, args.tokens), engine_rate(engine, batch, args.tokens, banned)
            raws.append(theirs)
            ratios.append(ours / theirs)
        engine.close()
        rate = statistics.median(raws)
        single = rate if n == 1 else single
        gain = f"{rate / single:.2f}x" if single else "-"
        low, high = median_interval(ratios)
        medians[n] = statistics.median(ratios)
        print(f"{n:>9} {rate:>13.1f} {gain:>9} {medians[n]:>12.3f} {low:>6.3f}-{high:<6.3f}")
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64, help="tokens per sequence (default 64)")
    parser.add_argument("--rounds", type=int, default=6, help="paired rounds (default 6)")
    parser.add_argument("--sizes", default="1,4,8", help="sequences per batch (default 1,4,8)")
    parser.add_argument("--threads", type=int, default=default_threads(), help="llama.cpp threads (default: "
                        "the physical cores)")
    parser.add_argument("--models", default="smollm2,gemma", help="smollm2, gemma or both (default)")
    parser.add_argument("--no-install", action="store_true", help="do not install Gemma 3 270M when missing")
    args = parser.parse_args(argv)
    args.sizes = [int(n) for n in args.sizes.split(",")]
    results = each_model(parser, args, bench)
    print()
    met = bool(results)
    for name, by_size in results.items():
        for n, value in by_size.items():
            if n >= 4:
                met &= value >= GOAL
                print(f"{name}, {n} sequences: median ratio {value:.3f} (goal >= {GOAL}: "
                      f"{'met' if value >= GOAL else 'NOT met'})")
    return 0 if met else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
