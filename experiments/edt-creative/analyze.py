"""The EDT-on-creative experiment's tables and figure from its tune folder: each strategy's Pareto
front on the tuning prompts, the front rerun on the held-out prompts, and EDT's scorer NLL against the
constant's curve at the same distinct-2, paired by prompt.

    python experiments/edt-creative/analyze.py TUNE_FOLDER OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from dyntemp.eval.compare import compare, format_rows, item_values
from dyntemp.eval.run_folder import read_generations

QUALITY, DIVERSITY = "scorer_nll", "distinct_2"


def held_out_means(records) -> dict[str, dict[str, float]]:
    """setting -> metric -> mean over the held-out prompts (each prompt's seeds averaged first)."""
    by_setting: dict = {}
    for r in records:
        by_setting.setdefault(r.setting, {}).setdefault(r.item, []).append(r)
    return {s: {m: float(np.mean(list(item_values(items, m).values())))
                for m in (QUALITY, DIVERSITY, "temperature_mean")} for s, items in by_setting.items()}


def equal_diversity_table(rows: list[dict], means: dict) -> list[str]:
    lines = ["| EDT setting | distinct-2 | NLL difference [95% CI] | could detect | Holm p | verdict |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if row["mode"] == "equal diversity" and row["metric"] == QUALITY:
            lines.append(f"| {row['setting'].partition(':')[2]} | {means[row['setting']][DIVERSITY]:.3f} | "
                         f"{row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}] | "
                         f"{row['detectable']:.3f} | {row['p_holm']:.2g} | {row['verdict'] or row.get('note', '')} |")
    return lines


def markdown(results: dict, means: dict, rows: list[dict], extended: list[dict] | None) -> str:
    lines = ["Each strategy's Pareto front on the tuning prompts, rerun on the held-out prompts "
             "(scorer NLL: lower is better; distinct-2: higher is more diverse):\n",
             "| strategy | setting | tuning NLL | tuning distinct-2 | held-out NLL | held-out distinct-2 | mean T |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, entries in results["strategies"].items():
        for e in sorted(entries, key=lambda e: e["tuning"][1]):
            m = means.get(e["key"], {})
            label = e["key"].partition(":")[2]
            lines.append(f"| {name} | {label} | {e['tuning'][0]:.3f} | {e['tuning'][1]:.3f} | "
                         f"{m.get(QUALITY, np.nan):.3f} | {m.get(DIVERSITY, np.nan):.3f} | "
                         f"{m.get('temperature_mean', np.nan):.2f} |")
    lines += ["\nEDT's scorer NLL minus the constant's at the same distinct-2 (the constant's held-out front "
              "interpolated), paired by held-out prompt, 95% bootstrap interval, Holm over every row of the "
              "comparison:\n",
              *equal_diversity_table(rows, means)]
    if extended is not None:
        lines += ["\nThe same, against the constant's curve extended by the reference grid (T = 0.2, 0.4, 0.6 on "
                  "the held-out prompts, `reference.py`: not tuned, only a wider curve):\n",
                  *equal_diversity_table(extended, means)]
    lines += ["\nEvery row of `compare` on the held-out prompts (also the tune's `verdicts.txt`):\n", "```",
              format_rows(rows), "```"]
    return "\n".join(lines) + "\n"


def figure(tune: Path, results: dict, means: dict, reference: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tune / 'optuna.db'}"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100, sharey=False)
    colours = {"constant": "tab:gray", "edt": "tab:blue"}
    for name in results["strategies"]:
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        front = {t.number for t in study.best_trials}
        axes[0].plot([t.values[1] for t in trials if t.number not in front],
                     [t.values[0] for t in trials if t.number not in front], "o", alpha=0.4,
                     color=colours.get(name), label=f"{name}: trial")
        points = sorted((t.values[1], t.values[0]) for t in trials if t.number in front)
        axes[0].plot(*zip(*points), "D-", color=colours.get(name), label=f"{name}: Pareto front")
        held = sorted((means[e["key"]][DIVERSITY], means[e["key"]][QUALITY])
                      for e in results["strategies"][name] if e["key"] in means)
        axes[1].plot(*zip(*held), "D-", color=colours.get(name), label=name)
    if reference:
        grid = sorted((means[key][DIVERSITY], means[key][QUALITY]) for key in reference)
        axes[1].plot(*zip(*grid), "o:", color=colours["constant"], mfc="none", label="constant: reference grid")
    axes[0].set_title(f"tuning prompts: {len(trials)} trials a strategy")
    axes[1].set_title("held-out prompts: the fronts rerun")
    for ax in axes:
        ax.set_xlabel("distinct-2 (more diverse →)")
        ax.set_ylabel("scorer NLL (nats/token, lower is better)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str]) -> None:
    tune, out = Path(argv[0]), Path(argv[1])
    results = json.loads((tune / "results.json").read_text(encoding="utf-8"))
    records = read_generations(tune / "held-out")
    rows = compare(records, metrics=[QUALITY, DIVERSITY], diversity=DIVERSITY)
    means = held_out_means(records)
    extended, reference = None, []
    if (tune / "reference" / "generations.jsonl").is_file():
        grid = read_generations(tune / "reference")
        extended = compare(records + grid, metrics=[QUALITY], diversity=DIVERSITY)
        means.update(held_out_means(grid))
        reference = sorted({r.setting for r in grid})
    text = markdown(results, means, rows, extended)
    (out / "results.md").write_text(text, encoding="utf-8")
    figure(tune, results, means, reference, out / "fronts.png")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
