"""Running a sweep: every setting × item × seed once, appended to the run folder as it finishes.

The runner skips generations the run folder already holds, so a crashed or interrupted run resumes
where it stopped: rerun the same command. Only this process writes (see ``run_folder``); the
generations run here or in worker processes (see ``executors``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..core.trace import Trace
from ..records import GenerationRecord
from ..strategies.spec import StrategySpec
from . import isolation
from ..files import drop_torn_line
from ..progress import LineProgress
from ..children import WorkerFailed
from .executors import results
from .run_folder import (GENERATIONS, SUMMARY, RunError, append_records, check_header, job_key,
                         locked, read_generations, record_key, write_header)
from .spec import Sweep
from .suites import Item, Suite, load_suite

__all__ = ["GENERATIONS", "RunError", "read_generations", "run_sweep", "trace_of"]


def trace_of(record: GenerationRecord) -> Trace:
    """The ``Trace`` of a generation record (``record.trace``)."""
    return record.trace


def _run_header(sweep: Sweep) -> dict:
    from ..llama.model import default_model_path

    return {"model": os.path.abspath(sweep.model) if sweep.model else default_model_path(),
            "scorer": os.path.abspath(sweep.scorer) if sweep.scorer else None,
            "sampler": dict(sweep.sampler), "n_ctx": sweep.n_ctx, "max_tokens": sweep.max_tokens,
            "chat_template": sweep.chat_template, "stop": list(sweep.stop) or None}


def _jobs(sweep: Sweep, suites: list[Suite], done: set) -> tuple[list[tuple[str, Item, StrategySpec, int]], int]:
    """The generations still to make, in a stable order, and how many the sweep has in all."""
    jobs, total = [], 0
    for suite in suites:
        items = sweep.items_of(suite)
        for setting in sweep.settings:
            for item in items:
                for seed in range(sweep.seeds):
                    total += 1
                    if job_key(suite.name, item.id, setting.key, seed) not in done:
                        jobs.append((suite.name, item, setting, seed))
    return jobs, total


def _check_unchanged(suites: list[Suite], done: dict, path: Path) -> None:
    """Refuse to resume on replies to an item that has changed since (same suite and id, another content)."""
    made = {(suite, item): digest for (suite, item, _, _), digest in done.items() if digest is not None}
    for suite in suites:
        for item in suite:
            digest = made.get((suite.name, item.id))
            if digest is not None and digest != item.content_hash:
                raise RunError(f"suite {suite.name}, item {item.id!r} has changed since {path} was written (its "
                               f"prompt, answers, tests, system or max_tokens): give it a new id, or choose another "
                               f"out folder")


def run_sweep(sweep: Sweep, out: str | os.PathLike, *, progress: bool | None = None) -> Path:
    """Run ``sweep`` into the folder ``out`` (created if needed), skipping the generations it
    already holds; returns the folder. ``progress``: a progress bar with an ETA on standard error
    (``None``: a bar on a terminal, else a line every 30 seconds; ``False``: nothing).

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
    if not sweep.unisolated_code and any(item.kind == "code" for suite in suites for item in suite):
        isolation.check()  # generated code runs isolated, or not at all
    with locked(out):
        check_header(out, header)
        path = out / GENERATIONS
        if path.exists():
            drop_torn_line(path)
            done = {record_key(r): r.item_hash for r in read_generations(out)}
        else:
            done = {}
        _check_unchanged(suites, done, path)
        jobs, total = _jobs(sweep, suites, set(done))
        if progress is None and not sys.stderr.isatty():
            bar = LineProgress("eval", total, total - len(jobs))
        else:
            bar = tqdm(total=total, initial=total - len(jobs), unit="gen", disable=progress is False,
                       dynamic_ncols=True)
        try:
            append_records(path, results(sweep, jobs), on_each=bar.update,
                           before_first=lambda: write_header(out, header))
        except WorkerFailed as exc:
            saved = len(read_generations(out))
            raise RunError(f"{exc}; {saved} of {total} generations are saved in {path}: "
                           f"rerun the same command to resume") from None
        finally:
            bar.close()
        from .summary import summarize, write_csv

        write_csv(summarize(read_generations(out)), out / SUMMARY)
    return out
