"""Plots of one generation and of a sweep.

``plot_generation`` draws the temperature schedule of a trace with the entropy and the chosen
token's probability; ``plot_tokens`` and ``tokens_html`` show the text with each token coloured by
its temperature; ``plot_quality_vs_temperature`` and ``plot_quality_vs_diversity`` compare the
strategy settings of a sweep from its summary rows.

The plots only read what they are given: a :class:`~dyntemp.sampler.trace.Trace` (or a list of
``TraceRecord``), or summary rows — plain dicts, one per strategy setting, with metrics computed
elsewhere. Each plot takes ``ax=None`` (a new figure when None) and returns the Axes it drew on;
save it with ``ax.figure.savefig(path)``. matplotlib is imported when a plot is drawn, not with
this module.

Summary rows have the keys ``suite``, ``strategy``, ``label`` (a short setting label such as
``"T=0.7"``), ``setting`` and ``n``, and for each metric ``M`` its mean ``M`` and the bounds of its
95% confidence interval, ``M_low`` and ``M_high``. A metric that is absent or NaN in a row is
skipped for that row.
"""

from __future__ import annotations

import html
import math
from numbers import Real
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .._validate import closest, integer
from ..sampler.trace import TraceRecord

__all__ = [
    "LOWER_IS_BETTER", "pareto_frontier", "plot_generation", "plot_quality_vs_diversity",
    "plot_quality_vs_temperature", "plot_tokens", "strategy_styles", "tokens_html",
]

#: Metrics for which lower is better; every other metric is better higher. The frontiers of
#: ``plot_quality_vs_diversity`` follow this set unless it is given another.
LOWER_IS_BETTER = frozenset({"nll", "scorer_nll", "self_bleu", "rep_2", "rep_3", "rep_4", "loop_rate"})

_ROW_KEYS = frozenset({"suite", "strategy", "label", "setting", "n", "prompts", "k"})
_METRIC_NAMES = {
    "temperature_mean": "mean temperature",
    "temperature_std": "temperature std",
    "temperature_entropy_corr": "temperature–entropy correlation",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "distinct_3": "distinct-3",
    "rep_2": "rep-2",
    "rep_3": "rep-3",
    "rep_4": "rep-4",
    "self_bleu": "self-BLEU",
    "loop_rate": "loop rate",
    "nll": "NLL",
    "scorer_nll": "scorer NLL",
}
_TAB10 = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
          "tab:gray", "tab:olive", "tab:cyan")
# A marker per strategy as well as a colour, so that strategies stay apart without colour vision.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_TEMPERATURE_COLOR = "0.1"
_ENTROPY_COLOR = "tab:blue"
_PROBABILITY_COLOR = "tab:orange"
# tab10 without the blue and orange of the entropy and probability lines.
_RULE_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
                "tab:red", "tab:gray")
_NEWLINE_MARK = "↵"
_LINE_SPACING = 1.5  # text line height in font sizes, for plot_tokens


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


# ---------------------------------------------------------------------------------------------
# One generation


