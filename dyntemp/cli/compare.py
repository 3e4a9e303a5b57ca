"""``dyntemp compare``: paired comparisons of a run's settings (``dyntemp.eval.compare``)."""

from __future__ import annotations

import json
import math

from .common import check_run_folder
from .errors import UsageError, checked

FORMATS = ("table", "csv", "json")
_COLUMNS = ("suite", "setting", "mode", "baseline", "metric", "items", "difference", "low", "high", "detectable",
            "test", "p", "p_holm", "verdict")


def add_parser(commands) -> None:
    compare = commands.add_parser(
        "compare", help="paired tests of a run's settings against their baselines",
        description="Compare each setting of an eval run with its baseline, item by item: the mean paired "
                    "difference of each metric with its bootstrap interval (resampling items), an exact "
                    "McNemar test for pass/fail metrics against one setting or Wilcoxon's signed-rank test, "
                    "p-values corrected for every comparison (Holm), the smallest difference the run could "
                    "have detected, and a verdict. By default each adaptive setting is compared with the "
                    "constant temperature nearest its mean temperature, and with the constant settings' "
                    "curve at equal mean temperature and at equal diversity.")
    compare.add_argument("folder", metavar="RUN", help="a run folder written by dyntemp eval")
    compare.add_argument("--baseline", metavar="SETTING",
                         help="compare every other setting with this one (e.g. constant:temperature=0.7)")
    compare.add_argument("--metric", action="append", metavar="M",
                         help="a metric to compare; repeatable (default: accuracy, pass@1, scorer_nll, distinct_2 "
                              "and loop_rate, those the run has)")
    compare.add_argument("--diversity", default="distinct_2", metavar="M",
                         help="the diversity matched at equal diversity (default distinct_2)")
    compare.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")
    compare.set_defaults(run=run)


def run(args, out) -> None:
    from ..eval.compare import compare, format_rows
    from ..eval.run_folder import RunError, read_generations

    try:
        records = read_generations(check_run_folder(args.folder))
    except RunError as exc:
        raise UsageError(str(exc)) from None
    with checked():
        rows = compare(records, baseline=args.baseline, metrics=args.metric, diversity=args.diversity)
    if args.format == "table":
        print(format_rows(rows), file=out)
        return
    plain = [{key: None if isinstance(row[key], float) and math.isnan(row[key]) else row[key] for key in _COLUMNS}
             for row in rows]
    if args.format == "json":
        print(json.dumps(plain, indent=1), file=out)
        return
    import csv

    writer = csv.DictWriter(out, fieldnames=_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(plain)
