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
    report.add_argument("folder", metavar="RUN", help="a run folder written by dyntemp eval, or a tune's folder "
                                                      "(dyntemp tune): its held-out run")
    report.add_argument("--out", "-o", metavar="FILE.html", required=True, help="the page to write")
    report.add_argument("--quality", metavar="M", help="the quality metric (default: accuracy, pass@1, scorer_nll "
                                                       "or nll)")
    report.add_argument("--diversity", default="distinct_2", metavar="M",
                        help="the diversity metric of the figure and of the equal-diversity tests (default distinct_2)")
    report.set_defaults(run=run)


def _held_out_of_tune(folder: str) -> str:
    """A tune's folder stands for its held-out run (the settings it chose, against the best constant)."""
    from ..eval.tune import HEADER, HELD_OUT

    held = os.path.join(folder, HELD_OUT)
    if not os.path.isfile(os.path.join(folder, HEADER)) or not os.path.isdir(held):
        return folder
    if os.path.isfile(os.path.join(held, "generations.jsonl")):
        return held
    runs = sorted(name for name in os.listdir(held) if os.path.isfile(os.path.join(held, name, "generations.jsonl")))
    raise UsageError(f"{folder} is a tune with filters tuned: its held-out runs are one per filter setting; report "
                     f"one of them: " + ", ".join(os.path.join(held, name) for name in runs))


def run(args, out) -> None:
    from ..eval.html_report import write_report
    from ..eval.run_folder import RunError

    args.folder = _held_out_of_tune(args.folder)
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
