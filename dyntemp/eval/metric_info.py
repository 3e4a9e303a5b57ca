"""What each metric of a summary row is: its key, its label on a plot, which way is better, what
it is computed over, and whether the text table shows it.

:data:`METRICS` states every metric once; the CSV columns, the text table, the axis labels, the
frontiers' directions and the default quality metric are all derived from it.

>>> METRICS["self_bleu"].label, METRICS["self_bleu"].per, "self_bleu" in LOWER_IS_BETTER
('self-BLEU', 'prompt', True)
>>> QUALITY
('accuracy', 'pass@1', 'scorer_nll', 'nll')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = ["HEADER", "LOWER_IS_BETTER", "METRICS", "Metric", "PASS_KS", "QUALITY", "TABLE", "check", "label"]

#: The keys of a summary row that are not metrics: what the row is of, and how many generations
#: (``n``), prompts and seeds per prompt (``k``) it sums up.
HEADER = ("suite", "strategy", "label", "setting", "n", "prompts", "k")


@dataclass(frozen=True)
class Metric:
    """One metric of a summary row.

    ``label`` names it on a plot's axis. ``source`` is where a generation record keeps the
    metric's value, as ``"section.key"`` (``"scores.correct"`` is ``record.scores["correct"]``);
    a metric without one compares the seeds of a prompt and has a value per prompt.
    ``in_table`` puts it in the text table of a run. ``quality_rank`` orders the metrics a suite's
    quality is judged by when none is named (1 first), ``None`` for the others.
    """

    name: str
    label: str
    source: str | None = None
    lower_is_better: bool = False
    in_table: bool = False
    quality_rank: int | None = None

    @property
    def per(self) -> str:
        """``"generation"`` or ``"prompt"``: what one value is of, and what the bootstrap resamples.

        >>> METRICS["accuracy"].per, METRICS["pass@k"].per
        ('generation', 'prompt')
        """
        return "generation" if self.source is not None else "prompt"


#: The fixed k of pass@k columns besides pass@1 and pass@k (k: every sample of a prompt), as the
#: HumanEval papers report them; a column is ``nan`` when a prompt has fewer samples than its k.
PASS_KS = (5, 10, 20, 50, 100)

# In the order of the CSV columns.
METRICS: dict[str, Metric] = {metric.name: metric for metric in (
    Metric("accuracy", "accuracy", "scores.correct", in_table=True, quality_rank=1),
    Metric("pass@1", "pass@1", "scores.passed", in_table=True, quality_rank=2),
    Metric("pass@k", "pass@k", in_table=True),
    *(Metric(f"pass@{k}", f"pass@{k}") for k in PASS_KS),
    Metric("parses", "parses (valid Python)", "scores.parses"),
    Metric("distinct_1", "distinct-1", "metrics.distinct_1"),
    Metric("distinct_2", "distinct-2", "metrics.distinct_2", in_table=True),
    Metric("distinct_3", "distinct-3", "metrics.distinct_3"),
    Metric("rep_2", "rep-2", "metrics.rep_2", lower_is_better=True),
    Metric("rep_3", "rep-3", "metrics.rep_3", lower_is_better=True),
    Metric("rep_4", "rep-4", "metrics.rep_4", lower_is_better=True),
    Metric("self_bleu", "self-BLEU", lower_is_better=True, in_table=True),
    Metric("loop_rate", "loop rate", "metrics.loop", lower_is_better=True, in_table=True),
    Metric("length", "length", "metrics.length"),
    # Not a quality score: under the model that generated the text, it falls as the temperature does.
    Metric("nll", "own-model NLL (falls with temperature; not quality)", "metrics.nll", lower_is_better=True,
           in_table=True, quality_rank=4),
    Metric("scorer_nll", "scorer NLL", "metrics.scorer_nll", lower_is_better=True, in_table=True, quality_rank=3),
    Metric("temperature_mean", "mean temperature", "metrics.temperature_mean", in_table=True),
    Metric("temperature_std", "temperature std", "metrics.temperature_std"),
    Metric("temperature_entropy_corr", "temperature–entropy correlation", "metrics.temperature_entropy_corr"),
)}

#: The metrics for which lower is better; every other metric is better higher.
LOWER_IS_BETTER = frozenset(name for name, metric in METRICS.items() if metric.lower_is_better)

#: The metrics of the text table, in column order.
TABLE = tuple(name for name, metric in METRICS.items() if metric.in_table)

#: The quality metrics in the order a suite's default is picked: the first one with values.
QUALITY = tuple(sorted((name for name, metric in METRICS.items() if metric.quality_rank is not None),
                       key=lambda name: METRICS[name].quality_rank))


def check(name: str) -> str:
    """``name`` if it is a metric of :data:`METRICS`, else a ``ValueError`` listing them.

    >>> check("bleu")
    Traceback (most recent call last):
    ...
    ValueError: metric 'bleu' is not one of accuracy, pass@1, pass@k, pass@5, pass@10, pass@20, pass@50, pass@100, parses, distinct_1, distinct_2, distinct_3, rep_2, rep_3, rep_4, self_bleu, loop_rate, length, nll, scorer_nll, temperature_mean, temperature_std, temperature_entropy_corr
    """
    if name not in METRICS:
        raise ValueError(f"metric {name!r} is not one of {', '.join(METRICS)}")
    return name


def label(name: str, lower_is_better: Iterable[str] = ()) -> str:
    """The axis label of the metric ``name`` (a key that is not in :data:`METRICS` is spelled with
    spaces), marked when it is in ``lower_is_better``.

    >>> label("self_bleu"), label("self_bleu", LOWER_IS_BETTER), label("my_score")
    ('self-BLEU', 'self-BLEU (lower is better)', 'my score')
    """
    text = METRICS[name].label if name in METRICS else name.replace("_", " ")
    return f"{text} (lower is better)" if name in lower_is_better else text
