"""A run folder on disk: its header, its generations, and the rules that keep them from mixing.

A run folder holds ``sweep.json`` (the model, scorer, sampler settings and token cap every record
shares), ``generations.jsonl`` (one ``GenerationRecord`` per line, with its scores, metrics and full
trace) and ``summary.csv``. One run at a time writes it (``run.lock``, a lock the kernel drops when
the process ends); it appends a whole line per generation, so a kill loses at most the generation
in flight, and a torn last line is dropped before appending again. ``sweep.json`` is written with
the first generation, so a run that cannot start (a wrong model) leaves nothing that refuses the
corrected command; it and ``summary.csv`` are replaced whole, never left half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from ..files import hold_lock, replace_file
from ..records import GenerationRecord

GENERATIONS = "generations.jsonl"
SWEEP = "sweep.json"
SUMMARY = "summary.csv"
LOCK = "run.lock"


class RunError(RuntimeError):
    """A run that cannot go on; what is already written stays, and rerunning resumes."""


def job_key(suite: str, item: str, setting: str, seed: int) -> tuple[str, str, str, int]:
    """The identity of one generation in a run."""
    return (suite, item, setting, seed)


def record_key(record: GenerationRecord) -> tuple[str, str, str, int]:
    """``job_key`` of a record."""
    return job_key(record.suite, record.item, record.setting, record.seed)


def read_header(run: str | os.PathLike) -> dict:
    """The run's ``sweep.json`` (empty when it has none)."""
    path = Path(run) / SWEEP
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_generations(run: str | os.PathLike) -> list[GenerationRecord]:
    """Every complete generation record of a run folder (a torn last line is left out).

    Records of run folders written before records had a schema are read with the run's sampler
    settings from ``sweep.json``. A line that is not a record raises ``RunError`` naming
    ``generations.jsonl:LINE``.
    """
    path = Path(run) / GENERATIONS
    if not path.is_file():
        raise FileNotFoundError(f"no {GENERATIONS} in {os.fspath(run)}: is it a run folder?")
    sampler = read_header(run).get("sampler", {})
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith("\n"):
                continue  # the torn last line of a killed run: the run resumes from before it
            try:
                records.append(GenerationRecord.from_dict(json.loads(line), sampler=sampler))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise RunError(f"{path}:{number}: not a generation record ({type(exc).__name__}: {exc}"[:300]
                               + "); remove or repair that line, then rerun: the run redoes what is missing") from None
    return records


def check_header(out: Path, header: dict) -> None:
    """Refuse a run folder whose run differs from ``header`` (see ``write_header``)."""
    path = out / SWEEP
    if path.is_file():
        before = read_header(out)
        changed = [k for k in header if before.get(k) != header[k]]
        if changed:
            k = changed[0]
            raise RunError(f"{os.fspath(out)} holds a run with {k}={before.get(k)!r}, not {header[k]!r}; "
                           f"results would mix: choose another out folder")


def write_header(out: Path, header: dict) -> None:
    """``sweep.json``, written whole (a temporary file renamed over it), if it is not there yet."""
    if not (out / SWEEP).is_file():
        replace_file(out / SWEEP, json.dumps(header, indent=2))


def locked(out: Path):
    """Hold the run folder's lock: a second run into the same folder is refused while this one lives."""
    out.mkdir(parents=True, exist_ok=True)
    return hold_lock(out / LOCK, f"{os.fspath(out)} is being written by another run", "or choose another out folder",
                     RunError)


def append_records(path: Path, records: Iterable[GenerationRecord], on_each=None, before_first=None) -> None:
    """Append each record as one JSON line as soon as it comes, flushed (``on_each()`` after each;
    ``before_first()`` once, before the first line)."""
    with open(path, "a", encoding="utf-8") as f:
        for record in records:
            if before_first is not None:
                before_first()
                before_first = None
            f.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            f.flush()
            if on_each is not None:
                on_each()
