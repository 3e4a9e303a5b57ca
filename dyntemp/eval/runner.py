"""Running a sweep: every setting × item × seed once, appended to ``generations.jsonl`` as it finishes.

A run folder holds ``sweep.json`` (the model, scorer, sampler settings and token cap every record
shares), ``generations.jsonl`` (one JSON object per generation, with its scores, metrics and full
trace) and ``summary.csv``. The runner skips generations already in the file, so a crashed or interrupted run
resumes where it stopped: rerun the same command. Only the main process writes, one whole line per
generation, so a kill loses at most the generation in flight; a torn last line is dropped on resume.
With ``workers > 1`` each worker process loads the model (and scorer) once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterator

from ..model import default_model_path, load_model
from ..sampler import Sampler, Trace, TraceRecord
from ..sampler.trace import FIELDS
from . import metrics
from .spec import Setting, Sweep
from .suites import Item, Suite, load_suite

GENERATIONS = "generations.jsonl"
SWEEP = "sweep.json"
SUMMARY = "summary.csv"


class RunError(RuntimeError):
    """A run that cannot go on; what is already written stays, and rerunning resumes."""


def job_key(suite: str, item: str, setting: str, seed: int) -> tuple[str, str, str, int]:
    """The identity of one generation in a run."""
    return (suite, item, setting, seed)


def trace_of(record: dict) -> Trace:
    """The ``Trace`` stored in a generation record."""
    columns = record["trace"]
    return Trace(TraceRecord(*values) for values in zip(*(columns[name] for name in FIELDS)))


def read_generations(run: str | os.PathLike) -> list[dict]:
    """Every complete generation record of a run folder (a torn last line is left out)."""
    path = Path(run) / GENERATIONS
    if not path.is_file():
        raise FileNotFoundError(f"no {GENERATIONS} in {os.fspath(run)}: is it a run folder?")
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                records.append(json.loads(line))
    return records


def _drop_torn_line(path: Path) -> None:
    """Cut a last line left half-written by a killed run, so appends start on a fresh line."""
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)


def _run_header(sweep: Sweep) -> dict:
    return {"model": os.path.abspath(sweep.model) if sweep.model else default_model_path(),
            "scorer": os.path.abspath(sweep.scorer) if sweep.scorer else None,
            "sampler": dict(sweep.sampler), "n_ctx": sweep.n_ctx, "max_tokens": sweep.max_tokens}


def _check_run_folder(out: Path, header: dict) -> None:
    path = out / SWEEP
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            before = json.load(f)
        changed = [k for k in header if before.get(k) != header[k]]
        if changed:
            k = changed[0]
            raise RunError(f"{os.fspath(out)} holds a run with {k}={before.get(k)!r}, not {header[k]!r}; "
                           f"results would mix: choose another out folder")
    else:
        out.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(header, f, indent=2)


def _jobs(sweep: Sweep, suites: list[Suite], done: set) -> tuple[list[tuple[str, Item, Setting, int]], int]:
    """The generations still to make, in a stable order, and how many the sweep has in all."""
    jobs, total = [], 0
    for suite in suites:
        items = list(suite)[:sweep.limit_for(suite.name)]
        for setting in sweep.settings:
            for item in items:
                for seed in range(sweep.seeds):
                    total += 1
                    if job_key(suite.name, item.id, setting.key, seed) not in done:
                        jobs.append((suite.name, item, setting, seed))
    return jobs, total


class _Worker:
    """The model (and scorer) of one process and the function that makes one generation."""

    def __init__(self, sweep: Sweep) -> None:
        from .scorer import Scorer

        self.sampler_kwargs = dict(sweep.sampler)
        self.max_tokens = sweep.max_tokens
        threads = sweep.threads_per_worker()
        self.llm = load_model(sweep.model, n_ctx=sweep.n_ctx, n_threads=threads, n_gpu_layers=sweep.n_gpu_layers)
        self.scorer = (Scorer(sweep.scorer, n_threads=threads, n_gpu_layers=sweep.n_gpu_layers)
                       if sweep.scorer else None)

    def __call__(self, suite: str, item: Item, setting: Setting, seed: int) -> dict:
        sampler = Sampler(setting.make(), seed=seed, **self.sampler_kwargs)
        budget = item.max_tokens if self.max_tokens is None else min(item.max_tokens, self.max_tokens)
        result = sampler.chat(self.llm, item.messages(), max_tokens=budget)
        trace = result.trace
        columns = {name: [getattr(r, name) for r in trace] for name in FIELDS}
        values = {
            **metrics.text_metrics(result.text),
            "length": len(result.tokens),
            "nll": metrics.mean_nll(columns["logprob"]),
            **metrics.temperature_stats(columns["temperature"], columns["entropy"]),
        }
        if self.scorer is not None:
            values["scorer_nll"] = self.scorer.nll(item.prompt, result.text)
        return {"suite": suite, "item": item.id, "setting": setting.key, "strategy": setting.strategy,
                "label": setting.label, "params": dict(setting.params), "seed": seed, "kind": item.kind,
                "text": result.text, "finish_reason": result.finish_reason, "scores": item.score(result.text),
                "metrics": values, "trace": columns}


_worker: _Worker | None = None


def _init_worker(sweep: Sweep) -> None:
    global _worker
    _worker = _Worker(sweep)


def _work(job: tuple) -> dict:
    return _worker(*job)


def _results(sweep: Sweep, jobs: list) -> Iterator[dict]:
    if not jobs:  # a finished run: nothing to load a model for
        return
    if sweep.workers == 1 or len(jobs) == 1:
        worker = _Worker(sweep)
        for job in jobs:
            yield worker(*job)
        return
    # Spawned, not forked: the parent runs threads (the progress bar) that a fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(sweep.workers, len(jobs)), mp_context=context, initializer=_init_worker,
                             initargs=(sweep,)) as pool:
        pending = {pool.submit(_work, job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def run_sweep(sweep: Sweep, out: str | os.PathLike, *, progress: bool | None = None) -> Path:
    """Run ``sweep`` into the folder ``out`` (created if needed), skipping the generations it
    already holds; returns the folder. ``progress``: a progress bar with an ETA on standard error
    (``None``: only when it is a terminal).

    >>> from dyntemp.eval.spec import parse_strategy
    >>> import tempfile
    >>> sweep = Sweep(["qa"], parse_strategy("constant:temperature=0.0"), seeds=1, limit=2)
    >>> run = run_sweep(sweep, tempfile.mkdtemp(), progress=False)
    >>> len(read_generations(run))
    2
    """
    from tqdm import tqdm

    out = Path(out)
    header = _run_header(sweep)
    suites = [load_suite(name) for name in sweep.suites]
    _check_run_folder(out, header)
    path = out / GENERATIONS
    if path.exists():
        _drop_torn_line(path)
        done = {job_key(r["suite"], r["item"], r["setting"], r["seed"]) for r in read_generations(out)}
    else:
        done = set()
    jobs, total = _jobs(sweep, suites, done)
    bar = tqdm(total=total, initial=total - len(jobs), unit="gen", disable=(None if progress is None else not progress),
               dynamic_ncols=True)
    try:
        with open(path, "a", encoding="utf-8") as f:
            for record in _results(sweep, jobs):
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                f.flush()
                bar.update()
    except BrokenProcessPool:
        raise RunError(f"a worker process died; {bar.n} of {total} generations are saved in {path}: "
                       f"rerun the same command to resume") from None
    finally:
        bar.close()
    from .summary import summarize, write_csv

    write_csv(summarize(read_generations(out)), out / SUMMARY)
    return out
