"""``dyntemp plot``: the figures of a finished (or running) eval run folder."""

from __future__ import annotations


def add_parser(commands) -> None:
    plot = commands.add_parser("plot", help="draw the figures of a run folder",
                               description="Draw a run's figures: quality against temperature and against "
                                           "diversity per suite, and one example generation.")
    plot.add_argument("folder", metavar="RUN", help="a run folder written by dyntemp eval")
    plot.add_argument("--out", "-o", help="where to write the figures (default: RUN/plots)")
    plot.add_argument("--suite", action="append", help="only this suite; repeatable")
    plot.add_argument("--quality", help="the quality metric (default: accuracy, pass@1, scorer_nll or nll)")
    plot.add_argument("--diversity", default="distinct_2", help="the diversity metric (default distinct_2)")
    plot.add_argument("--example", metavar="SETTING", help="the setting whose first generation is shown")
    plot.set_defaults(run=run)


def run(args, out) -> None:
    from ..eval.report import plot_run

    for path in plot_run(args.folder, args.out, suites=args.suite, quality=args.quality, diversity=args.diversity,
                         example=args.example):
        print(path, file=out)
