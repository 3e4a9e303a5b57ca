"""The eval plots: each renders and carries what it should, on hand-made traces and rows and on a
real generation from the default model."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_hex, to_rgba  # noqa: E402

import dyntemp  # noqa: E402
from dyntemp.colour import SCALE  # noqa: E402
from dyntemp.eval import metric_info, plots, sweep_plots, token_view, trace_plots  # noqa: E402
from dyntemp.eval.plots import (  # noqa: E402
    pareto_frontier,
    plot_generation,
    plot_quality_vs_diversity,
    plot_quality_vs_temperature,
    plot_tokens,
    strategy_styles,
    tokens_html,
)
from dyntemp.core.trace import Trace, TraceRecord  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def record(index, piece, temperature, sentence=0, rule=None, entropy=None, probability=None):
    entropy = 0.5 + 0.25 * index if entropy is None else entropy
    probability = 1.0 / (index + 2) if probability is None else probability
    return TraceRecord(index, 1000 + index, piece, temperature, entropy, entropy / 2, 7, probability, sentence,
                       index, rule)


@pytest.fixture
def trace():
    """Three sentences, two rules in three runs, a newline, an empty piece and markup."""
    pieces = [("The", 0.2, 0, None), (" sea", 0.2, 0, "opening"), (" <b>", 0.2, 0, "opening"),
              (".", 0.2, 0, None), (" Waves", 0.9, 1, "code"), (" & $5", 0.9, 1, "code"),
              ("\n", 0.9, 1, "code"), ("", 1.4, 2, "code"), ("Foam", 1.4, 2, None),
              (' "hi"', 1.4, 2, "opening"), (" end", 1.4, 2, None), (".", 1.4, 2, None)]
    return Trace(record(i, piece, t, s, rule) for i, (piece, t, s, rule) in enumerate(pieces))


# ---------------------------------------------------------------------------------------------
# Import


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, dyntemp.eval.plots; print(sorted(m for m in sys.modules if m.startswith('matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plots_gathers_the_public_names_of_the_plotting_modules():
    homes = {"LOWER_IS_BETTER": metric_info, "pareto_frontier": sweep_plots, "plot_generation": trace_plots,
             "plot_quality_vs_diversity": sweep_plots, "plot_quality_vs_temperature": sweep_plots,
             "plot_tokens": token_view, "strategy_styles": sweep_plots, "tokens_html": token_view}
    assert plots.__all__ == sorted(homes)
    assert all(getattr(plots, name) is getattr(module, name) for name, module in homes.items())


# ---------------------------------------------------------------------------------------------
# pareto_frontier and strategy_styles


POINTS = [(1, 5), (2, 4), (3, 3), (2, 2), (1, 1), (3, 3), (0, 4)]


@pytest.mark.parametrize("flags, expected", [
    (True, [0, 1, 2, 5]),
    ((True, True), [0, 1, 2, 5]),
    ((False, True), [6, 0]),
    ((True, False), [4, 3, 2, 5]),
    (False, [6, 4]),
])
def test_pareto_frontier_keeps_exactly_the_non_dominated_points(flags, expected):
    assert pareto_frontier(POINTS, higher_is_better=flags) == expected


def test_pareto_frontier_edge_cases():
    assert pareto_frontier([]) == []
    assert pareto_frontier([(0.5, 0.5)]) == [0]
    assert pareto_frontier([(1, 1, 1), (1, 1, 0), (0, 2, 0)]) == [2, 0]
    with pytest.raises(ValueError, match="finite"):
        pareto_frontier([(1, math.nan)])
    with pytest.raises(ValueError, match="2 flags for points of 3 coordinates"):
        pareto_frontier([(1, 2, 3)], higher_is_better=(True, False))


def test_strategy_styles_are_stable_in_sorted_order():
    styles = strategy_styles(["edt", "constant", "adapt", "edt"])
    assert list(styles) == ["adapt", "constant", "edt"]
    assert [s["color"] for s in styles.values()] == ["tab:blue", "tab:orange", "tab:green"]
    assert len({s["marker"] for s in styles.values()}) == 3
    assert strategy_styles([f"s{i:02d}" for i in range(12)])["s10"]["color"] == "tab:blue"


# ---------------------------------------------------------------------------------------------
# plot_generation


def twins(ax):
    return [other for other in ax.get_shared_x_axes().get_siblings(ax) if other is not ax]


def test_plot_generation_draws_temperature_entropy_probability(trace):
    ax = plot_generation(trace, title="The sea")
    (temperature,) = ax.lines
    assert temperature.get_ydata().tolist() == [r.temperature for r in trace]
    assert temperature.get_xdata().tolist() == list(range(len(trace)))
    assert temperature.get_drawstyle() == "steps-mid"
    twin_lines = [line for twin in twins(ax) for line in twin.lines]
    by_label = {line.get_label(): line.get_ydata().tolist() for line in twin_lines}
    assert by_label == {"entropy (nats)": [r.entropy for r in trace],
                        "probability of the chosen token": [r.probability for r in trace]}
    assert ax.get_ylabel() == "temperature" and ax.get_xlabel() == "token" and ax.get_title() == "The sea"
    assert ax.get_xlim() == (-0.5, len(trace) - 0.5)
    assert ax.get_ylim()[0] < 0 < 1.4 < ax.get_ylim()[1]


def test_plot_generation_marks_sentence_starts_and_rules(trace):
    ax = plot_generation(trace)
    (boundaries,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert [segment[0, 0] for segment in boundaries.get_segments()] == [3.5, 6.5]
    # Three runs: "opening" 1-2, "code" 4-7, "opening" 9.
    bands = sorted(tuple(np.round(patch.get_x() + np.array([0, patch.get_width()]), 6)) for patch in ax.patches)
    assert bands == [(0.5, 2.5), (3.5, 7.5), (8.5, 9.5)]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["temperature", "entropy (nats)", "probability of the chosen token", "sentence start",
                      "rule: opening", "rule: code"]


def test_plot_generation_without_sentences_or_rules_and_on_a_given_axes():
    trace = Trace(record(i, "x", 0.7) for i in range(5))
    fig, (top, bottom) = plt.subplots(2)
    ax = plot_generation(trace, ax=bottom)
    assert ax is bottom and not top.lines
    assert not ax.patches and not ax.collections
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "temperature", "entropy (nats)", "probability of the chosen token"]


def test_plots_of_a_trace_refuse_an_empty_one():
    for plot in (plot_generation, plot_tokens, tokens_html):
        with pytest.raises(ValueError, match="the trace is empty"):
            plot(Trace())


# ---------------------------------------------------------------------------------------------
# Sweep rows


def row(strategy, label, temperature, accuracy, distinct, ci=0.04, suite="qa", **extra):
    out = {"suite": suite, "strategy": strategy, "label": label, "setting": f"{strategy}:{label}", "n": 20,
           "temperature_mean": temperature, "accuracy": accuracy, "distinct_2": distinct, **extra}
    if ci is not None:
        out.update(accuracy_low=accuracy - ci, accuracy_high=accuracy + ci,
                   distinct_2_low=distinct - ci / 2, distinct_2_high=distinct + ci / 2)
    return out


@pytest.fixture
def rows():
    return [
        row("constant", "T=1.0", 1.0, 0.55, 0.50, self_bleu=0.40),
        row("constant", "T=0.3", 0.3, 0.62, 0.30, self_bleu=0.70),
        row("constant", "T=0.7", 0.7, 0.60, 0.45, self_bleu=0.55),
        row("constant", "T=0.5", 0.5, 0.58, 0.40, self_bleu=0.50),  # dominated by T=0.7
        row("constant", "T=1.4", 1.4, math.nan, 0.60, self_bleu=0.30),  # no accuracy: skipped
        row("edt", "theta=0.8", 0.9, 0.59, 0.55, self_bleu=0.45),
        row("edt", "theta=0.4", 0.5, 0.63, 0.42, self_bleu=0.60),
        row("edt", "theta=1.2", 1.2, 0.50, 0.52, self_bleu=0.42),  # dominated by theta=0.8
        row("adapt", "high=0.9", 0.8, math.nan, 0.50),  # no valid point: draws nothing
    ]


def rgba(color):
    return tuple(np.round(to_rgba(color), 6))


def test_quality_vs_temperature_one_sorted_line_and_band_per_strategy(rows):
    ax = plot_quality_vs_temperature(rows, "accuracy")
    styles = strategy_styles(["adapt", "constant", "edt"])
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines) == ["constant", "edt"]
    assert lines["constant"].get_xdata().tolist() == [0.3, 0.5, 0.7, 1.0]
    assert lines["constant"].get_ydata().tolist() == [0.62, 0.58, 0.60, 0.55]
    assert lines["edt"].get_xdata().tolist() == [0.5, 0.9, 1.2]
    # Each point names its setting, beside it.
    placed = {(text.get_text(), text.point) for text in ax.texts if hasattr(text, "point")}
    assert placed == {(r["label"], (r["temperature_mean"], r["accuracy"])) for r in rows
                      if r["strategy"] in ("constant", "edt") and math.isfinite(r.get("accuracy", math.nan))}
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    for band, name in zip(bands, ["constant", "edt"]):
        assert rgba(lines[name].get_color()) == rgba(styles[name]["color"])
        assert rgba(band.get_facecolor()[0])[:3] == rgba(styles[name]["color"])[:3]
        (vertices,) = [path.vertices for path in band.get_paths()]
        assert np.isclose(vertices[:, 1].min(), min(lines[name].get_ydata()) - 0.04)
        assert np.isclose(vertices[:, 1].max(), max(lines[name].get_ydata()) + 0.04)
    assert ax.get_xlabel() == "mean temperature" and ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["constant", "edt"]


def test_labels_of_close_settings_do_not_print_over_each_other():
    crowded = [row("constant", f"T={t:.2f}", t, 0.5 + 0.001 * i, 0.4) for i, t in enumerate(np.linspace(0.5, 0.6, 6))]
    for draw in (lambda: plot_quality_vs_temperature(crowded, "accuracy"),
                 lambda: plot_quality_vs_diversity(crowded, "accuracy", "distinct_2")):
        ax = draw()
        ax.figure.canvas.draw()
        boxes = [text.get_window_extent() for text in ax.texts if hasattr(text, "point")]
        assert len(boxes) == 6
        overlapping = [(i, j) for i in range(6) for j in range(i + 1, 6) if boxes[i].overlaps(boxes[j])]
        assert overlapping == []


def test_quality_vs_temperature_single_setting_gets_an_error_bar_and_no_ci_no_band():
    ax = plot_quality_vs_temperature([row("constant", "T=1", 1.0, 0.5, 0.4),
                                      row("edt", "a", 0.6, 0.6, 0.4, ci=None),
                                      row("edt", "b", 0.9, 0.55, 0.4, ci=None)], "accuracy")
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    (error_bar,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert np.allclose(error_bar.get_segments()[0], [[1.0, 0.46], [1.0, 0.54]])


def test_quality_vs_diversity_frontiers_hold_exactly_the_non_dominated_settings(rows):
    ax = plot_quality_vs_diversity(rows, "accuracy", "distinct_2")
    lines = {line.get_label(): line for line in ax.lines if line.get_label() in ("constant", "edt", "adapt")}
    assert list(lines) == ["constant", "edt"]
    assert list(zip(lines["constant"].get_xdata(), lines["constant"].get_ydata())) == [
        (0.30, 0.62), (0.45, 0.60), (0.50, 0.55)]
    assert list(zip(lines["edt"].get_xdata(), lines["edt"].get_ydata())) == [(0.42, 0.63), (0.55, 0.59)]
    dominated = sorted((x, y) for line in ax.lines if line.get_label() == "_dominated"
                       for x, y in zip(line.get_xdata(), line.get_ydata()))
    assert dominated == [(0.40, 0.58), (0.52, 0.50)]
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        r["label"] for r in rows if not math.isnan(r["accuracy"]))
    # Confidence intervals in both directions: one vertical and one horizontal collection each.
    assert len([c for c in ax.collections if isinstance(c, LineCollection)]) == 4
    assert ax.get_xlabel() == "distinct-2" and ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["constant", "edt", "off the frontier"]


def test_quality_vs_diversity_flips_for_lower_is_better_metrics(rows):
    ax = plot_quality_vs_diversity(rows, "accuracy", "self_bleu")
    constant = next(line for line in ax.lines if line.get_label() == "constant")
    # Lower self-BLEU is better: T=0.5 (0.50, 0.58) is now beaten by T=0.7 only on accuracy.
    assert list(zip(constant.get_xdata(), constant.get_ydata())) == [(0.40, 0.55), (0.50, 0.58), (0.55, 0.60),
                                                                     (0.70, 0.62)]
    assert ax.get_xlabel() == "self-BLEU (lower is better)"
    ax = plot_quality_vs_diversity(rows, "accuracy", "self_bleu", lower_is_better=())
    constant = next(line for line in ax.lines if line.get_label() == "constant")
    assert list(zip(constant.get_xdata(), constant.get_ydata())) == [(0.70, 0.62)]
    assert ax.get_xlabel() == "self-BLEU"
    assert "self_bleu" in plots.LOWER_IS_BETTER and "distinct_2" not in plots.LOWER_IS_BETTER


def test_a_strategy_has_the_same_colour_in_both_sweep_plots(rows):
    by_temperature = plot_quality_vs_temperature(rows)
    by_diversity = plot_quality_vs_diversity(rows)
    colours = [{line.get_label(): rgba(line.get_color()) for line in ax.lines if not line.get_label().startswith("_")}
               for ax in (by_temperature, by_diversity)]
    assert colours[0] == colours[1] and len(set(colours[0].values())) == 2


def test_sweep_plots_validate_their_rows(rows):
    for plot in (plot_quality_vs_temperature, plot_quality_vs_diversity):
        with pytest.raises(ValueError, match="rows is empty"):
            plot([])
        with pytest.raises(ValueError, match=r"^unknown metric 'acuracy'\. Did you mean 'accuracy'\? Metrics with "
                                             r"values: accuracy, distinct_2, self_bleu, temperature_mean$"):
            plot(rows, "acuracy")
        with pytest.raises(ValueError, match="metric 'pass@1' is NaN in every row"):
            plot([dict(r, **{"pass@1": math.nan}) for r in rows], "pass@1")
    with pytest.raises(ValueError, match="unknown metric 'distinct_3'"):
        plot_quality_vs_diversity(rows, diversity="distinct_3")
    apart = [row("constant", "a", 0.5, 0.6, math.nan), row("constant", "b", math.nan, math.nan, 0.4)]
    with pytest.raises(ValueError, match="no row has values for all of 'distinct_2', 'accuracy'"):
        plot_quality_vs_diversity(apart)
    with pytest.raises(ValueError, match="no row has values for all of 'temperature_mean', 'distinct_2'"):
        plot_quality_vs_temperature(apart, "distinct_2")


def test_sweep_plots_need_a_suite_when_the_rows_span_several(rows):
    mixed = rows + [row("constant", "T=0.7", 0.7, 0.3, 0.5, suite="code")]
    for plot in (plot_quality_vs_temperature, plot_quality_vs_diversity):
        with pytest.raises(ValueError, match=r"2 suites \('code', 'qa'\); pass suite="):
            plot(mixed)
        with pytest.raises(ValueError, match=r"^unknown suite 'cod'\. Did you mean 'code'\? Suites in the rows: "
                                             r"code, qa$"):
            plot(mixed, suite="cod")
    ax = plot_quality_vs_temperature(mixed, suite="code")
    (line,) = [line for line in ax.lines if not line.get_label().startswith("_")]
    assert (line.get_label(), line.get_ydata().tolist()) == ("constant", [0.3])
    # The colours still come from every strategy in the rows.
    assert rgba(line.get_color()) == rgba("tab:orange")


# ---------------------------------------------------------------------------------------------
# tokens_html and plot_tokens


class Spans(HTMLParser):
    """The token spans of a tokens_html page: (title, text) each, and everything else seen."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.spans, self.depth, self.tags = [], 0, set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "span" and attrs.get("class") == "t":
            self.spans.append([attrs["title"], ""])
            self.depth = 1
        elif self.depth and tag == "span":
            raise AssertionError("a span inside a token span")

    def handle_endtag(self, tag):
        if tag == "span":
            self.depth = 0

    def handle_data(self, data):
        if self.depth:
            self.spans[-1][1] += data


