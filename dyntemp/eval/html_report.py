"""One self-contained HTML page of an eval run: ``dyntemp report RUN -o report.html``.

The page needs no network (figures are inline PNGs, no script, no font or stylesheet from
elsewhere): the run's model and sampler settings; per suite the summary table with 95% intervals,
quality against mean temperature and against diversity, the paired comparisons of
``dyntemp.eval.compare`` with their verdicts, and for every setting one generation (first item,
lowest seed) with each token coloured by its temperature, its values on hover.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Sequence

from . import metric_info
from .compare import cells, compare
from .report import default_quality
from .run_folder import read_header, read_generations
from .summary import cell, summarize, table_metrics

__all__ = ["report_html", "write_report"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 75rem;
       padding: 0 1rem; color: #222; background: #fff; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
.scroll { overflow-x: auto; } table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.45rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.better { background: #d8f0d8; } td.worse { background: #f6d6d6; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; } .figures img { max-width: 36rem; width: 100%; }
.example { margin: 0.6rem 0 1.2rem; } .example .meta { color: #666; font-size: 0.85rem; }
.tokens { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9rem; line-height: 1.7;
          white-space: pre-wrap; overflow-wrap: anywhere; }
.t { border-radius: 2px; } .t:hover { outline: 2px solid #000; }
.nl::before { content: "\\21B5"; opacity: 0.6; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; font-size: 0.9rem; }
dt { color: #666; }
"""


def write_report(run: str | os.PathLike, out: str | os.PathLike, *, quality: str | None = None,
                 diversity: str = "distinct_2") -> Path:
    """Write ``report_html`` of the run folder ``run`` to ``out``, whole or not at all."""
    from ..files import replace_file

    page = report_html(run, quality=quality, diversity=diversity)
    replace_file(Path(out), page)
    return Path(out)


def report_html(run: str | os.PathLike, *, quality: str | None = None, diversity: str = "distinct_2") -> str:
    """The report page of the run folder ``run``; ``quality`` as ``dyntemp plot`` (default per
    suite), ``diversity`` the metric of the diversity figure and of the equal-diversity tests."""
    for name in filter(None, (quality, diversity)):
        metric_info.check(name)
    records = read_generations(run)
    if not records:
        raise ValueError(f"{os.fspath(run)} has no generations yet")
    header = read_header(run)
    rows = summarize(records)
    comparisons = compare(records, diversity=diversity)
    parts = [f"<h1>Eval report: {_e(os.path.basename(os.path.abspath(run)))}</h1>", _settings(header, records)]
    for suite in dict.fromkeys(r.suite for r in records):
        mine = [r for r in rows if r["suite"] == suite]
        metric = quality or default_quality(mine)
        parts += [f'<h2 id="suite-{_e(suite)}">suite {_e(suite)}</h2>', "<h3>Summary</h3>", _summary(mine),
                  "<h3>Quality, temperature and diversity</h3>", _figures(mine, metric, diversity),
                  "<h3>Paired comparisons</h3>", _comparisons([c for c in comparisons if c["suite"] == suite]),
                  "<h3>One generation per setting</h3>",
                  *(_example(records, suite, setting) for setting in (r["setting"] for r in mine))]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Eval report</title>\n"
            f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n")


def _e(value) -> str:
    return html.escape(str(value))


def _settings(header: dict, records) -> str:
    items = {"model": header.get("model", "(not recorded)"), "scorer": header.get("scorer") or "none",
             "sampler": ", ".join(f"{k}={v}" for k, v in sorted(header.get("sampler", {}).items())) or "defaults",
             "chat template": "the model's" if header.get("chat_template") is None
             else f"the run's own ({len(header['chat_template']):,} characters, in sweep.json)",
             "generations": f"{len(records):,}",
             "suites": ", ".join(dict.fromkeys(r.suite for r in records))}
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items()) + "</dl>"


def _summary(rows: Sequence[dict]) -> str:
    names = table_metrics(rows)
    head = "".join(f"<th>{_e(metric_info.METRICS[m].label)}</th>" for m in names)
    body = "".join(f"<tr><td>{_e(r['setting'])}</td><td>{r['n']}</td>"
                   + "".join(f"<td>{cell(r, m)}</td>" for m in names) + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="summary"><tr><th>setting</th><th>n</th>{head}</tr>{body}</table></div>'


def _figures(rows: Sequence[dict], quality: str, diversity: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plots

    images = []
    for draw in (lambda ax: plots.plot_quality_vs_temperature(rows, metric=quality, ax=ax),
                 lambda ax: plots.plot_quality_vs_diversity(rows, quality=quality, diversity=diversity, ax=ax)):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        try:
            draw(ax)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        finally:
            plt.close(fig)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        images.append(f'<img alt="{_e(ax.get_title() or quality)}" src="data:image/png;base64,{data}">')
    return '<div class="figures">' + "".join(images) + "</div>"


def _comparisons(rows: Sequence[dict]) -> str:
    if not rows:
        return "<p>No comparisons: the suite has no adaptive setting, or no constant one to compare with.</p>"
    out = ['<div class="scroll"><table class="compare"><tr><th>setting</th><th class="text">against</th><th>metric</th>'
           "<th>items</th><th>difference [95% CI]</th><th>detectable</th><th>p (Holm)</th>"
           '<th class="text">verdict</th></tr>']
    for r in rows:
        against, *numbers = cells(r)
        numbers = "".join(f"<td>{_e(text)}</td>" for text in numbers)
        verdict = r["verdict"] if r["verdict"] in ("better", "worse") else ""
        out.append(f"<tr><td>{_e(r['setting'])}</td><td class=\"text\">{_e(against)}</td><td>{_e(r['metric'])}</td>"
                   f"<td>{r['items']}</td>{numbers}<td class=\"text {verdict}\">{_e(r['verdict'])}</td></tr>")
    return "".join(out) + "</table></div>"


def _example(records, suite: str, setting: str) -> str:
    from .token_view import token_spans

    mine = sorted((r for r in records if r.suite == suite and r.setting == setting), key=lambda r: (r.item, r.seed))
    record = mine[0]
    meta = f"{setting} · {record.item} · seed {record.seed} · {len(record.trace)} tokens · {record.finish_reason}"
    return (f'<div class="example" data-setting="{_e(setting)}"><div class="meta">{_e(meta)}</div>'
            f'<div class="tokens">{token_spans(record.trace)}</div></div>')
