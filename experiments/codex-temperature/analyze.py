"""The Codex experiment's table, figure and test: pass@k against temperature, and whether the best
temperature for pass@10 lies above the best for pass@1.

The test resamples problems (a paired bootstrap: every temperature keeps the same problems), finds
the best temperature for each k in each resample, and reports the share of resamples in which the
best for pass@10 is hotter than the best for pass@1, with the 95% interval of the difference.

    python experiments/codex-temperature/analyze.py RUN OUT
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from dyntemp.eval.metrics import pass_at_k
from dyntemp.eval.run_folder import read_generations

KS = (1, 5, 10)


def per_problem(run: Path) -> tuple[list[float], list[str], dict[int, np.ndarray]]:
    """temperatures, problems, and k -> array [temperature, problem] of pass@k."""
    counts: dict[tuple[float, str], list[int]] = defaultdict(lambda: [0, 0])
    for record in read_generations(run):
        if record.strategy.name != "constant":
            continue
        key = (float(record.strategy.params["temperature"]), record.item)
        counts[key][0] += 1
        counts[key][1] += int(record.scores["passed"])
    temperatures = sorted({t for t, _ in counts})
    problems = sorted(p for p in {p for _, p in counts} if all((t, p) in counts for t in temperatures))
    samples = min(n for n, _ in counts.values())
    table = {k: np.array([[pass_at_k(*counts[t, p], k) for p in problems] for t in temperatures])
             for k in KS if k <= samples}
    return temperatures, problems, table


def shift_test(temperatures: list[float], table: dict, resamples: int = 5000, seed: int = 0) -> dict:
    """The bootstrap of T*(pass@K) - T*(pass@1) over problems, K the largest k measured."""
    top = max(table)
    rng = np.random.default_rng(seed)
    t = np.array(temperatures)
    n = table[1].shape[1]
    shifts = []
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        low, high = table[1][:, pick].mean(axis=1), table[top][:, pick].mean(axis=1)
        shifts.append(t[np.argmax(high)] - t[np.argmax(low)])  # ties: the coldest
    shifts = np.array(shifts)
    return {"k": top, "observed": float(t[np.argmax(table[top].mean(axis=1))] - t[np.argmax(table[1].mean(axis=1))]),
            "low": float(np.quantile(shifts, 0.025)), "high": float(np.quantile(shifts, 0.975)),
            "share_hotter": float(np.mean(shifts > 0))}


def markdown(temperatures, problems, table, test) -> str:
    lines = [f"{len(problems)} problems.\n", "| k | " + " | ".join(f"T={t:g}" for t in temperatures)
             + " | best T |", "| --- | " + " | ".join("---" for _ in temperatures) + " | --- |"]
    for k in table:
        means = table[k].mean(axis=1)
        lines.append(f"| pass@{k} | " + " | ".join(f"{m:.3f}" for m in means) +
                     f" | {temperatures[int(np.argmax(means))]:g} |")
    k = test["k"]
    lines.append(f"\nT*(pass@{k}) - T*(pass@1) = {test['observed']:+.1f}, 95% bootstrap interval "
                 f"[{test['low']:+.1f}, {test['high']:+.1f}]; pass@{k}'s best is hotter in "
                 f"{test['share_hotter']:.0%} of 5,000 resamples of the problems.")
    return "\n".join(lines) + "\n"


def figure(temperatures, table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for k in table:
        ax.plot(temperatures, table[k].mean(axis=1), marker="o", label=f"pass@{k}")
    ax.set_xlabel("temperature")
    ax.set_ylabel("pass@k (unbiased estimator)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str]) -> None:
    run, out = Path(argv[0]), Path(argv[1])
    temperatures, problems, table = per_problem(run)
    test = shift_test(temperatures, table)
    text = markdown(temperatures, problems, table, test)
    (out / f"results-{run.name}.md").write_text(text)
    figure(temperatures, table, out / f"pass-at-k-{run.name}.png")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
