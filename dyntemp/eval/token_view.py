"""The generated text with each token on a background coloured by its temperature: as a figure
(``plot_tokens``) or as a self-contained HTML page (``tokens_html``).

The colours follow :data:`dyntemp.colour.SCALE`, the scale of the command line, unless a plot is
given another range or colormap. matplotlib is imported when a view is made, not with this module.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Sequence

import numpy as np

from .._validate import integer, unknown
from ..colour import SCALE
from ..core.trace import TraceRecord
from .trace_plots import trace_records

__all__ = ["plot_tokens", "token_spans", "tokens_html"]

_NEWLINE_MARK = "↵"
_LINE_SPACING = 1.5  # text line height in font sizes, for plot_tokens


def tokens_html(trace: Iterable[TraceRecord], *, title: str | None = None, vmin: float | None = None,
                vmax: float | None = None, cmap: Any = None) -> str:
    """A self-contained HTML page of the generated text, each token on a background coloured by
    its temperature, with a colour bar; hovering a token shows its index, temperature, entropy,
    probability, sentence and rule.

    ``vmin`` and ``vmax`` fix the ends of the colour scale (default: those of
    :data:`dyntemp.colour.SCALE`, 0 and 2, so that a temperature has the same colour on every page
    and in the terminal); ``cmap`` is a matplotlib colormap or its name (default: the colours of
    that scale). A token without a temperature (NaN) is grey. Newlines are kept and
    marked with ``↵`` (the mark is not part of the copied text). Write it with
    ``pathlib.Path("trace.html").write_text(page, encoding="utf-8")``.

    >>> from dyntemp.core.trace import Trace, TraceRecord
    >>> trace = Trace([TraceRecord(0, 504, "Calm", 0.2, 3.1, 2.0, 9, 0.41, 0, 0, None),
    ...                TraceRecord(1, 3458, " <seas>", 1.4, 1.2, 0.8, 4, 0.77, 0, 1, "hot")])
    >>> page = tokens_html(trace, title="The sea")
    >>> page.startswith("<!DOCTYPE html>"), "&lt;seas&gt;" in page, page.count("<span class=\\"t\\"")
    (True, True, 2)
    """
    records = trace_records(trace)
    norm, colormap = _colour_scale(vmin, vmax, cmap)
    page_title = html.escape(title if title is not None else "Token temperatures")
    stops = ", ".join(_hex(colormap, f) for f in np.linspace(0, 1, 11))
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
<div class="text">{token_spans(records, vmin=vmin, vmax=vmax, cmap=cmap)}</div>
</body>
</html>
"""


def token_spans(trace: Iterable[TraceRecord], *, vmin: float | None = None, vmax: float | None = None,
                cmap: Any = None) -> str:
    """The HTML of the tokens alone, as ``tokens_html`` shows them: a ``<span class="t">`` per token,
    its background the temperature's colour and its ``title`` (the hover) its values.

    >>> from dyntemp.core.trace import TraceRecord
    >>> token_spans([TraceRecord(0, 504, "Calm", 0.2, 3.1, 2.0, 9, 0.41, 0, 0, None)]).count("temperature: 0.200")
    1
    """
    norm, colormap = _colour_scale(vmin, vmax, cmap)
    spans = []
    for r in trace_records(trace):
        background = _hex(colormap, norm(r.temperature))
        text = '<i class="nl"></i>\n'.join(html.escape(part) for part in r.piece.split("\n"))
        hover = html.escape(_hover(r)).replace("\n", "&#10;")
        spans.append(f'<span class="t" style="background:{background};color:{_ink(background)}" '
                     f'title="{hover}">{text}</span>')
    return "".join(spans)


def plot_tokens(trace: Iterable[TraceRecord], ax: Any = None, *, vmin: float | None = None,
                vmax: float | None = None, cmap: Any = None, width: int = 80, title: str | None = None):
    """The generated text as a figure, each token on a background coloured by its temperature,
    with a colour bar below.

    The text is wrapped at token boundaries to ``width`` characters a line (a longer token is
    cut), in a monospace font whose size follows from the Axes size: with ``ax=None`` the figure
    is sized to the text. Newlines are kept and marked with ``↵``; each piece of a token on one
    line is one text artist, and empty pieces draw nothing. ``vmin``, ``vmax`` and ``cmap`` are as
    in :func:`tokens_html`.

    >>> from dyntemp.core.trace import Trace, TraceRecord
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
    records = trace_records(trace)
    norm, colormap = _colour_scale(vmin, vmax, cmap)
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
        color = _hex(colormap, norm(record.temperature))
        rectangles.append(Rectangle((column, -line - 1), len(text), 1))
        colors.append(color)
        ax.text(column, -line - 0.5, text, family="monospace", fontsize=size, color=_ink(color), ha="left",
                va="center_baseline", parse_math=False, gid=f"token-{record.index}")
    # Edges in the face colour close the hairline seams between neighbouring boxes.
    ax.add_collection(PatchCollection(rectangles, facecolors=colors, edgecolors=colors, linewidths=0.4))
    if title is not None:
        ax.set_title(title)
    return ax


def _hover(r: TraceRecord) -> str:
    return (f"token {r.index} (id {r.token})\ntemperature: {r.temperature:.3f}\nentropy: {r.entropy:.3f} nats\n"
            f"probability: {r.probability:.3f}\nsentence: {r.sentence_index}\nrule: {r.rule or 'none'}")


def _colour_scale(vmin: float | None, vmax: float | None, cmap: Any):
    """The Normalize and the colormap of the token colours."""
    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    low = SCALE.low if vmin is None else float(vmin)
    high = SCALE.high if vmax is None else float(vmax)
    if not low < high:
        raise ValueError(f"vmin must be below vmax, got vmin={low!r}, vmax={high!r}")
    if cmap is None:
        colormap = LinearSegmentedColormap.from_list("dyntemp", SCALE.colours)
    elif isinstance(cmap, str):
        if cmap not in matplotlib.colormaps:
            raise ValueError(unknown("colormap", cmap, matplotlib.colormaps, listing="Colormaps"))
        colormap = matplotlib.colormaps[cmap]
    else:
        colormap = cmap
    # Tokens without a temperature are grey whatever the colormap (matplotlib's own is transparent).
    return Normalize(low, high, clip=True), colormap.with_extremes(bad=SCALE.missing)


def _hex(colormap, value: float) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colormap(value))


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
