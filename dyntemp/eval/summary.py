"""A run's generations aggregated per suite and strategy setting, with 95% bootstrap intervals.

Each summary row is a plain dict: ``suite``, ``strategy``, ``label``, ``setting``, ``n``
(generations), ``prompts``, ``k`` (the k of pass@k: the seeds per prompt), and for every metric ``M``
the mean ``M`` with its interval ``M_low``, ``M_high``, for the metrics of :mod:`.metric_info`.
Per-generation metrics are resampled over generations; ``self_bleu`` and pass@k (``pass@k``, and
``pass@5``, ``pass@10``, ... up to the seeds), which compare the seeds of one prompt, over prompts.
A metric that does not apply to the suite (accuracy on open prompts) is ``nan``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import defaultdict
from numbers import Real
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..records import GenerationRecord
from . import metric_info, metrics
from ..files import replace_file
from .metric_info import HEADER

METRICS = tuple(metric_info.METRICS)  # the names, in column order
# The CSV columns: the header fields, then each metric with its interval.
COLUMNS = (*HEADER, *(f"{m}{end}" for m in METRICS for end in ("", "_low", "_high")))


def _order(row: dict) -> tuple:
    values = tuple((0, v, "") if isinstance(v, Real) else (1, 0, str(v)) for v in row["params"].values())
    return (row["suite"], row["strategy"], values)


#: Fewer values than this get a mean but no interval: resampling two or three values says nothing.
MIN_INTERVAL_VALUES = 10


def _add(row: dict, name: str, values: Iterable[float]) -> None:
    values = list(values)
    row[name], row[f"{name}_low"], row[f"{name}_high"] = metrics.bootstrap_ci(values)
    if len(values) < MIN_INTERVAL_VALUES and not math.isnan(row[name]):
        row[f"{name}_low"] = row[f"{name}_high"] = math.nan


def _pass_at_k(prompts: Iterable[list[GenerationRecord]], k: int) -> Iterator[float]:
    for seeds in prompts:
        if "passed" in seeds[0].scores:
            yield metrics.pass_at_k(len(seeds), int(sum(r.scores["passed"] for r in seeds)), k)


def _pass_at(fixed_k: int):
    """pass@``fixed_k`` per prompt: nothing (so ``nan``) unless every prompt has that many samples."""
    def values(prompts: Iterable[list[GenerationRecord]], k: int) -> Iterator[float]:
        return _pass_at_k(prompts, fixed_k) if k >= fixed_k else iter(())
    return values


def _self_bleu(prompts: Iterable[list[GenerationRecord]], k: int) -> Iterator[float]:
    for seeds in prompts:
        if len(seeds) > 1:
            yield metrics.self_bleu([r.text for r in seeds])


# How each metric without a per-generation source is computed: one value per prompt from its generations,
# all called alike with the k of pass@k.
PER_PROMPT = {"pass@k": _pass_at_k, **{f"pass@{k}": _pass_at(k) for k in metric_info.PASS_KS},
              "self_bleu": _self_bleu}


def _generation_values(group: Iterable[GenerationRecord], source: str) -> Iterator[float]:
    section, key = source.split(".")
    return (getattr(record, section)[key] for record in group if key in getattr(record, section))


def summarize(records: Sequence[GenerationRecord]) -> list[dict]:
    """One row per (suite, setting) of the generation records of a run, in a stable order.

    >>> rows = summarize([])
    >>> rows
    []
    """
    groups: dict[tuple[str, str], list[GenerationRecord]] = defaultdict(list)
    for record in records:
        groups[record.suite, record.setting].append(record)
    rows = []
    for (suite, setting), group in groups.items():
        first = group[0]
        by_item: dict[str, list[GenerationRecord]] = defaultdict(list)
        for record in group:
            by_item[record.item].append(record)
        k = min(len(v) for v in by_item.values())
        spec = first.strategy
        row = {"suite": suite, "strategy": spec.name, "label": spec.label, "setting": setting,
               "n": len(group), "prompts": len(by_item), "k": k, "params": dict(spec.params)}
        for name, metric in metric_info.METRICS.items():
            values = (_generation_values(group, metric.source) if metric.per == "generation"
                      else PER_PROMPT[name](by_item.values(), k))
            _add(row, name, values)
        rows.append(row)
    rows.sort(key=_order)
    return rows


def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Write summary rows as CSV (``params`` is spelled out in ``setting``), whole or not at all."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    replace_file(Path(path), text.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Summary rows from a CSV written by ``write_csv`` (numbers as floats, ``n`` and ``k`` as ints)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key in ("n", "prompts", "k"):
                row[key] = int(value)
            elif key not in HEADER:
                row[key] = float(value) if value else math.nan
    return rows


def cell(row: dict, name: str) -> str:
    """A summary row's ``name`` as text: the mean and its interval, ``-`` where it has none.

    >>> cell({"accuracy": 0.5, "accuracy_low": 0.3, "accuracy_high": 0.7}, "accuracy"), cell({}, "nll")
    ('0.500 [0.300, 0.700]', '-')
    """
    value = row.get(name, math.nan)
    if math.isnan(value):
        return "-"
    low, high = row.get(f"{name}_low", math.nan), row.get(f"{name}_high", math.nan)
    if math.isnan(low):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def table_metrics(rows: Sequence[dict]) -> list[str]:
    """The metrics of the text table that some of ``rows`` (one suite's) have a value for."""
    return [m for m in metric_info.TABLE if any(not math.isnan(r.get(m, math.nan)) for r in rows)]


def format_table(rows: Sequence[dict]) -> str:
    """The summary as a text table, one block per suite, with the metrics that apply to it."""
    blocks = []
    for suite in dict.fromkeys(r["suite"] for r in rows):
        mine = [r for r in rows if r["suite"] == suite]
        names = table_metrics(mine)
        table = [["setting", "n", *names]] + [[r["setting"], str(r["n"]), *(cell(r, m) for m in names)]
                                               for r in mine]
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
                 for line in table]
        blocks.append(f"suite {suite}\n" + "\n".join(lines))
    few = any(not math.isnan(r.get(m, math.nan)) and math.isnan(r.get(f"{m}_low", math.nan))
              for r in rows for m in metric_info.TABLE)
    note = (f"\n\nno [interval]: fewer than {MIN_INTERVAL_VALUES} values (generations, or prompts for "
            f"pass@k and self-BLEU) to resample" if few else "")
    return "\n\n".join(blocks) + note
