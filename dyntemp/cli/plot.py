"""``dyntemp plot``: the figures of a finished (or running) eval run folder, or of one trace file."""

from __future__ import annotations

import os

from .common import check_output_folder, check_run_folder
from .errors import UsageError, checked


def add_parser(commands) -> None:
    plot = commands.add_parser("plot", help="draw the figures of a run folder or a trace file",
                               description="Draw a run's figures: quality against temperature and against "
                                           "diversity per suite, and one example generation; or, for a trace "
                                           "file of dyntemp generate --trace, its temperature schedule and text.")
    plot.add_argument("folder", metavar="RUN|TRACE.jsonl",
                      help="a run folder written by dyntemp eval, or a trace file written by dyntemp generate --trace")
    plot.add_argument("--out", "-o", metavar="FOLDER",
                      help="where to write the figures (default: RUN/plots, or the trace file's folder)")
    plot.add_argument("--suite", action="append", help="only this suite; repeatable")
    plot.add_argument("--quality", help="the quality metric (default: accuracy, pass@1, scorer_nll or nll)")
    plot.add_argument("--diversity", default="distinct_2", help="the diversity metric (default distinct_2)")
    plot.add_argument("--example", metavar="SETTING", help="the setting whose first generation is shown")
    plot.set_defaults(run=run)


def run(args, out) -> None:
    from ..eval.report import plot_run, plot_trace

    if os.path.isfile(args.folder):
        given = [flag for flag, value in (("--suite", args.suite), ("--quality", args.quality),
                                          ("--example", args.example)) if value]
        if given or args.diversity != "distinct_2":
            raise UsageError(f"{', '.join(given) or '--diversity'}: a trace file has one generation, no suites or metrics")
        folder = args.out or os.path.dirname(os.path.abspath(args.folder))
        check_output_folder("--out" if args.out else "the trace file's folder", folder)
        with checked():
            paths = plot_trace(args.folder, folder)
        for path in paths:
            print(path, file=out)
        return
    check_run_folder(args.folder)
    check_output_folder("--out" if args.out else "RUN/plots", args.out or os.path.join(args.folder, "plots"))
    # plot_run checks the metric, suite and example names it is given: those errors are the command line's.
    with checked():
        paths = plot_run(args.folder, args.out, suites=args.suite, quality=args.quality, diversity=args.diversity,
                         example=args.example)
    for path in paths:
        print(path, file=out)
