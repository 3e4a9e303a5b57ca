"""Paired comparisons of a run's settings: does a setting beat its baseline, and by how much?

Every comparison is paired by item: each item's value of a metric is the mean over its seeds (or,
for ``pass@k`` and ``self_bleu``, the item's value over its seeds), and the difference is taken
item by item, so that an item's difficulty cancels. A row of :func:`compare` gives:

- ``difference``: the mean over items of (setting - baseline), in the metric's own units;
- ``low``, ``high``: its bootstrap interval, resampling items (clustered by item: the seeds of an
  item stay together);
- ``p`` and ``p_holm``: a two-sided test of no difference, an exact McNemar test on the pass/fail
  pairs (same item, same seed rank) where the baseline is one setting and the metric is pass/fail,
  else Wilcoxon's signed-rank test over the items' differences; ``p_holm`` is Holm's correction
  over every row of the call;
- ``detectable``: the smallest difference the run would detect with 80% power at the 5% level
  ((z(0.975) + z(0.8)) x the bootstrap standard error), so that "no detectable difference" is read
  with its power; ``nan`` when every item gives the same on both sides (a floor: no power at all);
- ``verdict``: ``better``, ``worse`` (by the metric's direction, at ``p_holm`` < 0.05) or ``no
  detectable difference``; or why the row could not be computed.

Three kinds of baseline (``mode``):

- ``baseline``: one setting, ``baseline=`` or by default the constant temperature nearest the
  setting's mean temperature;
- ``equal temperature``: the constant settings' curve, interpolated item by item at the setting's
  mean temperature;
- ``equal diversity``: the same curve at the temperature where the constant settings reach the
  setting's diversity (``distinct_2`` by default), so "more diverse at the same quality" is tested.

The curves need at least three constant settings whose range holds the setting's value.

>>> rows = compare([])
>>> rows
[]
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

from ..records import GenerationRecord
from . import metric_info
from .summary import PER_PROMPT

__all__ = ["DEFAULT_METRICS", "bootstrap_interval", "cells", "compare", "format_rows", "holm"]

#: The metrics compared when none are named (those a suite has values for).
DEFAULT_METRICS = ("accuracy", "pass@1", "scorer_nll", "distinct_2", "loop_rate")
_BINARY = {"accuracy": "correct", "pass@1": "passed"}  # pass/fail metrics: the score each record holds
_ALPHA, _POWER_Z = 0.05, 0.8416212335729143  # z of 80% power
_Z = 1.959963984540054  # z(0.975)
_MIN_CURVE = 3


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (``nan`` stays ``nan``, not counted).

    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    indexed = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running, m = 0.0, len(indexed)
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def _by_item(records: Iterable[GenerationRecord]) -> dict[str, list[GenerationRecord]]:
    items: dict[str, list[GenerationRecord]] = defaultdict(list)
    for record in records:
        items[record.item].append(record)
    for seeds in items.values():
        seeds.sort(key=lambda r: r.settings.seed if r.settings.seed is not None else 0)
    return items


def item_values(items: dict[str, list[GenerationRecord]], metric: str) -> dict[str, float]:
    """Each item's value of ``metric``; items without one are left out."""
    source = metric_info.METRICS[metric].source
    k = min(map(len, items.values()), default=1)
    out = {}
    for item, seeds in items.items():
        if source is None:
            values = list(PER_PROMPT[metric]([seeds], k))
        else:
            section, key = source.split(".")
            values = [float(getattr(r, section)[key]) for r in seeds if key in getattr(r, section)]
        values = [v for v in values if not math.isnan(v)]
        if values:
            out[item] = float(np.mean(values))
    return out


def _mean_of(items: dict[str, list[GenerationRecord]], metric: str) -> float:
    values = list(item_values(items, metric).values())
    return float(np.mean(values)) if values else math.nan


def _mcnemar(setting: dict[str, list[GenerationRecord]], base: dict[str, list[GenerationRecord]],
             score: str) -> float:
    """Exact McNemar p-value over the pass/fail pairs (same item, same seed rank)."""
    from scipy.stats import binomtest

    gained = lost = 0
    for item, seeds in setting.items():
        for ours, theirs in zip(seeds, base.get(item, ())):
            if score in ours.scores and score in theirs.scores:
                a, b = bool(ours.scores[score]), bool(theirs.scores[score])
                gained += a and not b
                lost += b and not a
    return 1.0 if gained + lost == 0 else float(binomtest(gained, gained + lost, 0.5).pvalue)


