"""Decoding throughput on the default model: llama-cpp-python's native sampling against dyntemp.

Native: ``create_completion`` with top_k 40, top_p 0.95, min_p 0.05, temperature 0.8. dyntemp: the
same filters with the ``constant`` (0.8), ``edt`` and ``sentence`` strategies, through the hook
inside ``create_completion`` and through ``Sampler.generate``. End-of-generation is banned so every
run decodes exactly ``--tokens`` tokens (the native run bans it through llama-cpp-python's
``logit_bias``, itself a logits processor). Runs alternate; each configuration keeps its best round,
since single runs on a shared machine vary by several percent.

    python benchmarks/bench_decode.py [--tokens N] [--rounds N]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import dyntemp
from dyntemp.model import load_model

PROMPT = "<|im_start|>user\nTell me a long story about the sea.<|im_end|>\n<|im_start|>assistant\n"
FILTERS = dict(top_k=40, top_p=0.95, min_p=0.05)
LIMIT = 0.95


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100, help="tokens per run (default 100)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds (default 10)")
    args = parser.parse_args(argv)

    llm = load_model()
    no_eos = {llm.token_eos(): -math.inf}
    strategies = {
        "constant": dyntemp.get_strategy("constant", temperature=0.8),
        "edt": dyntemp.get_strategy("edt"),
        "sentence": dyntemp.get_strategy("sentence", temperatures=[0.2, 0.9, 1.4]),
    }

    def native() -> int:
        llm.reset()
        out = llm.create_completion(PROMPT, max_tokens=args.tokens, temperature=0.8, seed=1, logit_bias=no_eos,
                                    **FILTERS)
        return out["usage"]["completion_tokens"]

    def hook(strategy):
        def run() -> int:
            sampler = dyntemp.Sampler(strategy, seed=1, logit_bias=no_eos, **FILTERS)
            llm.reset()
            out = llm.create_completion(PROMPT, max_tokens=args.tokens, logits_processor=sampler.logits_processor(llm),
                                        **sampler.llama_kwargs())
            return out["usage"]["completion_tokens"]
        return run

    def generate(strategy):
        def run() -> int:
            sampler = dyntemp.Sampler(strategy, seed=1, logit_bias=no_eos, **FILTERS)
            return len(sampler.generate(llm, PROMPT, max_tokens=args.tokens).tokens)
        return run

    runs = {"native (llama-cpp-python)": native}
    runs.update({f"dyntemp {name} (hook)": hook(s) for name, s in strategies.items()})
    runs.update({f"dyntemp {name} (generate)": generate(s) for name, s in strategies.items()})
    best = {name: 0.0 for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            tokens = run()
            best[name] = max(best[name], tokens / (time.perf_counter() - start))

    base = best["native (llama-cpp-python)"]
    print(f"{'sampling':<30} {'tokens/s':>9} {'vs native':>10}")
    for name, rate in best.items():
        print(f"{name:<30} {rate:>9.1f} {rate / base:>10.3f}")
    worst = min(rate / base for name, rate in best.items() if name.startswith("dyntemp"))
    print(f"worst ratio {worst:.3f} (must be >= {LIMIT})")
    return 0 if worst >= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
