"""``dyntemp batch`` and ``dyntemp eval`` wall time with ``--batch-size N`` against one sequence at a
time: the same work, the same records, in one run.

batch: ``--lines`` prompts of ``--max-tokens`` tokens each (end-of-generation banned, so every line
costs the same), one worker with every core. eval: a qa sweep of two settings, ``--items`` prompts
and 3 seeds each, ``--max-tokens`` at most (items end where they end: the same in every run, since
the records are the same). Each measurement includes loading the model. The sizes alternate in
order between rounds; printed are the median wall times and the median of the paired speed-ups
against ``--batch-size 1``.

    python benchmarks/bench_batch_size.py [--rounds N] [--sizes 4,8] [--lines N] [--items N] [--max-tokens N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dyntemp.batch import BatchOptions, run_batch
from dyntemp.eval.runner import run_sweep
from dyntemp.eval.spec import Sweep, parse_strategy

TOPICS = ("the sea", "a lighthouse", "a fox", "the moon", "a market", "a storm", "a robot", "a garden")


def batch_seconds(folder: Path, size: int, max_tokens: int) -> float:
    out = folder / f"out-{time.monotonic_ns()}.jsonl"
    start = time.perf_counter()
    run_batch(str(folder / "in.jsonl"), str(out), BatchOptions(seed=1, batch_size=size, max_tokens=max_tokens),
              progress=False)
    return time.perf_counter() - start


def eval_seconds(folder: Path, size: int, items: int, max_tokens: int) -> float:
    out = folder / f"run-{time.monotonic_ns()}"
    sweep = Sweep(["qa"], parse_strategy("constant:temperature=0.7") + parse_strategy("edt"), seeds=3, limit=items,
                  max_tokens=max_tokens, batch_size=size)
    start = time.perf_counter()
    run_sweep(sweep, out, progress=False)
    seconds = time.perf_counter() - start
    shutil.rmtree(out)
    return seconds


def compare(name: str, measure, sizes: list[int], rounds: int) -> None:
    times: dict[int, list[float]] = {size: [] for size in [1, *sizes]}
    for round_ in range(rounds):
        order = [1, *sizes] if round_ % 2 == 0 else [1, *sizes][::-1]
        for size in order:
            times[size].append(measure(size))
    print(f"\n{name}: {rounds} rounds")
    print(f"{'batch size':>10} {'median s':>9} {'speed-up':>9} {'lowest':>7} {'highest':>8}")
    for size, values in times.items():
        ups = [one / this for one, this in zip(times[1], values)]
        print(f"{size:>10} {statistics.median(values):>9.1f} {statistics.median(ups):>8.2f}x {min(ups):>6.2f}x "
              f"{max(ups):>7.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (default 3)")
    parser.add_argument("--sizes", default="4,8", help="batch sizes against 1 (default 4,8)")
    parser.add_argument("--lines", type=int, default=16, help="batch lines (default 16)")
    parser.add_argument("--items", type=int, default=4, help="eval items (default 4)")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per generation (default 64)")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in.jsonl").write_text("".join(
            json.dumps({"id": f"l{i}", "prompt": f"Tell me a long story about {TOPICS[i % len(TOPICS)]}.",
                        "ignore_eos": True}) + "\n" for i in range(args.lines)))
        compare(f"dyntemp batch, {args.lines} lines of {args.max_tokens} tokens",
                lambda size: batch_seconds(folder, size, args.max_tokens), sizes, args.rounds)
        compare(f"dyntemp eval, qa: {args.items} items x 3 seeds x 2 settings, at most {args.max_tokens} tokens",
                lambda size: eval_seconds(folder, size, args.items, args.max_tokens), sizes, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