def _wilcoxon(differences: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    if not np.any(differences):
        return 1.0
    return float(wilcoxon(differences, zero_method="zsplit").pvalue)


def bootstrap_interval(differences: np.ndarray, confidence: float = 0.95, n_resamples: int = 5000,
                       seed: int = 0) -> tuple[float, float, float]:
    """(low, high, standard error) of the mean of paired ``differences``, resampling them (items).

    >>> low, high, error = bootstrap_interval(np.array([0.1, 0.2, 0.3, 0.4]))
    >>> low < 0.25 < high and error > 0
    True
    """
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, differences.size, (n_resamples, differences.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high), float(means.std(ddof=1))


class _Curve:
    """A suite's constant-temperature settings: their temperatures and item values, for interpolation."""

    def __init__(self, constants: list[tuple[float, dict]]) -> None:
        self.constants = sorted(constants, key=lambda c: c[0])
        self.temperatures = np.array([t for t, _ in self.constants])
        self._tables: dict[str, list[dict[str, float]]] = {}  # per metric: each setting's item values

    def missing(self, what: str, value: float, values: np.ndarray) -> str | None:
        """Why the curve of ``values`` (one per constant setting, by temperature) cannot be read
        at ``value``, or ``None``."""
        if len(self.constants) < _MIN_CURVE:
            return f"needs at least {_MIN_CURVE} constant settings, the suite has {len(self.constants)}"
        if math.isnan(value) or not values.min() <= value <= values.max():
            return (f"its {what} {value:.3g} is outside the constant settings' "
                    f"[{values.min():.3g}, {values.max():.3g}]")
        steps = np.diff(values)
        if not (np.all(steps > 0) or np.all(steps < 0)):
            return (f"the constant settings' {what} is not monotone in temperature "
                    f"({', '.join(f'{v:.3g}' for v in values)}): no one temperature matches it")
        return None

    def at(self, temperature: float, metric: str) -> dict[str, float]:
        """Each item's ``metric`` on the curve at ``temperature`` (items every constant setting has)."""
        if metric not in self._tables:  # the same for every setting read off the curve
            self._tables[metric] = [item_values(items, metric) for _, items in self.constants]
        tables = self._tables[metric]
        common = set.intersection(*(set(t) for t in tables))
        return {item: float(np.interp(temperature, self.temperatures, [t[item] for t in tables])) for item in common}

    def means(self, metric: str) -> np.ndarray:
        """The constant settings' mean ``metric``, by temperature."""
        return np.array([_mean_of(items, metric) for _, items in self.constants])

    @staticmethod
    def temperature_at(means: np.ndarray, temperatures: np.ndarray, value: float) -> float:
        """The temperature where the curve of ``means`` (at ``temperatures``) is ``value``."""
        order = np.argsort(means)
        return float(np.interp(value, means[order], temperatures[order]))


def compare(records: Sequence[GenerationRecord], *, baseline: str | None = None,
            metrics: Sequence[str] | None = None, diversity: str = "distinct_2", confidence: float = 0.95,
            n_resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Paired comparisons of every setting of every suite of ``records`` (an eval run's generations,
    ``dyntemp.eval.run_folder.read_generations(RUN)``) with its baseline: rows as described in
    the module's docstring, with ``suite``, ``setting``, ``mode``, ``baseline`` (what it was
    compared with), ``metric`` and ``items``.

    ``baseline``: a setting (``constant:temperature=0.7``) every other setting is compared with;
    by default each adaptive setting is compared with the constant setting nearest its mean
    temperature, and also at equal temperature and equal diversity. ``metrics``: the metrics
    compared (default: those of ``DEFAULT_METRICS`` the suite has). ``diversity``: the metric
    matched at equal diversity.
    """
    names = list(metrics) if metrics is not None else None
    for name in (names or []) + [diversity]:
        metric_info.check(name)
    suites: dict[str, dict[str, list[GenerationRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        suites[record.suite][record.setting].append(record)
    if baseline is not None and not any(baseline in settings for settings in suites.values()):
        known = sorted({s for settings in suites.values() for s in settings})
        raise ValueError(f"baseline {baseline!r} is not a setting of the run; its settings: {', '.join(known)}")
    rows: list[dict] = []
    for suite, settings in sorted(suites.items()):
        items = {setting: _by_item(group) for setting, group in settings.items()}
        chosen = [m for m in (names or DEFAULT_METRICS)
                  if any(item_values(by_item, m) for by_item in items.values())]
        rows += _suite_rows(suite, items, chosen, baseline, diversity, (confidence, n_resamples, seed))
    for row, adjusted in zip(rows, holm([row["p"] for row in rows])):
        row["p_holm"] = adjusted
        row["verdict"] = _verdict(row)
    return rows


def _suite_rows(suite: str, items: dict, metrics: list[str], baseline: str | None, diversity: str,
                bootstrap: tuple) -> list[dict]:
    constants = {setting: by_item for setting, by_item in items.items()
                 if next(iter(by_item.values()))[0].strategy.name == "constant"}
    temperature = {setting: _mean_of(by_item, "temperature_mean") for setting, by_item in items.items()}
    curve = _Curve([(temperature[s], by_item) for s, by_item in constants.items()])
    rows = []
    for setting, by_item in sorted(items.items()):
        if baseline is not None:
            if setting == baseline or baseline not in items:
                continue
            against = [("baseline", baseline, items[baseline], None)]
        else:
            if setting in constants:
                continue
            nearest = min(constants, key=lambda s: abs(temperature[s] - temperature[setting]), default=None)
            against = [("baseline", nearest, constants.get(nearest), None if nearest else
                        "no constant-temperature setting in the suite: give a baseline")]
            t = temperature[setting]
            against.append(("equal temperature", f"constant curve at T={t:.3g}", t,
                            curve.missing("mean temperature", t, curve.temperatures)))
            d = _mean_of(by_item, diversity)
            means = curve.means(diversity)
            why = curve.missing(diversity, d, means)
            t_star = curve.temperature_at(means, curve.temperatures, d) if why is None else math.nan
            against.append(("equal diversity", f"constant curve at {diversity}={d:.3g} (T={t_star:.3g})",
                            t_star, why))
        for mode, name, base, why in against:
            for metric in metrics:
                if mode == "equal diversity" and metric == diversity:
                    continue
                row = {"suite": suite, "setting": setting, "mode": mode, "baseline": name, "metric": metric}
                if why is not None:
                    rows.append({**row, **_EMPTY, "note": why})
                    continue
                ours = item_values(by_item, metric)
                theirs = item_values(base, metric) if mode == "baseline" else curve.at(base, metric)
                binary = mode == "baseline" and metric in _BINARY
                rows.append({**row, **_paired(ours, theirs, (by_item, base, _BINARY.get(metric)) if binary else None,
                                              *bootstrap)})
    return rows


_EMPTY = {"items": 0, "difference": math.nan, "low": math.nan, "high": math.nan, "p": math.nan,
          "detectable": math.nan, "test": ""}


def _paired(ours: dict[str, float], theirs: dict[str, float], pairs, confidence: float, n_resamples: int,
            seed: int) -> dict:
    common = sorted(set(ours) & set(theirs))
    if len(common) < 2:
        return {**_EMPTY, "items": len(common), "note": "fewer than two items in common"}
    differences = np.array([ours[i] - theirs[i] for i in common])
    low, high, error = bootstrap_interval(differences, confidence, n_resamples, seed)
    p = _mcnemar(pairs[0], pairs[1], pairs[2]) if pairs else _wilcoxon(differences)
    # Every item the same on both sides (a floor, as pass@1 near 0): the spread says nothing of what
    # the run could have detected.
    detectable = (_Z + _POWER_Z) * error if np.any(differences) else math.nan
    return {"items": len(common), "difference": float(differences.mean()), "low": low, "high": high, "p": p,
            "detectable": detectable, "test": "McNemar" if pairs else "Wilcoxon", "note": ""}


def _verdict(row: dict) -> str:
    if math.isnan(row["p"]):
        return row["note"]
    if math.isnan(row["detectable"]):
        return "the same on every item: no power to detect a difference"
    if row["p_holm"] >= _ALPHA or row["difference"] == 0:
        return "no detectable difference"
    up = row["difference"] > 0
    return "better" if up != (row["metric"] in metric_info.LOWER_IS_BETTER) else "worse"


def cells(row: dict) -> tuple[str, str, str, str]:
    """A row's ``against``, ``difference [95% CI]``, ``detectable`` and ``p (Holm)`` as text
    (``-`` where the row has none).

    >>> cells({"mode": "equal temperature", "baseline": "constant curve at T=0.9", "p": 0.01, "p_holm": 0.03,
    ...        "difference": 0.1, "low": 0.02, "high": 0.2, "detectable": 0.08, "test": "Wilcoxon"})
    ('equal temperature: constant curve at T=0.9', '+0.100 [+0.020, +0.200]', '0.080', '0.03 (Wilcoxon)')
    """
    against = row["baseline"] or "-"
    if row["mode"] != "baseline":
        against = f"{row['mode']}: {against}"
    if math.isnan(row["p"]):
        return against, "-", "-", "-"
    return (against, f"{row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]",
            "-" if math.isnan(row["detectable"]) else f"{row['detectable']:.3f}", f"{row['p_holm']:.3g} ({row['test']})")


def format_rows(rows: Sequence[dict]) -> str:
    """The rows as a text table, one line per comparison.

    >>> print(format_rows([]))
    no comparisons
    """
    if not rows:
        return "no comparisons"
    header = ("suite", "setting", "against", "metric", "items", "difference [95% CI]", "detectable",
              "p (Holm)", "verdict")
    lines = [header]
    for row in rows:
        against, *numbers = cells(row)
        lines.append((row["suite"], row["setting"], against, row["metric"], str(row["items"]), *numbers,
                      row["verdict"]))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)