def parse(page):
    parser = Spans()
    parser.feed(page)
    return parser


def test_tokens_html_has_one_escaped_span_per_token_with_hover_values(trace):
    page = tokens_html(trace, title="Sea <1>")
    parsed = parse(page)
    assert len(parsed.spans) == len(trace)
    assert "".join(text for _, text in parsed.spans) == trace.text  # newlines kept, nothing added
    assert "&lt;b&gt;" in page and "<b>" not in page and "&amp; $5" in page and "&quot;hi&quot;" in page
    assert "<title>Sea &lt;1&gt;</title>" in page
    title, text = parsed.spans[9]
    assert text == ' "hi"'
    assert title.splitlines() == ["token 9 (id 1009)", "temperature: 1.400", "entropy: 2.750 nats",
                                  "probability: 0.091", "sentence: 2", "rule: opening"]
    assert parsed.spans[0][0].endswith("rule: none")
    assert page.count('<i class="nl"></i>') == 1
    assert not parsed.tags & {"script", "link", "img", "iframe"} and "http" not in page and "url(" not in page


def backgrounds(page):
    return re.findall(r'class="t" style="background:(#[0-9a-f]{6})', page)


def near(colour, rgb):
    """Whether ``#rrggbb`` is within a 256-entry colormap's step of ``rgb``."""
    return all(abs(int(colour[i:i + 2], 16) - c) <= 2 for i, c in zip((1, 3, 5), rgb))


