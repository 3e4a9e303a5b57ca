"""The min-p experiment's table and figure from its run folders: quality against temperature per filter.

    python experiments/min-p/analyze.py RUNS OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dyntemp.eval.compare import bootstrap_interval, item_values
from dyntemp.eval.run_folder import read_generations
from dyntemp.eval.summary import read_csv

FILTERS = ("pure", "top_p=0.9", "top_p=0.95", "min_p=0.1", "min_p=0.2", "min_p=0.3")
METRICS = (("humaneval", "parses"), ("humaneval", "pass@1"), ("qa", "accuracy"))
TEMPERATURES = (1.0, 1.5, 2.0, 3.0)
# The paper's claim, tested paired: each min-p threshold against each top-p, on the same items and seeds.
PAIRS = tuple((m, p) for m in ("min_p=0.1", "min_p=0.2", "min_p=0.3") for p in ("top_p=0.9", "top_p=0.95"))


def table(runs: Path) -> dict:
    """(suite, metric, filter) -> {temperature: (mean, low, high)}."""
    out = {}
    for suite, metric in METRICS:
        for name in FILTERS:
            path = runs / suite / name / "summary.csv"
            if not path.is_file():
                continue
            rows = read_csv(path)
            out[suite, metric, name] = {float(r["setting"].split("=")[1]): (r[metric], r[f"{metric}_low"],
                                                                            r[f"{metric}_high"]) for r in rows}
    return out


def markdown(values: dict) -> str:
    lines = []
    for suite, metric in METRICS:
        lines += [f"\n{suite} {metric}, mean [95% interval] over the items and seeds:\n",
                  "| filter | " + " | ".join(f"T={t:g}" for t in TEMPERATURES) + " |",
                  "| --- | " + " | ".join("---" for _ in TEMPERATURES) + " |"]
        for name in FILTERS:
            by_t = values.get((suite, metric, name), {})
            cells = [f"{by_t[t][0]:.3f} [{by_t[t][1]:.2f}, {by_t[t][2]:.2f}]" if t in by_t else "-"
                     for t in TEMPERATURES]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired(runs: Path, suite: str, metric: str, ours: str, theirs: str) -> dict:
    """temperature -> (mean difference ours - theirs over items, 95% bootstrap interval, items): each
    item's value averaged over its seeds first, items resampled 5,000 times (seeded)."""
    out = {}
    a, b = runs / suite / ours, runs / suite / theirs
    if not ((a / "generations.jsonl").is_file() and (b / "generations.jsonl").is_file()):
        return out
    ra, rb = read_generations(a), read_generations(b)
    for t in TEMPERATURES:
        setting = f"constant:temperature={t}"

        def by_item(records):
            grouped: dict = {}
            for r in records:
                if r.setting == setting:
                    grouped.setdefault(r.item, []).append(r)
            return item_values(grouped, metric)

        va, vb = by_item(ra), by_item(rb)
        items = sorted(set(va) & set(vb))
        if len(items) < 2:
            continue
        d = np.array([va[i] - vb[i] for i in items])
        low, high, _ = bootstrap_interval(d)
        out[t] = (float(d.mean()), low, high, len(items))
    return out


def paired_markdown(runs: Path) -> str:
    lines = []
    for suite, metric in (("qa", "accuracy"), ("humaneval", "parses")):
        lines += [f"\n{suite} {metric}, min-p minus top-p, paired by item (seeds averaged), mean [95% interval]:\n",
                  "| min-p − top-p | " + " | ".join(f"T={t:g}" for t in TEMPERATURES) + " |",
                  "| --- | " + " | ".join("---" for _ in TEMPERATURES) + " |"]
        for ours, theirs in PAIRS:
            diff = paired(runs, suite, metric, ours, theirs)
            cells = [f"{diff[t][0]:+.3f} [{diff[t][1]:+.2f}, {diff[t][2]:+.2f}]" if t in diff else "-"
                     for t in TEMPERATURES]
            lines.append(f"| {ours} − {theirs} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(values: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(13, 3.8), dpi=100)
    for ax, (suite, metric) in zip(axes, METRICS):
        for name in FILTERS:
            by_t = values.get((suite, metric, name))
            if by_t:
                ts = sorted(by_t)
                ax.errorbar(ts, [by_t[t][0] for t in ts],
                            yerr=[[max(by_t[t][0] - by_t[t][1], 0) for t in ts],
                                  [max(by_t[t][2] - by_t[t][0], 0) for t in ts]],
                            marker="o", capsize=3, label=name, linestyle="--" if name.startswith("top") else "-")
        ax.set_xlabel("temperature (applied first)")
        ax.set_title(f"{suite}: {metric}")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str]) -> None:
    runs, out = Path(argv[0]), Path(argv[1])
    values = table(runs)
    text = markdown(values) + paired_markdown(runs)
    (out / "results.md").write_text(text)
    figure(values, out / "min-p.png")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
