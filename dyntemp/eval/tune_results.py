"""What a tune found: each strategy's best setting run on the held-out items, compared with the
best constant temperature, and written as presets, a verdict table and a plot per strategy.

Files, beside the tune's own (see ``dyntemp.eval.tune``):

- ``held-out/``: the run folder of the chosen settings on the held-out items (``dyntemp report``
  and ``dyntemp compare`` read it as any run folder); one per filter setting with ``tune_filters``;
- ``verdicts.txt``: ``dyntemp compare``'s rows on those items, against the best constant;
- ``results.json``: per strategy, the chosen settings with their tuning and held-out values;
- ``best-NAME.toml`` per strategy and ``best.toml`` (the best on the held-out items): presets, sweep
  files of one setting that ``generate``, ``serve`` and ``batch`` take with ``--preset``;
- ``trials-NAME.png``: the strategy's trials (one objective: each trial and the best so far; two:
  the trials and their Pareto front).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..files import replace_file
from ..strategies.spec import StrategySpec
from . import metric_info
from .compare import compare, format_rows
from .run_folder import read_generations
from .tune import BASELINE, HEADER, HELD_OUT, Tune, filter_folder, objective_values

#: At most this many points of a strategy's Pareto front go to the held-out items.
FRONT_POINTS = 5


def chosen_trials(study, objectives: int) -> list:
    """The trials a strategy sends to the held-out items: its best, or (two objectives) up to
    ``FRONT_POINTS`` of its Pareto front, spread along the first objective."""
    if objectives == 1:
        return [study.best_trial]
    front = sorted(study.best_trials, key=lambda t: t.values[0])
    if len(front) > FRONT_POINTS:
        front = [front[i] for i in np.linspace(0, len(front) - 1, FRONT_POINTS).round().astype(int)]
    return front


def _setting(trial) -> tuple[StrategySpec, dict]:
    return StrategySpec.from_dict(trial.user_attrs["setting"]), dict(trial.user_attrs.get("filters", {}))


def held_out(tune: Tune, out: Path, studies: dict) -> dict:
    """Run the chosen settings on the held-out items, compare them, and write the result files;
    returns ``results.json``'s content."""
    from .runner import run_sweep

    header = json.loads((out / HEADER).read_text(encoding="utf-8"))
    items = header["held_out_items"]
    # name -> [(trial, its spec, its filters)]: each strategy's best, or its Pareto front.
    chosen = {name: [(t, *_setting(t)) for t in chosen_trials(study, len(tune.objectives))]
              for name, study in studies.items()}
    groups: dict[tuple, list[StrategySpec]] = {}
    for settings in chosen.values():
        for _, spec, filters in settings:
            groups.setdefault(tuple(filters.items()), []).append(spec)
    records, seen, wanted = [], set(), set(items)
    for filters, specs in groups.items():
        folder = filter_folder(out / HELD_OUT, dict(filters))
        run_sweep(tune.sweep(list(dict.fromkeys(specs)), items, dict(filters)), folder, progress=False)
        keys = {spec.key for spec in specs}
        for record in read_generations(folder):
            if record.setting in keys and record.item in wanted and record.setting not in seen:
                records.append(record)
        seen |= keys
    baseline = chosen[BASELINE][0][1].key if len(tune.objectives) == 1 else None
    diversity = tune.objectives[1] if len(tune.objectives) == 2 else "distinct_2"
    rows = compare(records, baseline=baseline, metrics=tune.objectives, diversity=diversity)
    replace_file(out / "verdicts.txt", format_rows(rows) + "\n")
    results = _results(tune, chosen, records, rows)
    replace_file(out / "results.json", json.dumps(results, indent=2))
    _presets(tune, out, results)
    for name, study in studies.items():
        plot_trials(study, tune.objectives, out / f"trials-{name}.png", name)
    return results


def _results(tune: Tune, chosen: dict, records: list, rows: list[dict]) -> dict:
    by_setting: dict[str, list] = {}
    for record in records:
        by_setting.setdefault(record.setting, []).append(record)
    out = {"objectives": list(tune.objectives), "strategies": {}}
    for name, settings in chosen.items():
        entries = []
        for trial, spec, filters in settings:
            held = objective_values(by_setting.get(spec.key, []), tune.objectives)
            against = [{k: row[k] for k in ("baseline", "metric", "difference", "low", "high", "detectable",
                                            "p_holm", "verdict")}
                       for row in rows if row["setting"] == spec.key and row["mode"] == "baseline"]
            entries.append({"setting": spec.to_dict(), "key": spec.key, "filters": filters,
                            "tuning": list(trial.values), "held_out": held, "against_constant": against})
        out["strategies"][name] = entries
    return out


