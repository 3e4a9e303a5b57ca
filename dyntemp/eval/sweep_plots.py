"""Plots of a sweep from its summary rows: quality against mean temperature, and quality against
diversity with each strategy's frontier.

Summary rows are plain dicts, one per strategy setting, with metrics computed elsewhere (see
:mod:`dyntemp.eval.summary`): the keys of :data:`~dyntemp.eval.metric_info.HEADER`, and for each
metric ``M`` its mean ``M`` and the bounds of its 95% confidence interval, ``M_low`` and
``M_high``. A metric that is absent or NaN in a row is skipped for that row. matplotlib is
imported when a plot is drawn, not with this module.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .._validate import unknown
from .metric_info import HEADER, LOWER_IS_BETTER
from .metric_info import label as metric_label

__all__ = ["pareto_frontier", "plot_quality_vs_diversity", "plot_quality_vs_temperature", "strategy_styles"]

_TAB10 = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
          "tab:gray", "tab:olive", "tab:cyan")
# A marker per strategy as well as a colour, so that strategies stay apart without colour vision.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def strategy_styles(strategies: Iterable[str]) -> dict[str, dict[str, str]]:
    """The colour and marker of each strategy name: matplotlib's colour-blind-friendly "tab10"
    colours and a distinct marker, given out in sorted name order, so that the same names get the
    same styles in every plot.

    >>> styles = strategy_styles(["edt", "constant", "edt"])
    >>> styles["constant"], styles["edt"]
    ({'color': 'tab:blue', 'marker': 'o'}, {'color': 'tab:orange', 'marker': 's'})
    """
    names = sorted({str(name) for name in strategies})
    return {name: {"color": _TAB10[i % len(_TAB10)], "marker": _MARKERS[i % len(_MARKERS)]}
            for i, name in enumerate(names)}


def pareto_frontier(points: Sequence[Sequence[float]], *,
                    higher_is_better: bool | Sequence[bool] = True) -> list[int]:
    """The indices of the points no other point dominates, ordered by their coordinates.

    A point dominates another when it is at least as good in every coordinate and better in one;
    ``higher_is_better`` (one flag, or one per coordinate) says which way is better. Equal points do
    not dominate each other, so all of them stay.

    >>> points = [(0.30, 0.80), (0.50, 0.70), (0.40, 0.60), (0.60, 0.40), (0.20, 0.80)]
    >>> pareto_frontier(points)
    [0, 1, 3]
    >>> pareto_frontier(points, higher_is_better=(False, True))   # first coordinate: lower is better
    [4]
    """
    array = np.asarray(points, dtype=float)
    if array.size == 0:
        return []
    if array.ndim != 2:
        raise ValueError(f"points must be a sequence of coordinate tuples, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("points must be finite; drop the points with missing values first")
    flags = [higher_is_better] * array.shape[1] if isinstance(higher_is_better, bool) else list(higher_is_better)
    if len(flags) != array.shape[1]:
        raise ValueError(f"higher_is_better has {len(flags)} flags for points of {array.shape[1]} coordinates")
    better = array * np.where(flags, 1.0, -1.0)
    kept = [i for i in range(len(better))
            if not np.any(np.all(better >= better[i], axis=1) & np.any(better > better[i], axis=1))]
    return sorted(kept, key=lambda i: (tuple(array[i]), i))


def plot_quality_vs_temperature(rows: Iterable[Mapping[str, Any]], metric: str = "accuracy", ax: Any = None, *,
                                suite: str | None = None):
    """Quality against mean temperature: one line per strategy through its settings, sorted by
    mean temperature, with the 95% confidence band of the metric (an error bar for a strategy with
    a single setting).

    ``metric`` is the summary key on the y axis (``metric + "_low"`` and ``"_high"`` bound the
    band); rows where it or ``temperature_mean`` is missing or NaN are skipped. Rows from several
    suites need ``suite`` to pick one.

    >>> rows = [
    ...     {"suite": "qa", "strategy": "constant", "label": f"T={t}", "temperature_mean": t,
    ...      "accuracy": a, "accuracy_low": a - 0.05, "accuracy_high": a + 0.05}
    ...     for t, a in [(0.3, 0.62), (0.7, 0.60), (1.0, 0.55), (1.4, 0.41)]
    ... ] + [
    ...     {"suite": "qa", "strategy": "edt", "label": f"theta={th}", "temperature_mean": t,
    ...      "accuracy": a, "accuracy_low": a - 0.05, "accuracy_high": a + 0.05}
    ...     for th, t, a in [(0.4, 0.5, 0.61), (0.8, 0.9, 0.59), (1.2, 1.3, 0.50)]
    ... ]
    >>> ax = plot_quality_vs_temperature(rows, "accuracy")
    >>> [line.get_label() for line in ax.lines], ax.get_xlabel()
    (['constant', 'edt'], 'mean temperature')
    """
    import matplotlib.pyplot as plt

    rows, styles = _sweep_rows(rows, suite)
    _require_metrics(rows, "temperature_mean", metric)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    for strategy, style in styles.items():
        chosen = sorted((row for row in rows if row.get("strategy") == strategy
                         and math.isfinite(_value(row, "temperature_mean")) and math.isfinite(_value(row, metric))),
                        key=lambda row: (_value(row, "temperature_mean"), _value(row, metric)))
        if not chosen:
            continue
        x, y, low, high = (np.array([_value(row, key) for row in chosen])
                           for key in ("temperature_mean", metric, metric + "_low", metric + "_high"))
        ax.plot(x, y, label=strategy, color=style["color"], marker=style["marker"], markersize=5, linewidth=1.8,
                zorder=3)
        _label_points(ax, chosen, x, y, style["color"])
        if not (np.isfinite(low) | np.isfinite(high)).any():
            continue
        if len(x) > 1:
            ax.fill_between(x, low, high, color=style["color"], alpha=0.18, linewidth=0)
        else:
            ax.errorbar(x, y, yerr=_error_bars(chosen, metric), fmt="none", ecolor=style["color"], capsize=3,
                        linewidth=1)
    _spread_labels(ax)
    ax.set_xlabel(metric_label("temperature_mean"))
    ax.set_ylabel(metric_label(metric))
    ax.grid(alpha=0.3)
    ax.legend(title="strategy", fontsize="small", title_fontsize="small")
    return ax


def _label_points(ax, rows: list, x: np.ndarray, y: np.ndarray, color) -> None:
    """Each point's setting (its short ``label``) beside it, legible over lines and bands; see
    ``_spread_labels``, which then moves them apart."""
    from matplotlib.patheffects import withStroke

    for row, xi, yi in zip(rows, x, y):
        label = row.get("label", row.get("setting"))
        if label is not None:
            text = ax.text(xi, yi, str(label), fontsize=7, color=color, zorder=4,
                           path_effects=[withStroke(linewidth=2.5, foreground="white")])
            text.point = (float(xi), float(yi))  # where it belongs, for _spread_labels and readers


def _spread_labels(ax) -> None:
    """Move the point labels off each other and off the points (adjustText), each with a thin line to
    its point when it had to go far: close settings no longer print over one another."""
    from adjustText import adjust_text

    texts = [text for text in ax.texts if hasattr(text, "point")]
    if len(texts) < 2:
        return
    ax.figure.canvas.draw()  # the texts' sizes are known once drawn
    points = np.array([text.point for text in texts])
    adjust_text(texts, x=points[:, 0], y=points[:, 1], ax=ax, expand=(1.1, 1.3), ensure_inside_axes=True,
                arrowprops={"arrowstyle": "-", "color": "0.5", "linewidth": 0.5})


def plot_quality_vs_diversity(rows: Iterable[Mapping[str, Any]], quality: str = "accuracy",
                              diversity: str = "distinct_2", ax: Any = None, *, suite: str | None = None,
                              lower_is_better: Iterable[str] = LOWER_IS_BETTER):
    """Quality against diversity: one point per strategy setting, labelled with its short
    ``label``, with 95% confidence intervals in both directions where the rows have them, and
    each strategy's frontier — the line through its settings that no other setting of the same
    strategy beats on both metrics. Settings off the frontier are drawn hollow.

    Higher is better for both metrics unless a metric is in ``lower_is_better`` (by default
    :data:`~.metric_info.LOWER_IS_BETTER`: ``nll``, ``self_bleu``, ``rep_n``, ``loop_rate``...), whose axis label
    then says so. An adaptive strategy whose frontier lies above and to the right of the
    fixed-temperature one buys diversity at a lower cost in quality. Rows from several suites need
    ``suite`` to pick one.

    >>> rows = [
    ...     {"strategy": "constant", "label": "T=0.5", "accuracy": 0.62, "distinct_2": 0.40},
    ...     {"strategy": "constant", "label": "T=1.0", "accuracy": 0.55, "distinct_2": 0.55},
    ...     {"strategy": "edt", "label": "theta=0.4", "accuracy": 0.63, "distinct_2": 0.45},
    ...     {"strategy": "edt", "label": "theta=0.8", "accuracy": 0.58, "distinct_2": 0.60},
    ...     {"strategy": "edt", "label": "theta=1.2", "accuracy": 0.50, "distinct_2": 0.58},
    ... ]
    >>> ax = plot_quality_vs_diversity(rows)
    >>> {line.get_label(): line.get_xdata().tolist() for line in ax.lines if not line.get_label().startswith("_")}
    {'constant': [0.4, 0.55], 'edt': [0.45, 0.6]}
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows, styles = _sweep_rows(rows, suite)
    _require_metrics(rows, diversity, quality)
    lower = set(lower_is_better)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.8, 5.0), layout="constrained")
    any_dominated = False
    for strategy, style in styles.items():
        chosen = [row for row in rows if row.get("strategy") == strategy
                  and math.isfinite(_value(row, diversity)) and math.isfinite(_value(row, quality))]
        if not chosen:
            continue
        x = np.array([_value(row, diversity) for row in chosen])
        y = np.array([_value(row, quality) for row in chosen])
        color, marker = style["color"], style["marker"]
        x_err, y_err = _error_bars(chosen, diversity), _error_bars(chosen, quality)
        if x_err is not None or y_err is not None:
            ax.errorbar(x, y, xerr=x_err, yerr=y_err, fmt="none", ecolor=color, alpha=0.45, linewidth=0.9,
                        capsize=2, zorder=1)
        front = pareto_frontier(np.column_stack([x, y]),
                                higher_is_better=(diversity not in lower, quality not in lower))
        ax.plot(x[front], y[front], color=color, marker=marker, markersize=6, linewidth=1.6, label=strategy,
                zorder=3)
        dominated = [i for i in range(len(chosen)) if i not in front]
        if dominated:
            any_dominated = True
            ax.plot(x[dominated], y[dominated], linestyle="none", marker=marker, markersize=6,
                    markerfacecolor="white", markeredgecolor=color, markeredgewidth=1.3, label="_dominated",
                    zorder=3)
        _label_points(ax, chosen, x, y, color)
    _spread_labels(ax)
    ax.set_xlabel(metric_label(diversity, lower))
    ax.set_ylabel(metric_label(quality, lower))
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if any_dominated:
        handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor="white", markeredgecolor="0.4",
                              label="off the frontier"))
    ax.legend(handles=handles, title="strategy", fontsize="small", title_fontsize="small")
    return ax


