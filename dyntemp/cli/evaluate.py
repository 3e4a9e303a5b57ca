"""``dyntemp eval``: a sweep of strategy settings over prompt suites, resumable, with a summary."""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

from .common import (add_host_flags, add_import_flag, add_sampler_flags, check_host_flags, check_input_file,
                     check_model, check_output_folder, modules_to_import, sampler_kwargs)
from .errors import UsageError, WorkError, checked
from .prompt_format import add_prompt_format_flags, prompt_format


def add_parser(commands) -> None:
    ev = commands.add_parser(
        "eval", help="run strategy settings over prompt suites and summarise quality and diversity",
        description="Run every strategy setting on every prompt of the suites with every seed. Results are "
                    "appended per generation to OUT/generations.jsonl; rerun the same command to resume.")
    ev.add_argument("--config", metavar="FILE.toml", help="a sweep file; flags given here override its values")
    ev.add_argument("--suite", action="append", metavar="NAME|FILE.jsonl",
                    help="a built-in suite (qa, creative, code) or a JSONL file; repeatable (default: qa)")
    ev.add_argument("--strategy", "-s", action="append", metavar="NAME[:KEY=V1,V2...]",
                    help="a strategy and its grid, e.g. constant:temperature=0.3,0.7 or edt:theta=0.3,0.6:t0=1; "
                         "a list value in brackets, e.g. sentence:temperatures=[0.2,0.9]; repeatable")
    ev.add_argument("--seeds", type=int, metavar="N", help="seeds per prompt, 0..N-1 (default 3)")
    ev.add_argument("--limit", type=int, metavar="N", help="only the first N prompts of each suite")
    ev.add_argument("--max-tokens", "-n", type=int, metavar="N",
                    help="cap on each prompt's token budget (a quick look)")
    ev.add_argument("--out", "-o", metavar="FOLDER", help="the run folder (required unless the sweep file names one)")
    ev.add_argument("--workers", "-j", type=int, metavar="N",
                    help="worker processes, each loading the model once (default 1)")
    ev.add_argument("--batch-size", type=int, metavar="N",
                    help="sequences each worker decodes together, one llama.cpp batch per token: the same records, "
                         "more tokens/s (default 1)")
    ev.add_argument("--backend", choices=("local", "ray"), default=None,
                    help="run the workers as local processes or Ray actors (pip install 'dyntemp[ray]') "
                         "(default local)")
    ev.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (auto, or HOST:PORT); default: a "
                                                          "local Ray")
    ev.add_argument("--model", "-m", metavar="GGUF|NAME", help="a GGUF file or a model's name: smollm2-135m (the "
                    "default: SmolLM2-135M-Instruct) or gemma3-270m")
    ev.add_argument("--scorer", metavar="GGUF|NAME", help="an independent model that scores each reply's NLL")
    add_prompt_format_flags(ev)
    ev.add_argument("--ctx-size", "-c", type=int, metavar="N", help="context size of the model (default 2048)")
    add_host_flags(ev)
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.add_argument("--unisolated-code", action="store_true",
                    help="run the code suite's generated code without bubblewrap's isolation (where it cannot run): "
                         "the code can then touch this machine")
    add_sampler_flags(ev)
    add_import_flag(ev)
    ev.set_defaults(run=run)


def run(args, out) -> None:
    from ..eval.isolation import IsolationUnavailable
    from ..eval.runner import RunError, run_sweep
    from ..eval.spec import Sweep, load_sweep, parse_strategy, sweep_out
    from ..eval.suites import load_suite
    from ..eval.summary import format_table, read_csv
    from ..threads import physical_cores

    check_host_flags(args)
    if args.config is not None and not os.path.exists(args.config):
        raise UsageError(f"--config: sweep file not found: {args.config}")
    if args.config is not None:
        check_input_file("--config", args.config)
    args.model, args.scorer = check_model("--model", args.model), check_model("--scorer", args.scorer)
    imports = [module for module, _ in modules_to_import(args)]  # main imported them; workers must too
    with checked():
        settings = [s for spec in args.strategy or () for s in parse_strategy(spec)] or None
        overrides = {"suites": args.suite, "settings": settings, "seeds": args.seeds, "limit": args.limit,
                     "max_tokens": args.max_tokens, "workers": args.workers, "model": args.model,
                     "scorer": args.scorer, "n_ctx": args.ctx_size, "n_threads": args.threads,
                     "n_gpu_layers": args.n_gpu_layers or None, "sampler": sampler_kwargs(args) or None,
                     "unisolated_code": args.unisolated_code or None, "backend": args.backend,
                     "ray_address": args.ray_address, "batch_size": args.batch_size,
                     **prompt_format(args)}
        if args.config:
            sweep = load_sweep(args.config, **overrides)
            folder = args.out or sweep_out(args.config)
        else:
            if settings is None:
                raise UsageError("give at least one --strategy (or a --config sweep file)")
            sweep = Sweep(**{"suites": ["qa"], **{k: v for k, v in overrides.items() if v is not None}})
            folder = args.out
        sweep.imports = list(dict.fromkeys([*sweep.imports, *imports]))
        for suite in sweep.suites:  # a bad suite line stops the run before a model loads
            load_suite(suite)
    if not folder:
        raise UsageError("give --out FOLDER for the run's results")
    if sweep.ray_address is not None and sweep.backend != "ray":
        raise UsageError("--ray-address applies to --backend ray")
    if sweep.backend == "ray" and importlib.util.find_spec("ray") is None:  # not imported: see ray_actors.start_ray
        raise UsageError("--backend ray needs Ray: pip install 'dyntemp[ray]'")
    check_output_folder("--out" if args.out else f"out (in {args.config})", folder)
    each, cores = sweep.threads_per_worker(), physical_cores()
    if sweep.workers * each > cores:
        warnings.warn(f"{sweep.workers} workers x {each} thread(s) = {sweep.workers * each} threads on "
                      f"{cores} physical cores: they will slow each other down")
    counts = sweep.strategy_counts()
    if len(set(counts.values())) > 1:
        print("note: strategies have different numbers of settings ("
              + ", ".join(f"{k} {v}" for k, v in counts.items()) + "); equal grids compare fairly", file=sys.stderr)
    try:
        run_folder = run_sweep(sweep, folder, progress=False if args.no_progress else None)
    except IsolationUnavailable as exc:  # found before any generation: nothing to resume
        raise UsageError(str(exc)) from None
    except RunError as exc:  # the run broke off: what it wrote stays, and the same command resumes it
        raise WorkError(str(exc)) from None
    rows = read_csv(run_folder / "summary.csv")
    # This command's settings first; what earlier commands left in the folder after, labelled.
    names = {load_suite(suite).name for suite in sweep.suites}
    keys = {setting.key for setting in sweep.settings}
    mine = [r for r in rows if r["suite"] in names and r["setting"] in keys]
    others = [r for r in rows if r not in mine]
    print(format_table(mine), file=out)
    if others:
        print(f"\nalso in {folder}, from earlier commands:\n\n{format_table(others)}", file=out)
    print(f"\nresults: {run_folder / 'generations.jsonl'}\nsummary: {run_folder / 'summary.csv'}", file=out)
