"""The AdapT experiment's tables and figure: the tuned AdapT rule against the tuned constant on
held-out HumanEval problems, and the rule checked token by token in the generations.

    python experiments/adapt/analyze.py RUNS OUT

RUNS holds ``tune/`` (the ``dyntemp tune`` folder) and ``gemma-rule/`` (a run of the rule on Gemma 3
270M, whose tokenizer writes indentation as tokens of its own).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from dyntemp.eval.compare import bootstrap_interval, compare, format_rows, item_values
from dyntemp.eval.run_folder import read_generations

METRICS = ("pass@1", "pass@5", "parses", "loop_rate")
STRATEGY = "adapt-lines"


def by_setting(records) -> dict[str, dict[str, list]]:
    """setting -> item -> its records (the seeds)."""
    out: dict = {}
    for r in records:
        out.setdefault(r.setting, {}).setdefault(r.item, []).append(r)
    return out


def mean_interval(items: dict, metric: str) -> tuple[float, float, float]:
    """The mean over problems of ``metric`` and its 95% bootstrap interval (problems resampled)."""
    values = np.array(list(item_values(items, metric).values()))
    if values.size == 0:
        return (np.nan, np.nan, np.nan)
    low, high, _ = bootstrap_interval(values)
    return float(values.mean()), low, high


def rule_check(records) -> dict[str, list[int]]:
    """Tokens of the rule's generations by where they stand -> [hot, cold]: a line's first non-blank
    token (the rule wants it hot), a whitespace token at a blank line start (indentation or a blank
    line: cold), any token after text on its line (cold)."""
    counts = {"first non-blank token of a line": [0, 0], "whitespace at a blank line start": [0, 0],
              "after text on the line": [0, 0]}
    for record in records:
        line = ""
        for token in record.trace:
            hot = token.rule == "adapt:start"
            if line.strip():
                kind = "after text on the line"
            elif token.piece.strip():
                kind = "first non-blank token of a line"
            else:
                kind = "whitespace at a blank line start"
            counts[kind][0 if hot else 1] += 1
            line = (line + token.piece).rpartition("\n")[2]
    return counts


def markdown(results: dict, held: dict, rows: list[dict], checks: dict[str, dict]) -> str:
    lines = ["Each strategy's best setting by `parses` on the tuning problems, then on the held-out problems "
             "(mean over problems [95% bootstrap interval]):\n",
             "| strategy | setting | tuning parses | " + " | ".join(f"held-out {m}" for m in METRICS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in METRICS) + " |"]
    for name, entries in results["strategies"].items():
        for e in entries:
            cells = [f"{m:.3f} [{lo:.2f}, {hi:.2f}]" for m, lo, hi in (held[e["key"]][k] for k in METRICS)]
            lines.append(f"| {name} | {e['key'].partition(':')[2]} | {e['tuning'][0]:.3f} | " + " | ".join(cells) + " |")
    lines += ["\nThe tuned AdapT against the tuned constant, paired by held-out problem (`dyntemp compare`, "
              "Holm over the rows):\n", "```", format_rows(rows), "```",
              "\nThe rule, token by token (`adapt:start` is hot):\n",
              "| generations | token | hot | cold |", "| --- | --- | --- | --- |"]
    for where, counts in checks.items():
        for kind, (hot, cold) in counts.items():
            lines.append(f"| {where} | {kind} | {hot} | {cold} |")
    return "\n".join(lines) + "\n"


def figure(tuning: dict, held: dict, keys: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    colours = {"constant": "tab:gray", STRATEGY: "tab:orange"}
    for name, colour in colours.items():
        points = [(mean_interval(items, "temperature_mean")[0], mean_interval(items, "parses")[0])
                  for setting, items in tuning.items() if setting.partition(":")[0] == name]
        axes[0].plot(*zip(*sorted(points)), "o", color=colour, alpha=0.7, label=f"{name}: a trial")
    axes[0].set_xlabel("mean temperature of the trial")
    axes[0].set_ylabel("parses on the tuning problems")
    axes[0].set_title("tuning: every trial")
    for offset, (name, key) in zip((-0.12, 0.12), keys.items()):
        for x, metric in enumerate(METRICS):
            m, lo, hi = held[key][metric]
            axes[1].errorbar(x + offset, m, yerr=[[m - lo], [hi - m]], fmt="D", capsize=4, color=colours[name],
                             label=f"{name}: {key.partition(':')[2]}" if x == 0 else None)
    axes[1].set_xticks(range(len(METRICS)), METRICS)
    axes[1].set_title("held-out problems: each best, 95% intervals")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str]) -> None:
    runs, out = Path(argv[0]), Path(argv[1])
    tune = runs / "tune"
    results = json.loads((tune / "results.json").read_text(encoding="utf-8"))
    keys = {name: entries[0]["key"] for name, entries in results["strategies"].items()}
    records = read_generations(tune / "held-out")
    settings = by_setting(records)
    held = {key: {m: mean_interval(settings[key], m) for m in METRICS} for key in keys.values()}
    rows = compare(records, baseline=keys["constant"], metrics=list(METRICS))
    checks = {"SmolLM2, held-out": rule_check(r for r in records if r.setting == keys[STRATEGY])}
    if (runs / "gemma-rule" / "generations.jsonl").is_file():
        checks["Gemma 3 270M"] = rule_check(read_generations(runs / "gemma-rule"))
    text = markdown(results, held, rows, checks)
    (out / "results.md").write_text(text, encoding="utf-8")
    figure(by_setting(read_generations(tune / "tuning")), held, keys, out / "adapt.png")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
