"""The mirostat experiment's figure and table: the surprise of sampled tokens by position, and repetition.

The surprise of a token is ``-logprob`` under the model itself (temperature 1, before any filter),
as the paper measures the observed cross-entropy.

    python experiments/mirostat/analyze.py RUNS OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dyntemp.eval.compare import bootstrap_interval
from dyntemp.eval.run_folder import read_generations

CONFIGS = ("top_k=5", "top_k=1000", "top_p=0.5", "top_p=0.99", "mirostat_tau=2", "mirostat_tau=4", "edt", "dynatemp")
BIN = 32  # tokens per position bucket


def curves(runs: Path) -> dict:
    """config -> (bucket starts, mean surprise per bucket, replies per bucket, rep_3 mean, loop rate, length,
    the paired change of the replies that reach the last bucket with 5 or more: mean [95% interval], n)."""
    out = {}
    for name in CONFIGS:
        folder = runs / name
        if not (folder / "generations.jsonl").is_file():
            continue
        records = read_generations(folder)
        surprises = [np.array([-r.logprob for r in rec.trace]) for rec in records]
        longest = max(map(len, surprises))
        starts = np.arange(0, longest, BIN)
        means, counts = [], []
        for start in starts:
            chunk = [s[start:start + BIN].mean() for s in surprises if len(s) > start]
            means.append(float(np.mean(chunk)))
            counts.append(len(chunk))
        out[name] = (starts, np.array(means), counts, float(np.mean([r.metrics["rep_3"] for r in records])),
                     float(np.mean([r.metrics["loop"] for r in records])),
                     float(np.mean([len(s) for s in surprises])), paired_change(surprises, starts, counts))
    return out


def last_bucket(counts: list[int]) -> int:
    """The last bucket that 5 or more replies reach (the first when none does)."""
    reached = [i for i, c in enumerate(counts) if c >= 5]
    return reached[-1] if reached else 0


def paired_change(surprises: list[np.ndarray], starts: np.ndarray, counts: list[int]) -> tuple:
    """Within each reply that reaches the last bucket: its mean surprise there minus its first 32
    tokens'; the mean over those replies, a 95% bootstrap interval (replies resampled, seeded), and n."""
    start = starts[last_bucket(counts)]
    changes = np.array([s[start:start + BIN].mean() - s[:BIN].mean() for s in surprises if len(s) > start])
    if start == 0 or len(changes) < 2:
        return float("nan"), float("nan"), float("nan"), len(changes)
    low, high, _ = bootstrap_interval(changes)
    return float(changes.mean()), low, high, len(changes)


def markdown(values: dict) -> str:
    lines = ["| setting | mean surprise, first 32 tokens | last bucket (start) | change | change within a reply "
             "[95% CI] (replies) | rep-3 | loop rate | mean length |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, (starts, means, counts, rep, loop, length, (change, low, high, n)) in values.items():
        last = last_bucket(counts)
        lines.append(f"| {name} | {means[0]:.2f} | {means[last]:.2f} ({starts[last]}) | "
                     f"{means[last] - means[0]:+.2f} | {change:+.2f} [{low:+.2f}, {high:+.2f}] ({n}) | "
                     f"{rep:.3f} | {loop:.2f} | {length:.0f} |")
    return "\n".join(lines) + "\n"


def figure(values: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for name, (starts, means, counts, *_) in values.items():
        keep = [i for i, c in enumerate(counts) if c >= 5]
        ax.plot(starts[keep] + BIN / 2, means[keep], marker="o", label=name,
                linestyle="--" if name.startswith(("top_k", "top_p")) else "-")
    ax.set_xlabel("position in the reply (tokens, buckets of 32)")
    ax.set_ylabel("surprise of the sampled token (nats)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str]) -> None:
    runs, out = Path(argv[0]), Path(argv[1])
    values = curves(runs)
    (out / "results.md").write_text(markdown(values))
    figure(values, out / "surprise-by-position.png")
    print(markdown(values))


if __name__ == "__main__":
    main(sys.argv[1:])
