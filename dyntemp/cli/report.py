"""``dyntemp report``: one self-contained HTML page of an eval run (``dyntemp.eval.html_report``)."""

from __future__ import annotations

import os

from .common import check_run_folder
from .errors import UsageError, WorkError, checked, describe_oserror


def add_parser(commands) -> None:
    report = commands.add_parser(
        "report", help="one self-contained HTML page of an eval run",
        description="Write one HTML file of an eval run, readable offline: the model and settings, per suite "
                    "the summary table, quality against temperature and against diversity, the paired "
                    "comparisons of dyntemp compare, and one generation per setting coloured by temperature "
                    "(each token's values on hover).")
    report.add_argument("folder", metavar="RUN", help="a run folder written by dyntemp eval")
    report.add_argument("--out", "-o", metavar="FILE.html", required=True, help="the page to write")
    report.add_argument("--quality", metavar="M", help="the quality metric (default: accuracy, pass@1, scorer_nll "
                                                       "or nll)")
    report.add_argument("--diversity", default="distinct_2", metavar="M",
                        help="the diversity metric of the figure and of the equal-diversity tests (default distinct_2)")
    report.set_defaults(run=run)


def run(args, out) -> None:
    from ..eval.html_report import write_report
    from ..eval.run_folder import RunError

    check_run_folder(args.folder)
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise UsageError(f"--out {args.out}: no such folder: {folder}")
    try:
        with checked():
            path = write_report(args.folder, args.out, quality=args.quality, diversity=args.diversity)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise WorkError(describe_oserror(exc, "--out", args.out)) from None
    print(path, file=out)
