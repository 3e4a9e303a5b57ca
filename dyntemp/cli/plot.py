"""``dyntemp plot``: the figures of a finished (or running) eval run folder."""

from __future__ import annotations

import os

from .common import check_output_folder
from .errors import UsageError, checked


def add_parser(commands) -> None:
    plot = commands.add_parser("plot", help="draw the figures of a run folder",
                               description="Draw a run's figures: quality against temperature and against "
                                           "diversity per suite, and one example generation.")
    plot.add_argument("folder", metavar="RUN", help="a run folder written by dyntemp eval")
    plot.add_argument("--out", "-o", metavar="FOLDER", help="where to write the figures (default: RUN/plots)")
    plot.add_argument("--suite", action="append", help="only this suite; repeatable")
    plot.add_argument("--quality", help="the quality metric (default: accuracy, pass@1, scorer_nll or nll)")
    plot.add_argument("--diversity", default="distinct_2", help="the diversity metric (default distinct_2)")
    plot.add_argument("--example", metavar="SETTING", help="the setting whose first generation is shown")
    plot.set_defaults(run=run)


def run(args, out) -> None:
    from ..eval.report import plot_run
    from ..eval.run_folder import GENERATIONS

    if not os.path.isfile(os.path.join(args.folder, GENERATIONS)):
        raise UsageError(f"RUN: no {GENERATIONS} in {args.folder}: is it a run folder written by dyntemp eval?")
    check_output_folder("--out" if args.out else "RUN/plots", args.out or os.path.join(args.folder, "plots"))
    # plot_run checks the metric, suite and example names it is given: those errors are the command line's.
    with checked():
        paths = plot_run(args.folder, args.out, suites=args.suite, quality=args.quality, diversity=args.diversity,
                         example=args.example)
    for path in paths:
        print(path, file=out)