def test_tokens_html_colours_follow_the_terminal_scale_by_default(trace):
    page = tokens_html(trace)
    assert 'class="bar"' in page and "linear-gradient(to right, #3b4cc0" in page and "#b40426); }" in page
    assert '<span class="lo">0.00</span>' in page and '<span class="hi">2.00</span>' in page
    colours = backgrounds(page)
    assert len(colours) == len(trace)
    assert all(near(colour, SCALE.rgb(r.temperature)) for colour, r in zip(colours, trace))
    # The range is the scale's, not the trace's: a temperature has one colour in every trace.
    alone = backgrounds(tokens_html(Trace(record(i, "x", 0.9) for i in range(3))))
    assert alone == [colours[4]] * 3


def test_tokens_html_takes_another_range_or_colormap(trace):
    page = tokens_html(trace, vmin=0.2, vmax=1.4)
    assert '<span class="lo">0.20</span>' in page and '<span class="hi">1.40</span>' in page
    assert page.count("background:#3b4cc0") == 4 and page.count("background:#b40426") == 5
    page = tokens_html(trace, vmin=0.2, vmax=1.4, cmap=matplotlib.colormaps["viridis"])
    assert page.count("background:#440154") == 4 and page.count("background:#fde725") == 5
    page = tokens_html(trace, vmin=0.0, cmap="viridis")
    assert '<span class="lo">0.00</span>' in page and '<span class="hi">2.00</span>' in page
    assert "background:#440154" not in page  # 0.2 is above viridis' lowest colour
    with pytest.raises(ValueError, match="vmin must be below vmax, got vmin=1.0, vmax=1.0"):
        tokens_html(trace, vmin=1.0, vmax=1.0)
    with pytest.raises(ValueError, match="vmin must be below vmax, got vmin=2.5, vmax=2.0"):
        tokens_html(trace, vmin=2.5)
    with pytest.raises(ValueError, match=r"^unknown colormap 'coolwrm'\. Did you mean 'coolwarm'\? "
                                         r"Colormaps: .*viridis"):
        tokens_html(trace, cmap="coolwrm")