def plot_generation(trace: Iterable[TraceRecord], ax: Any = None, *, title: str | None = None):
    """The temperature of each token of one generation, with the entropy of the full
    distribution (nats) and the probability of the chosen token on axes of their own at the right.

    Dotted lines mark where each sentence starts, and shaded bands the runs of tokens a strategy
    rule labelled (one legend entry per rule). Returns the temperature Axes; the legend below it
    covers all three axes.

    >>> from dyntemp.sampler.trace import Trace, TraceRecord
    >>> trace = Trace([
    ...     TraceRecord(0, 504, "Calm", 0.2, 3.1, 2.0, 9, 0.41, 0, 0, "opening"),
    ...     TraceRecord(1, 3458, " seas", 0.2, 1.2, 0.8, 4, 0.77, 0, 1, "opening"),
    ...     TraceRecord(2, 30, ".", 0.2, 0.4, 0.1, 2, 0.95, 0, 2, "opening"),
    ...     TraceRecord(3, 5210, " Storms", 0.9, 4.0, 2.7, 17, 0.12, 1, 0, None),
    ...     TraceRecord(4, 2883, " rage", 0.9, 2.6, 1.9, 11, 0.33, 1, 1, None),
    ... ])
    >>> ax = plot_generation(trace, title="Two sentences")
    >>> ax.get_ylabel(), ax.lines[0].get_ydata().tolist()
    ('temperature', [0.2, 0.2, 0.2, 0.9, 0.9])
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.transforms import offset_copy

    records = _records(trace)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
    x = np.array([r.index for r in records], dtype=float)
    temperature = np.array([r.temperature for r in records], dtype=float)
    entropy = np.array([r.entropy for r in records], dtype=float)
    probability = np.array([r.probability for r in records], dtype=float)

    # "mid" steps give token i the span [i - 0.5, i + 0.5], where the entropy and probability of
    # the same token are drawn and where the boundaries and rule bands are cut.
    (temperature_line,) = ax.step(x, temperature, where="mid", color=_TEMPERATURE_COLOR, linewidth=2,
                                  label="temperature", zorder=3)
    entropy_ax = ax.twinx()
    (entropy_line,) = entropy_ax.plot(x, entropy, color=_ENTROPY_COLOR, linewidth=1, alpha=0.85,
                                      label="entropy (nats)")
    probability_ax = ax.twinx()
    probability_ax.spines["right"].set_position(("axes", 1.07))
    (probability_line,) = probability_ax.plot(x, probability, linestyle="none", marker=".", markersize=4,
                                              color=_PROBABILITY_COLOR, label="probability of the chosen token")
    handles = [temperature_line, entropy_line, probability_line]

    starts = [r.index for previous, r in zip(records, records[1:]) if r.sentence_index != previous.sentence_index]
    if starts:
        handles.append(ax.vlines(np.array(starts, dtype=float) - 0.5, 0, 1, transform=ax.get_xaxis_transform(),
                                 colors="0.45", linestyles=":", linewidth=1.2, label="sentence start"))
    rule_colors: dict[str, str] = {}
    for rule, first, last in _rule_runs(records):
        color = rule_colors.setdefault(rule, _RULE_COLORS[len(rule_colors) % len(_RULE_COLORS)])
        ax.axvspan(first - 0.5, last + 0.5, facecolor=color, alpha=0.18, linewidth=0, zorder=0)
    handles += [Patch(facecolor=color, alpha=0.35, label=f"rule: {rule}") for rule, color in rule_colors.items()]

    ax.set_xlim(x.min() - 0.5, x.max() + 0.5)
    # The same padding on all three axes keeps their zeros level and lifts zero temperature and
    # certain tokens off the frame.
    for axes, values in ((ax, temperature), (entropy_ax, entropy)):
        top = np.nanmax(values) if np.isfinite(values).any() else 0.0
        axes.set_ylim(*_padded(top if top > 0 else 1.0))
    probability_ax.set_ylim(*_padded(1.0))
    ax.set_xlabel("token")
    for axes, label, color in ((ax, "temperature", _TEMPERATURE_COLOR),
                               (entropy_ax, "entropy (nats)", _ENTROPY_COLOR),
                               (probability_ax, "probability", _PROBABILITY_COLOR)):
        axes.set_ylabel(label, color=color)
        axes.tick_params(axis="y", colors=color)
    ax.grid(axis="y", alpha=0.3)
    # The legend sits under the x label, a fixed distance in points whatever the Axes height.
    ax.legend(handles=handles, loc="upper center", ncol=min(len(handles), 4), frameon=False, fontsize="small",
              bbox_to_anchor=(0.5, 0), bbox_transform=offset_copy(ax.transAxes, ax.figure, y=-34, units="points"))
    if title is not None:
        ax.set_title(title)
    return ax


def tokens_html(trace: Iterable[TraceRecord], *, title: str | None = None, vmin: float | None = None,
                vmax: float | None = None, cmap: Any = "coolwarm") -> str:
    """A self-contained HTML page of the generated text, each token on a background coloured by
    its temperature, with a colour bar; hovering a token shows its index, temperature, entropy,
    probability, sentence and rule.

    ``vmin`` and ``vmax`` fix the ends of the colour scale (default: the lowest and highest
    temperature of the trace); ``cmap`` is a matplotlib colormap or its name. Newlines are kept and
    marked with ``↵`` (the mark is not part of the copied text). Write it with
    ``pathlib.Path("trace.html").write_text(page, encoding="utf-8")``.

    >>> from dyntemp.sampler.trace import Trace, TraceRecord
    >>> trace = Trace([TraceRecord(0, 504, "Calm", 0.2, 3.1, 2.0, 9, 0.41, 0, 0, None),
    ...                TraceRecord(1, 3458, " <seas>", 1.4, 1.2, 0.8, 4, 0.77, 0, 1, "hot")])
    >>> page = tokens_html(trace, title="The sea")
    >>> page.startswith("<!DOCTYPE html>"), "&lt;seas&gt;" in page, page.count("<span class=\\"t\\"")
    (True, True, 2)
    """
    records = _records(trace)
    norm, colormap = _color_scale(records, vmin, vmax, cmap)
    page_title = html.escape(title if title is not None else "Token temperatures")
    spans = []
    for r in records:
        background = _hex(colormap, norm, r.temperature)
        text = '<i class="nl"></i>\n'.join(html.escape(part) for part in r.piece.split("\n"))
        hover = html.escape(_hover(r)).replace("\n", "&#10;")
        spans.append(f'<span class="t" style="background:{background};color:{_ink(background)}" '
                     f'title="{hover}">{text}</span>')
    stops = ", ".join(_hex(colormap, None, f) for f in np.linspace(0, 1, 11))
    temperatures = np.array([r.temperature for r in records], dtype=float)
    finite = temperatures[np.isfinite(temperatures)]
    sentences = len({r.sentence_index for r in records})
    summary = f"{len(records)} tokens · {sentences} sentence{'s' if sentences != 1 else ''}"
    if finite.size:
        summary += f" · mean temperature {finite.mean():.2f}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{page_title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #222; background: #fff; }}
h1 {{ font-size: 1.3rem; margin-bottom: 0.3rem; }}
.summary {{ color: #666; font-size: 0.9rem; margin-bottom: 1rem; }}
.legend {{ display: flex; align-items: center; gap: 0.5rem; font-size: 0.85rem; margin-bottom: 1.2rem; }}
.bar {{ display: inline-block; width: 16rem; height: 0.9rem; border: 1px solid #999;
        background: linear-gradient(to right, {stops}); }}
.text {{ font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.95rem;
         line-height: 1.7; white-space: pre-wrap; overflow-wrap: anywhere; tab-size: 4; }}
.t {{ border-radius: 2px; }}
.t:hover {{ outline: 2px solid #000; }}
.nl::before {{ content: "{_NEWLINE_MARK}"; opacity: 0.6; font-style: normal; }}
</style>
</head>
<body>
<h1>{page_title}</h1>
<div class="summary">{summary}</div>
<div class="legend"><span>temperature</span><span class="lo">{norm.vmin:.2f}</span><span class="bar"></span>
<span class="hi">{norm.vmax:.2f}</span></div>
<div class="text">{"".join(spans)}</div>
</body>
</html>
"""