def _sweep_rows(rows: Iterable[Mapping[str, Any]], suite: str | None):
    """The rows of one suite, and the style of every strategy in all the rows given (so that
    colours do not shift with the suite or the metric)."""
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: there is nothing to plot")
    styles = strategy_styles(row.get("strategy", "?") for row in rows)
    suites = sorted({str(row["suite"]) for row in rows if row.get("suite") is not None})
    if suite is None:
        if len(suites) > 1:
            raise ValueError(f"the rows come from {len(suites)} suites ({', '.join(map(repr, suites))}); "
                             "pass suite= to plot one")
        return rows, styles
    chosen = [row for row in rows if row.get("suite") == suite]
    if not chosen:
        raise ValueError(unknown("suite", suite, suites, listing="Suites in the rows"))
    return chosen, styles


def _value(row: Mapping[str, Any], key: str) -> float:
    """``row[key]`` as a float; NaN when it is missing, not a number or not finite."""
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, Real):
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _require_metrics(rows: Sequence[Mapping[str, Any]], *metrics: str) -> None:
    """Raise unless some row has a value for every one of ``metrics``."""
    for metric in metrics:
        _require_metric(rows, metric)
    if not any(all(math.isfinite(_value(row, metric)) for metric in metrics) for row in rows):
        raise ValueError(f"no row has values for all of {', '.join(map(repr, metrics))}")


def _require_metric(rows: Sequence[Mapping[str, Any]], metric: str) -> None:
    if any(math.isfinite(_value(row, metric)) for row in rows):
        return
    available = sorted({key for row in rows for key in row
                        if key not in HEADER and not key.endswith(("_low", "_high"))
                        and math.isfinite(_value(row, key))})
    if any(metric in row for row in rows):
        raise ValueError(f"metric {metric!r} is NaN in every row; the metrics with values are: "
                         f"{', '.join(available) or 'none'}")
    raise ValueError(unknown("metric", metric, available, listing="Metrics with values"))


def _error_bars(rows: Sequence[Mapping[str, Any]], metric: str) -> np.ndarray | None:
    """Asymmetric error bars of ``metric`` from its interval bounds in ``rows`` (zero where a bound
    is missing); None when no row has a bound."""
    center, low, high = (np.array([_value(row, metric + end) for row in rows]) for end in ("", "_low", "_high"))
    if not (np.isfinite(low) | np.isfinite(high)).any():
        return None
    below = np.where(np.isfinite(low), center - low, 0.0)
    above = np.where(np.isfinite(high), high - center, 0.0)
    return np.clip(np.vstack([below, above]), 0.0, None)
