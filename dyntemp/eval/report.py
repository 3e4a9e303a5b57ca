"""The figures of a run folder: per suite, quality against temperature and against diversity, and
one example generation as a schedule plot, a coloured-text PNG and an HTML page."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

from . import plots
from .metric_info import QUALITY
from ..records import GenerationRecord
from ..strategies.spec import StrategySpec
from .run_folder import read_generations
from .summary import summarize


def default_quality(rows: Sequence[dict]) -> str:
    """The quality metric a suite is judged by: accuracy (qa), pass@1 (code), else the scorer's NLL
    when there is one, else the generating model's NLL.

    >>> default_quality([{"accuracy": math.nan, "pass@1": math.nan, "nll": 2.0}])
    'nll'
    """
    for name in QUALITY:
        if any(not math.isnan(row.get(name, math.nan)) for row in rows):
            return name
    raise ValueError("no quality metric in these rows")


def _example(records: list[GenerationRecord], setting: str | None) -> GenerationRecord:
    """The generation to show: of ``setting`` (default: the first adaptive one), first prompt, seed 0."""
    settings = list(dict.fromkeys(r.setting for r in records))
    if setting is None:
        setting = next((r.setting for r in records if r.strategy.name != "constant"), settings[0])
    elif setting not in settings:
        raise ValueError(f"example setting {setting!r} is not in the run; its settings: {', '.join(settings)}")
    mine = sorted((r for r in records if r.setting == setting), key=lambda r: (r.seed, r.item))
    return mine[0]


def plot_run(run: str | os.PathLike, out: str | os.PathLike | None = None, *, suites: Sequence[str] | None = None,
             quality: str | None = None, diversity: str = "distinct_2", example: str | None = None) -> list[Path]:
    """Draw the figures of the run folder ``run`` into ``out`` (default ``run/plots``); returns the
    files written: ``{suite}_quality_vs_temperature.png``, ``{suite}_quality_vs_diversity.png``,
    ``{suite}_generation.png``, ``{suite}_tokens.png`` and ``{suite}_tokens.html``.

    ``quality`` defaults per suite (see ``default_quality``); ``example`` names the setting whose
    first generation is shown (default: the first setting that is not ``constant``).
    """
    import matplotlib.pyplot as plt

    records = read_generations(run)
    if not records:
        raise ValueError(f"{os.fspath(run)} has no generations yet")
    out = Path(run) / "plots" if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(records)
    known = list(dict.fromkeys(r.suite for r in records))
    for suite in suites or ():
        if suite not in known:
            raise ValueError(f"suite {suite!r} is not in the run; its suites: {', '.join(known)}")
    written = []
    for suite in suites or known:
        mine = [r for r in rows if r["suite"] == suite]
        metric = quality or default_quality(mine)
        figures = {
            "quality_vs_temperature": lambda ax: plots.plot_quality_vs_temperature(mine, metric=metric, ax=ax),
            "quality_vs_diversity": lambda ax: plots.plot_quality_vs_diversity(mine, quality=metric,
                                                                              diversity=diversity, ax=ax),
        }
        for name, draw in figures.items():
            fig, ax = plt.subplots(figsize=(7, 4.5))
            draw(ax)
            ax.set_title(f"{suite}: {ax.get_title()}" if ax.get_title() else suite)
            written.append(_save(fig, out / f"{suite}_{name}.png"))
        record = _example([r for r in records if r.suite == suite], example)
        title = f"{suite} · {record.setting} · {record.item} · seed {record.seed}"
        written += _draw_trace(record.trace, title, out, suite)
    return written


def plot_trace(path: str | os.PathLike, out: str | os.PathLike | None = None) -> list[Path]:
    """Draw one trace file (``dyntemp generate --trace``) into ``out`` (default: its folder):
    ``{stem}_generation.png`` (the temperature schedule), ``{stem}_tokens.png`` and ``{stem}_tokens.html``
    (the text coloured by temperature)."""
    from ..core.trace import Trace

    header, trace = Trace.from_jsonl(path, with_header=True)
    if len(trace) == 0:
        raise ValueError(f"{os.fspath(path)} holds no tokens")
    path = Path(path)
    out = path.parent if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    strategy = (header or {}).get("settings", {}).get("strategy")
    title = path.name + (f" · {StrategySpec.from_dict(strategy).key}" if isinstance(strategy, dict) else "")
    return _draw_trace(trace, title, out, path.stem)


def _draw_trace(trace, title: str, out: Path, stem: str) -> list[Path]:
    ax = plots.plot_generation(trace, title=title)
    written = [_save(ax.figure, out / f"{stem}_generation.png")]
    ax = plots.plot_tokens(trace)
    ax.set_title(title)
    written.append(_save(ax.figure, out / f"{stem}_tokens.png"))
    page = out / f"{stem}_tokens.html"
    page.write_text(plots.tokens_html(trace, title=title), encoding="utf-8")
    return written + [page]


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path