def _best(candidates: list[tuple[str, dict]], lower_is_better: bool) -> tuple[str, dict]:
    """The (strategy, entry) with the best first objective on the held-out items (a nan last)."""
    sign = -1.0 if lower_is_better else 1.0
    return max(candidates, key=lambda c: -math.inf if math.isnan(c[1]["held_out"][0])
               else sign * c[1]["held_out"][0])


def _presets(tune: Tune, out: Path, results: dict) -> None:
    quality = tune.objectives[0]
    lower = quality in metric_info.LOWER_IS_BETTER
    for name, entries in results["strategies"].items():
        _, entry = _best([(name, e) for e in entries], lower)
        write_preset(out / f"best-{name}.toml", tune, entry,
                     f"the best {name} setting of the tune in {out.name}, by {quality} on its held-out items")
    name, entry = _best([(n, e) for n, entries in results["strategies"].items() for e in entries], lower)
    verdicts = {row["verdict"] for row in entry["against_constant"]} or {"(it is the constant)"}
    write_preset(out / "best.toml", tune, entry,
                 f"the best setting of the tune in {out.name} by {quality} on its held-out items: {name}; "
                 f"against the best constant: {', '.join(sorted(verdicts))}")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"a preset cannot hold {value!r}")


def write_preset(path: Path, tune: Tune, entry: dict, comment: str) -> None:
    """A sweep file of one setting: ``[sampler]`` (the tune's, and its tuned filters) and one
    ``[[strategy]]``; ``dyntemp generate --preset FILE`` takes it, as ``dyntemp eval --config`` does."""
    lines = [f"# {comment}", f"suites = [{json.dumps(tune.suite)}]", "", "[sampler]"]
    sampler = {**tune.sampler, **entry["filters"]}
    lines += [f"{key} = {_toml_value(value)}" for key, value in sampler.items()]
    lines += ["", "[[strategy]]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in entry["setting"].items()]
    replace_file(path, "\n".join(lines) + "\n")


def plot_trials(study, objectives: list[str], path: Path, name: str) -> None:
    """The trials of one strategy: the objective by trial with the best so far, or the two
    objectives against each other with the Pareto front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    labels = [metric_info.label(m, metric_info.LOWER_IS_BETTER) for m in objectives]
    if len(objectives) == 1:
        values = [t.values[0] for t in trials]
        lower = objectives[0] in metric_info.LOWER_IS_BETTER
        best = (np.minimum if lower else np.maximum).accumulate(values) if values else []
        ax.plot(range(1, len(values) + 1), values, "o", alpha=0.6, label="trial")
        ax.step(range(1, len(values) + 1), best, where="post", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(labels[0])
    else:
        front = {t.number for t in study.best_trials}
        for on_front, style, label in ((False, "o", "trial"), (True, "D", "Pareto front")):
            points = [t.values for t in trials if (t.number in front) == on_front]
            if points:
                ax.plot(*zip(*points), style, alpha=0.8, label=label)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
    ax.set_title(f"{name}: {len(trials)} trials on the tuning items")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_results(results: dict) -> str:
    """The text a tune prints: per chosen setting its values on the tuning and held-out items and
    how it compares with the best constant."""
    objectives = results["objectives"]
    lines = [f"{'strategy':<16} {'setting':<40} " + " ".join(f"{'tuning ' + m:>16} {'held-out ' + m:>18}"
                                                            for m in objectives) + "  against the best constant"]
    for name, entries in results["strategies"].items():
        for entry in entries:
            cells = " ".join(f"{t:>16.4g} {h:>18.4g}" for t, h in zip(entry["tuning"], entry["held_out"]))
            against = "; ".join(f"{row['metric']} {row['difference']:+.3g} [{row['low']:+.3g}, {row['high']:+.3g}] "
                                f"{row['verdict']}" for row in entry["against_constant"]) or "-"
            lines.append(f"{name:<16} {(StrategySpec.from_dict(entry['setting']).label)[:40]:<40} {cells}  {against}")
    return "\n".join(lines)