def plot_tokens(trace: Iterable[TraceRecord], ax: Any = None, *, vmin: float | None = None,
                vmax: float | None = None, cmap: Any = "coolwarm", width: int = 80, title: str | None = None):
    """The generated text as a figure, each token on a background coloured by its temperature,
    with a colour bar below.

    The text is wrapped at token boundaries to ``width`` characters a line (a longer token is
    cut), in a monospace font whose size follows from the Axes size: with ``ax=None`` the figure
    is sized to the text. Newlines are kept and marked with ``↵``; each piece of a token on one
    line is one text artist, and empty pieces draw nothing. ``vmin``, ``vmax`` and ``cmap`` are as
    in :func:`tokens_html`.

    >>> from dyntemp.sampler.trace import Trace, TraceRecord
    >>> trace = Trace([TraceRecord(0, 504, "Calm", 0.2, 3.1, 2.0, 9, 0.41, 0, 0, None),
    ...                TraceRecord(1, 3458, " seas", 1.4, 1.2, 0.8, 4, 0.77, 0, 1, None)])
    >>> ax = plot_tokens(trace, width=40)
    >>> [text.get_text() for text in ax.texts]
    ['Calm', ' seas']
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    width = integer("width", width, low=1)
    records = _records(trace)
    norm, colormap = _color_scale(records, vmin, vmax, cmap)
    cells, n_lines = _wrap(records, width)
    # One column per character: the font's advance sets the font size that fills the Axes width.
    advance = _monospace_advance()
    columns = width + 1  # room for a newline mark after a full line

    if ax is None:
        size = 10.0
        text_w, text_h = columns * advance * size / 72, n_lines * _LINE_SPACING * size / 72
        margin, bar_h, bar_gap, bar_labels, title_h = 0.15, 0.14, 0.3, 0.38, (0.35 if title else 0.0)
        bar_top = margin + bar_labels + bar_h
        fig_w, fig_h = text_w + 2 * margin, text_h + bar_top + bar_gap + margin + title_h
        fig = plt.figure(figsize=(fig_w, fig_h))
        ax = fig.add_axes((margin / fig_w, (bar_top + bar_gap) / fig_h, text_w / fig_w, text_h / fig_h))
        cax = fig.add_axes((margin / fig_w, (margin + bar_labels) / fig_h, min(text_w, 3.0) / fig_w, bar_h / fig_h))
        colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=colormap), cax=cax, orientation="horizontal")
    else:
        fig = ax.figure
        colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=colormap), ax=ax, location="bottom",
                                fraction=0.06, shrink=0.4, pad=0.04, aspect=30)
        if fig.get_layout_engine() is not None:
            fig.draw_without_rendering()
    colorbar.set_label("temperature", fontsize="small")
    colorbar.ax.tick_params(labelsize="small")

    box = ax.get_position()
    axes_w, axes_h = box.width * fig.get_figwidth() * 72, box.height * fig.get_figheight() * 72
    size = min(axes_w / (columns * advance), axes_h / (n_lines * _LINE_SPACING))
    ax.set_xlim(0, axes_w / (advance * size))
    ax.set_ylim(-axes_h / (_LINE_SPACING * size), 0)
    ax.set_axis_off()

    rectangles, colors = [], []
    for record, line, column, text in cells:
        color = _hex(colormap, norm, record.temperature)
        rectangles.append(Rectangle((column, -line - 1), len(text), 1))
        colors.append(color)
        ax.text(column, -line - 0.5, text, family="monospace", fontsize=size, color=_ink(color), ha="left",
                va="center_baseline", parse_math=False, gid=f"token-{record.index}")
    # Edges in the face colour close the hairline seams between neighbouring boxes.
    ax.add_collection(PatchCollection(rectangles, facecolors=colors, edgecolors=colors, linewidths=0.4))
    if title is not None:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------------------------------------
# A sweep


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
        if not (np.isfinite(low) | np.isfinite(high)).any():
            continue
        if len(x) > 1:
            ax.fill_between(x, low, high, color=style["color"], alpha=0.18, linewidth=0)
        else:
            ax.errorbar(x, y, yerr=_error_bars(chosen, metric), fmt="none", ecolor=style["color"], capsize=3,
                        linewidth=1)
    ax.set_xlabel(_metric_label("temperature_mean"))
    ax.set_ylabel(_metric_label(metric))
    ax.grid(alpha=0.3)
    ax.legend(title="strategy", fontsize="small", title_fontsize="small")
    return ax


def plot_quality_vs_diversity(rows: Iterable[Mapping[str, Any]], quality: str = "accuracy",
                              diversity: str = "distinct_2", ax: Any = None, *, suite: str | None = None,
                              lower_is_better: Iterable[str] = LOWER_IS_BETTER):
    """Quality against diversity: one point per strategy setting, labelled with its short
    ``label``, with 95% confidence intervals in both directions where the rows have them, and
    each strategy's frontier — the line through its settings that no other setting of the same
    strategy beats on both metrics. Settings off the frontier are drawn hollow.

    Higher is better for both metrics unless a metric is in ``lower_is_better`` (by default
    :data:`LOWER_IS_BETTER`: ``nll``, ``self_bleu``, ``rep_n``, ``loop_rate``...), whose axis label
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
    from matplotlib.patheffects import withStroke

    rows, styles = _sweep_rows(rows, suite)
    _require_metrics(rows, diversity, quality)
    lower = set(lower_is_better)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.8, 5.0), layout="constrained")
    # A white outline keeps the setting labels readable over lines and error bars.
    halo = [withStroke(linewidth=2.5, foreground="white")]
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
        for row, xi, yi in zip(chosen, x, y):
            label = row.get("label", row.get("setting"))
            if label is not None:
                ax.annotate(str(label), (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=7,
                            color=color, path_effects=halo, zorder=4)
    ax.set_xlabel(_metric_label(diversity, lower))
    ax.set_ylabel(_metric_label(quality, lower))
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if any_dominated:
        handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor="white", markeredgecolor="0.4",
                              label="off the frontier"))
    ax.legend(handles=handles, title="strategy", fontsize="small", title_fontsize="small")
    return ax