def test_a_token_without_a_temperature_is_grey_whatever_the_colormap():
    trace = Trace([record(0, "a", 0.5), record(1, "b", math.nan)])
    for cmap in (None, "viridis"):
        assert backgrounds(tokens_html(trace, cmap=cmap))[1] == SCALE.missing


def test_plot_tokens_draws_each_non_empty_token_and_saves_a_png(trace, tmp_path):
    ax = plot_tokens(trace, title="The sea")
    drawn = [text.get_gid() for text in ax.texts]
    assert sorted(set(drawn)) == sorted(f"token-{r.index}" for r in trace if r.piece)
    # Only the newline token has a cell of its own, the newline mark.
    assert [t.get_text() for t in ax.texts if t.get_gid() == "token-6"] == ["↵"]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "token-5"] == [" & $5"]
    assert not any(text.get_parse_math() for text in ax.texts)
    (boxes,) = ax.collections
    assert len(boxes.get_paths()) == len(ax.texts)
    # The same colours as the HTML page.
    page = dict(zip((f"token-{r.index}" for r in trace), backgrounds(tokens_html(trace))))
    assert [to_hex(colour) for colour in boxes.get_facecolors()] == [page[text.get_gid()] for text in ax.texts]
    colorbar_ax = next(other for other in ax.figure.axes if other is not ax)
    assert colorbar_ax.get_xlabel() == "temperature"
    path = tmp_path / "tokens.png"
    ax.figure.savefig(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_tokens_wraps_at_the_width():
    trace = Trace([record(0, "aaaa", 0.2), record(1, " bbbb", 0.5), record(2, " cccc", 0.8),
                   record(3, "dd\ne", 1.0), record(4, "x" * 25, 1.2)])
    ax = plot_tokens(trace, width=10)
    layout = [(t.get_text(), t.get_position()[0], -t.get_position()[1] - 0.5) for t in ax.texts]
    # A piece that does not fit moves to the next line without its leading space; a piece longer
    # than a line is cut.
    assert layout == [("aaaa", 0, 0), (" bbbb", 4, 0), ("cccc", 0, 1), ("dd↵", 4, 1), ("e", 0, 2),
                      ("x" * 10, 0, 3), ("x" * 10, 0, 4), ("x" * 5, 0, 5)]
    assert ax.get_xlim()[1] == pytest.approx(11)


def test_plot_tokens_on_a_given_axes(trace, tmp_path):
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    assert plot_tokens(trace, ax=ax, width=30) is ax
    fig.savefig(tmp_path / "given.png")
    assert (tmp_path / "given.png").read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match="width must be >= 1"):
        plot_tokens(trace, width=0)


