"""``dyntemp tune``: each strategy tuned on the same budget, judged on held-out items
(``dyntemp.eval.tune`` and ``dyntemp.eval.tune_results``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .common import (add_host_flags, add_import_flag, add_sampler_flags, check_host_flags, check_model,
                     check_output_folder, modules_to_import, sampler_kwargs)
from .errors import UsageError, WorkError, checked
from .prompt_format import add_prompt_format_flags, prompt_format


def add_parser(commands) -> None:
    tune = commands.add_parser(
        "tune", help="tune strategies on the same budget and judge them on held-out items",
        description="Give each strategy (and a constant temperature, always) the same number of trials over its "
                    "search space (see: dyntemp strategies NAME), searched with Optuna: TPE for one objective, "
                    "NSGA-II for two (a Pareto front). Trials score on a tuning part of the suite's items; the "
                    "best setting of each strategy is then run on the held-out part and compared, paired by item, "
                    "with the best constant. Rerun the same command to resume; more --trials extends a tune.")
    tune.add_argument("--suite", required=True, metavar="NAME|FILE.jsonl", help="the suite to tune on (qa, "
                      "humaneval, ... or a JSONL file)")
    tune.add_argument("--strategy", "-s", action="append", required=True, metavar="NAME",
                      help="a strategy to tune; repeatable (constant is always tuned too)")
    tune.add_argument("--trials", type=int, required=True, metavar="N", help="trials per strategy")
    tune.add_argument("--objective", required=True, metavar="METRIC[,METRIC2]",
                      help="the metric to optimise (e.g. pass@1, accuracy, scorer_nll), or quality and diversity "
                           "(e.g. scorer_nll,distinct_2) for a Pareto front")
    tune.add_argument("--out", "-o", required=True, metavar="DIR", help="the tune's folder")
    tune.add_argument("--tune-filters", action="store_true", help="search top-k, top-p and min-p too")
    tune.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per item (default 1)")
    tune.add_argument("--limit", type=int, metavar="N", help="only the first N items of the suite")
    tune.add_argument("--held-out", type=float, default=0.3, metavar="F",
                      help="the share of items held out from tuning (default 0.3)")
    tune.add_argument("--split-seed", type=int, default=0, metavar="N", help="seed of the split (default 0)")
    tune.add_argument("--search-seed", type=int, default=0, metavar="N", help="seed of the search (default 0)")
    tune.add_argument("--max-tokens", "-n", type=int, metavar="N", help="cap on each item's token budget")
    tune.add_argument("--workers", "-j", type=int, default=1, metavar="N", help="worker processes (default 1)")
    tune.add_argument("--batch-size", type=int, default=1, metavar="N",
                      help="sequences each worker decodes together (default 1)")
    tune.add_argument("--backend", choices=("local", "ray"), default="local",
                      help="run the workers as local processes or Ray actors (default local)")
    tune.add_argument("--model", "-m", metavar="GGUF|NAME", help="a GGUF file or a model's name (smollm2-135m, "
                                                                 "the default, or gemma3-270m)")
    tune.add_argument("--scorer", metavar="GGUF|NAME", help="an independent model that scores each reply's NLL")
    add_prompt_format_flags(tune)
    tune.add_argument("--ctx-size", "-c", type=int, default=2048, metavar="N", help="context size (default 2048)")
    tune.add_argument("--no-progress", action="store_true", help="no line per trial")
    add_host_flags(tune)
    add_sampler_flags(tune)
    add_import_flag(tune)
    tune.set_defaults(run=run)


def run(args, out) -> None:
    from ..eval.run_folder import RunError
    from ..eval.suites import load_suite
    from ..eval.tune import Tune, Tuner, TuneError
    from ..eval.tune_results import format_results, held_out

    check_host_flags(args)
    model, scorer = check_model("--model", args.model), check_model("--scorer", args.scorer)
    if args.backend == "ray" and importlib.util.find_spec("ray") is None:
        raise UsageError("--backend ray needs Ray: pip install 'dyntemp[ray]'")
    with checked():
        load_suite(args.suite)  # a bad suite stops here, before a model loads
        tune = Tune(args.suite, args.strategy, trials=args.trials,
                    objectives=[m.strip() for m in args.objective.split(",") if m.strip()], seeds=args.seeds,
                    limit=args.limit, held_out=args.held_out, split_seed=args.split_seed,
                    search_seed=args.search_seed, sampler=sampler_kwargs(args), tune_filters=args.tune_filters,
                    model=model, scorer=scorer, max_tokens=args.max_tokens, n_ctx=args.ctx_size,
                    workers=args.workers, batch_size=args.batch_size, backend=args.backend,
                    n_threads=args.threads, imports=[module for module, _ in modules_to_import(args)],
                    **{k: v for k, v in prompt_format(args).items() if v is not None})
    folder = check_output_folder("--out", args.out)
    try:
        studies = Tuner(tune, folder, progress=not args.no_progress).run()
        results = held_out(tune, Path(folder), studies)
    except TuneError as exc:
        raise UsageError(str(exc)) from None
    except RunError as exc:  # what the trials wrote stays: the same command resumes
        raise WorkError(f"{exc} (rerun the same command to resume the tune)") from None
    print(format_results(results), file=out)
    print(f"\nverdicts: {folder}/verdicts.txt\npresets: {folder}/best.toml and {folder}/best-NAME.toml "
          f"(dyntemp generate --preset FILE)\nheld-out run: {folder}/held-out (dyntemp report, dyntemp compare)",
          file=out)
