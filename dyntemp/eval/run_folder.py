"""A run folder on disk: its header, its generations, and the rules that keep them from mixing.

A run folder holds ``sweep.json`` (the model, scorer, sampler settings and token cap every record
shares), ``generations.jsonl`` (one ``GenerationRecord`` per line, with its scores, metrics and full
trace) and ``summary.csv``. Only one process appends, a whole line per generation, so a kill loses
at most the generation in flight; a torn last line is dropped before appending again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from ..records import GenerationRecord

GENERATIONS = "generations.jsonl"
SWEEP = "sweep.json"
SUMMARY = "summary.csv"


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
    settings from ``sweep.json``.
    """
    path = Path(run) / GENERATIONS
    if not path.is_file():
        raise FileNotFoundError(f"no {GENERATIONS} in {os.fspath(run)}: is it a run folder?")
    sampler = read_header(run).get("sampler", {})
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                records.append(GenerationRecord.from_dict(json.loads(line), sampler=sampler))
    return records


def drop_torn_line(path: Path) -> None:
    """Cut a last line left half-written by a killed run, so appends start on a fresh line."""
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)


def check_header(out: Path, header: dict) -> None:
    """Write ``header`` into a new run folder, or refuse a folder whose run differs from it."""
    path = out / SWEEP
    if path.is_file():
        before = read_header(out)
        changed = [k for k in header if before.get(k) != header[k]]
        if changed:
            k = changed[0]
            raise RunError(f"{os.fspath(out)} holds a run with {k}={before.get(k)!r}, not {header[k]!r}; "
                           f"results would mix: choose another out folder")
    else:
        out.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(header, f, indent=2)


def append_records(path: Path, records: Iterable[GenerationRecord], on_each=None) -> None:
    """Append each record as one JSON line as soon as it comes, flushed (``on_each()`` after each)."""
    with open(path, "a", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            f.flush()
            if on_each is not None:
                on_each()