# ---------------------------------------------------------------------------------------------
# A real generation


@pytest.fixture(scope="module")
def sea(llm):
    sampler = dyntemp.Sampler(dyntemp.get_strategy("sentence", temperatures=[0.2, 0.9, 1.4]), seed=8)
    return sampler.chat(llm, [{"role": "user", "content": "Write four short sentences about the sea."}],
                        max_tokens=80).trace


def test_real_generation_plot(sea, tmp_path):
    ax = plot_generation(sea, title="sentence: 0.2, 0.9, 1.4")
    assert ax.lines[0].get_ydata().tolist() == [r.temperature for r in sea]
    assert set(ax.lines[0].get_ydata()) <= {0.2, 0.9, 1.4}
    changes = sum(a.sentence_index != b.sentence_index for a, b in zip(sea, sea[1:]))
    (boundaries,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert changes >= 2 and len(boundaries.get_segments()) == changes
    ax.figure.savefig(tmp_path / "generation.png", dpi=100)
    assert (tmp_path / "generation.png").read_bytes()[:8] == PNG_SIGNATURE


def test_real_generation_text(sea, tmp_path):
    ax = plot_tokens(sea)
    assert {t.get_gid() for t in ax.texts} == {f"token-{r.index}" for r in sea if r.piece}
    ax.figure.savefig(tmp_path / "tokens.png", dpi=100)
    assert (tmp_path / "tokens.png").read_bytes()[:8] == PNG_SIGNATURE
    page = tokens_html(sea, title="The sea")
    assert "".join(text for _, text in parse(page).spans) == sea.text
    (tmp_path / "tokens.html").write_text(page, encoding="utf-8")


def test_plot_draws_a_trace_file_of_generate(trace, tmp_path, capsys):
    from dyntemp.cli import main

    path = tmp_path / "run.jsonl"
    trace.to_jsonl(path, header={"settings": {"strategy": {"name": "edt", "theta": 0.6}}})
    assert main(["plot", str(path), "--out", str(tmp_path / "figs")]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["run_generation.png", "run_tokens.png", "run_tokens.html"]
    assert all((tmp_path / "figs" / name).stat().st_size > 1000 for name in ("run_generation.png", "run_tokens.png"))
    page = (tmp_path / "figs" / "run_tokens.html").read_text()
    assert "run.jsonl · edt:theta=0.6" in page and all(word in page for word in ("sea", "Waves", "Foam", "end"))
    with pytest.raises(SystemExit):
        main(["plot", str(path), "--suite", "qa"])
    assert "a trace file has one generation" in capsys.readouterr().err
