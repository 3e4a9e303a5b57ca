"""Batch throughput: local workers against Ray actors, the same jobs, in one run; and how far one
driver scales.

The same batch (``--lines`` prompts, ``--max-tokens`` each, end-of-generation banned so every line
costs the same) runs with 1 and 2 local worker processes and on 2 Ray actors of a local Ray (started
once, on loopback); each measurement includes starting its workers and loading their models. The
order alternates between rounds; printed are the medians of generations/s and tokens/s, and Ray's
overhead against 2 local workers (the median of paired ratios; the goal: at most 10%).

Then the driver alone: Ray actors that return a ready record at once feed the driver as fast as it
can receive, check and write records; its records/s, divided by one actor's measured rate, is how
many generating actors one driver can keep up with.

    python benchmarks/bench_batch.py [--rounds N] [--lines N] [--max-tokens N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dyntemp.batch import BatchOptions, run_batch
from dyntemp.records import GenerationRecord


def measure(folder: Path, lines: int, **options) -> tuple[float, float]:
    """(generations/s, tokens/s) of one batch run into a fresh output."""
    out = folder / f"out-{time.monotonic_ns()}.jsonl"
    start = time.perf_counter()
    run_batch(str(folder / "in.jsonl"), str(out), BatchOptions(seed=1, **options), progress=False)
    seconds = time.perf_counter() - start
    tokens = sum(json.loads(line)["completion_tokens"] for line in out.read_text().splitlines())
    return lines / seconds, tokens / seconds


class ReadyRecord:
    """A worker that generates nothing: it returns one record made in advance, for every job."""

    def __init__(self, record: dict) -> None:
        self.record = GenerationRecord.from_dict(record)

    def __call__(self, job) -> GenerationRecord:
        return GenerationRecord.from_dict({**self.record.to_dict(), "id": job.id})


def driver_rate(folder: Path, sample: dict, records: int) -> float:
    """Records/s the driver receives, checks and writes from 2 actors that never wait for a model."""
    import dyntemp.batch.runner as runner

    (folder / "many.jsonl").write_text("".join(json.dumps({"id": f"r{i}", "prompt": "Hi"}) + "\n"
                                               for i in range(records)))
    original = runner.BatchWorker
    runner.BatchWorker = lambda setup: ReadyRecord(sample)  # noqa: E731 - the actors build this instead
    try:
        start = time.perf_counter()
        run_batch(str(folder / "many.jsonl"), str(folder / "many-out.jsonl"), BatchOptions(backend="ray", workers=2),
                  progress=False)
        return records / (time.perf_counter() - start)
    finally:
        runner.BatchWorker = original


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lines", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray-"))
    from dyntemp.ray_actors import start_ray

    start_ray(num_cpus=2)
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    (folder / "in.jsonl").write_text("".join(
        json.dumps({"id": f"p{i}", "prompt": f"Story number {i}:", "max_tokens": args.max_tokens, "ignore_eos": True})
        + "\n" for i in range(args.lines)))
    sides = {"local, 1 worker": dict(workers=1), "local, 2 workers": dict(workers=2),
             "Ray, 2 actors": dict(workers=2, backend="ray")}
    runs = {name: [] for name in sides}
    for round_ in range(args.rounds):
        order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
        for name in order:
            runs[name].append(measure(folder, args.lines, **sides[name]))
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {runs[n][-1][0]:.2f} gen/s" for n in sides), file=sys.stderr)
    print(f"{args.lines} lines x {args.max_tokens} tokens, {args.rounds} rounds (medians; workers loading included)")
    print(f"{'backend':<18} {'generations/s':>13} {'tokens/s':>9}")
    for name in sides:
        print(f"{name:<18} {statistics.median([r[0] for r in runs[name]]):13.2f} "
              f"{statistics.median([r[1] for r in runs[name]]):9.1f}")
    ratio = statistics.median([r[0] / l[0] for r, l in zip(runs["Ray, 2 actors"], runs["local, 2 workers"])])
    print(f"Ray's overhead against 2 local workers: {(1 - ratio) * 100:+.1f}% "
          f"(goal: at most 10%: {'met' if ratio >= 0.9 else 'NOT met'})")
    sample = json.loads(next(folder.glob("out-*.jsonl")).read_text().splitlines()[0])
    rate = driver_rate(folder, sample, 2000)
    per_actor = statistics.median([r[0] for r in runs["Ray, 2 actors"]]) / 2
    print(f"driver: {rate:.0f} records/s received, checked and written ({1000 / rate:.2f} ms a record); one actor "
          f"makes {per_actor:.2f} generations/s here, so one driver keeps up with about {rate / per_actor:.0f} actors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