# ---------------------------------------------------------------------------------------------
# Helpers


def _padded(top: float) -> tuple[float, float]:
    return -0.04 * top, 1.08 * top


def _records(trace: Iterable[TraceRecord]) -> list[TraceRecord]:
    records = list(trace)
    if not records:
        raise ValueError("the trace is empty: there is nothing to plot")
    return records


def _rule_runs(records: Sequence[TraceRecord]) -> list[tuple[str, int, int]]:
    """``(rule, first index, last index)`` for each run of consecutive tokens with the same rule."""
    runs: list[tuple[str, int, int]] = []
    for r in records:
        if r.rule is None:
            continue
        if runs and runs[-1][0] == r.rule and runs[-1][2] == r.index - 1:
            runs[-1] = (r.rule, runs[-1][1], r.index)
        else:
            runs.append((r.rule, r.index, r.index))
    return runs


def _hover(r: TraceRecord) -> str:
    return (f"token {r.index} (id {r.token})\ntemperature: {r.temperature:.3f}\nentropy: {r.entropy:.3f} nats\n"
            f"probability: {r.probability:.3f}\nsentence: {r.sentence_index}\nrule: {r.rule or 'none'}")


def _color_scale(records: Sequence[TraceRecord], vmin: float | None, vmax: float | None, cmap: Any):
    import matplotlib
    from matplotlib.colors import Normalize

    temperatures = np.array([r.temperature for r in records], dtype=float)
    finite = temperatures[np.isfinite(temperatures)]
    low = float(vmin) if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    high = float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if vmin is None and vmax is None and low == high:
        # One temperature throughout: centre it on a unit-wide scale, not below zero.
        low = max(0.0, low - 0.5)
        high = low + 1.0
    if not low < high:
        raise ValueError(f"vmin must be below vmax, got vmin={low!r}, vmax={high!r}")
    if isinstance(cmap, str):
        try:
            colormap = matplotlib.colormaps[cmap]
        except KeyError:
            hint = closest(cmap, matplotlib.colormaps)
            raise ValueError(f"unknown colormap {cmap!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                             + "; see matplotlib.colormaps for the names") from None
    else:
        colormap = cmap
    return Normalize(low, high, clip=True), colormap


def _hex(colormap, norm, value: float) -> str:
    from matplotlib.colors import to_hex

    if not math.isfinite(value):
        return "#dddddd"
    return to_hex(colormap(norm(value) if norm is not None else value))


def _ink(background: str) -> str:
    """Black or white text, whichever reads better on ``background`` (WCAG relative luminance)."""
    channels = [int(background[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if luminance > 0.18 else "#ffffff"


def _monospace_advance() -> float:
    """The advance of one character of matplotlib's monospace font, in points per point of size."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    sample = 100
    width, _, _ = TextToPath().get_text_width_height_descent("0" * sample, FontProperties(family="monospace", size=10),
                                                             ismath=False)
    return width / sample / 10


def _wrap(records: Sequence[TraceRecord], width: int) -> tuple[list[tuple[TraceRecord, int, int, str]], int]:
    """Lay the pieces out on lines of ``width`` columns: ``(record, line, column, text)`` cells and
    the number of lines. A piece that does not fit moves to the next line without its leading
    spaces; a piece longer than a line is cut."""
    cells: list[tuple[TraceRecord, int, int, str]] = []
    line = column = 0
    for record in records:
        parts = record.piece.replace("\r", "").replace("\t", "    ").split("\n")
        for number, part in enumerate(parts):
            if column > 0 and column + len(part) > width:
                line, column, part = line + 1, 0, part.lstrip(" ")
            while len(part) > width:
                cells.append((record, line, 0, part[:width]))
                line, part = line + 1, part[width:]
            ends_line = number < len(parts) - 1
            text = part + (_NEWLINE_MARK if ends_line else "")
            if text:
                cells.append((record, line, column, text))
                column += len(part)
            if ends_line:
                line, column = line + 1, 0
    return cells, max(line + (column > 0), 1)


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
        hint = closest(suite, suites)
        raise ValueError(f"no row of suite {suite!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                         + f"; the suites are {', '.join(map(repr, suites)) or 'none'}")
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
                        if key not in _ROW_KEYS and not key.endswith(("_low", "_high"))
                        and math.isfinite(_value(row, key))})
    hint = closest(metric, available)
    state = "is NaN in every row" if any(metric in row for row in rows) else "is in no row"
    raise ValueError(f"metric {metric!r} {state}" + (f" (did you mean {hint!r}?)" if hint else "")
                     + f"; the metrics with values are: {', '.join(available) or 'none'}")


def _error_bars(rows: Sequence[Mapping[str, Any]], metric: str) -> np.ndarray | None:
    """Asymmetric error bars of ``metric`` from its interval bounds in ``rows`` (zero where a bound
    is missing); None when no row has a bound."""
    center, low, high = (np.array([_value(row, metric + end) for row in rows]) for end in ("", "_low", "_high"))
    if not (np.isfinite(low) | np.isfinite(high)).any():
        return None
    below = np.where(np.isfinite(low), center - low, 0.0)
    above = np.where(np.isfinite(high), high - center, 0.0)
    return np.clip(np.vstack([below, above]), 0.0, None)


def _metric_label(metric: str, lower_is_better: Iterable[str] = ()) -> str:
    name = _METRIC_NAMES.get(metric, metric.replace("_", " "))
    return f"{name} (lower is better)" if metric in lower_is_better else name
