"""Cost of one sampling step: dyntemp's pipeline against llama.cpp's native chain, in one run.

Both sample the same logit vectors: real ones from the default model (vocabulary 49,152) and
LLM-like synthetic ones (vocabulary 262,144, Gemma 3's size). The native side is llama.cpp's chain
top_k 40 → top_p 0.95 → min_p 0.05 → temperature 0.8 → draw through ``llama_sampler_apply``
(filling the token array from numpy included); dyntemp's is ``Sampler("edt")`` with the same
filters. Each round times both sides over the same vectors, the order alternating between rounds;
the printed times are the medians over rounds, and the ratio is the median of the paired ratios.

    python benchmarks/bench_step.py [--rounds N] [--steps N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import dyntemp
from dyntemp.core import kernel
from dyntemp.llama.model import load_model
from dyntemp.llama.native import NativeChain
from dyntemp.testing import model_logits, synthetic_set

PROMPTS = (
    "The history of the sea is",
    "Write a short poem about autumn.",
    "def fibonacci(n):",
    "Q: What is the capital of France?\nA:",
)
# dyntemp's step at most this many times the native chain's, by vocabulary size.
GOALS = {49_152: 0.9, 262_144: 0.6}


def _per_step(fn, vectors) -> float:
    start = time.perf_counter()
    for x in vectors:
        fn(x)
    return (time.perf_counter() - start) / len(vectors)


def measure(vectors: np.ndarray, rounds: int) -> tuple[float, float, float]:
    """Median per-step seconds of native and dyntemp, and the median of their paired ratios, over
    ``rounds`` rounds whose order alternates."""
    native = NativeChain([("top_k", (40,)), ("top_p", (0.95, 1)), ("min_p", (0.05, 1)), ("temp", (0.8,)),
                          ("dist", (7,))], n_vocab=vectors.shape[1])
    sampler = dyntemp.Sampler("edt", top_k=40, top_p=0.95, min_p=0.05, seed=7)

    natives, mine, ratios = [], [], []
    for round_ in range(rounds):
        sampler.reset()
        if round_ % 2:
            b, a = _per_step(sampler.sample, vectors), _per_step(native.sample, vectors)
        else:
            a, b = _per_step(native.sample, vectors), _per_step(sampler.sample, vectors)
        natives.append(a)
        mine.append(b)
        ratios.append(b / a)
    return statistics.median(natives), statistics.median(mine), statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="alternating rounds per vocabulary (default 30)")
    parser.add_argument("--steps", type=int, default=32, help="real logit vectors per prompt (default 32)")
    args = parser.parse_args(argv)

    llm = load_model(n_ctx=512)
    sets = {
        "49,152 (SmolLM2, real)": model_logits(llm, PROMPTS, args.steps),
        "262,144 (synthetic)": np.stack(synthetic_set(262_144, 64, seed=1)),
    }
    print(f"dyntemp's sampling path: {kernel.path()}")
    print(f"{'vocabulary':<24} {'native ms':>10} {'dyntemp ms':>11} {'median ratio':>13} {'goal':>6}")
    met = True
    for name, vectors in sets.items():
        native, ours, ratio = measure(vectors, args.rounds)
        goal = GOALS[vectors.shape[1]]
        met &= ratio <= goal
        print(f"{name:<24} {native * 1e3:>10.4f} {ours * 1e3:>11.4f} {ratio:>13.2f} {'<= ' + str(goal):>6} "
              f"{'met' if ratio <= goal else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
