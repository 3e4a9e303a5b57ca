"""The temperature schedule of one generation, with the entropy and the chosen token's probability.

matplotlib is imported when a plot is drawn, not with this module.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ..core.trace import TraceRecord

__all__ = ["plot_generation", "trace_records"]

_TEMPERATURE_COLOR = "0.1"
_ENTROPY_COLOR = "tab:blue"
_PROBABILITY_COLOR = "tab:orange"
# tab10 without the blue and orange of the entropy and probability lines.
_RULE_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
                "tab:red", "tab:gray")


def trace_records(trace: Iterable[TraceRecord]) -> list[TraceRecord]:
    """The records of a trace to plot, refusing an empty one.

    >>> trace_records([])
    Traceback (most recent call last):
    ...
    ValueError: the trace is empty: there is nothing to plot
    """
    records = list(trace)
    if not records:
        raise ValueError("the trace is empty: there is nothing to plot")
    return records


def plot_generation(trace: Iterable[TraceRecord], ax: Any = None, *, title: str | None = None):
    """The temperature of each token of one generation, with the entropy of the full
    distribution (nats) and the probability of the chosen token on axes of their own at the right.

    Dotted lines mark where each sentence starts, and shaded bands the runs of tokens a strategy
    rule labelled (one legend entry per rule). Returns the temperature Axes; the legend below it
    covers all three axes.

    >>> from dyntemp.core.trace import Trace, TraceRecord
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

    records = trace_records(trace)
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


def _padded(top: float) -> tuple[float, float]:
    return -0.04 * top, 1.08 * top


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
