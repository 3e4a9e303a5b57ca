"""A batch's output file: one ``GenerationRecord`` per line, appended as each finishes, flushed.

One batch writes it at a time (a lock beside it, ``.NAME.lock``, which the kernel drops when the
process ends). A rerun reads what is there: a torn last line is dropped, the ids done are skipped,
and a record made with other settings than this run's for its line is an error (results would
mix). ``--ordered`` rewrites the file whole, in the input's order, when the batch ends.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Iterable, Sequence

from ..files import drop_torn_line, hold_lock, replace_file
from ..records import GenerationRecord
from .lines import BatchError, BatchJob


def read_done(path: Path) -> dict[str, GenerationRecord]:
    """The records already in ``path``, by id; a complete line that is not a record names itself. A
    last line without its newline (torn by a kill) is left out: it is dropped before appending."""
    done: dict[str, GenerationRecord] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break
            try:
                record = GenerationRecord.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise BatchError(f"{path}:{number}: not a generation record ({type(exc).__name__}: {exc}"[:300]
                                 + "); is this the output of a batch? Remove or repair that line, or write to another "
                                   "file") from None
            done[str(record.id)] = record
    return done


def check_done(done: dict[str, GenerationRecord], jobs: Sequence[BatchJob], path: Path) -> None:
    """Refuse records made from another line under the same id (edited since, or another
    ``--chat``, token budget, model or chat template), or with other settings (the seed included)
    than this run gives their lines."""
    for job in jobs:
        record = done.get(job.id)
        if record is None:
            continue
        if record.item_hash != job.made_of:
            raise BatchError(f"{path} holds id {job.id!r} made from another line or other options (the line edited "
                             f"since, or another --chat, --max-tokens, --model or --chat-template); results would "
                             f"mix: write to another output file, or delete that one")
        if record.settings.to_dict() != job.settings.to_dict():
            raise BatchError(f"{path} holds id {job.id!r} made with other settings than this batch gives it (the "
                             f"record's strategy {record.setting!r} and seed {record.seed}; this batch's "
                             f"{job.settings.strategy.key!r} and {job.settings.seed}); results would mix: write to "
                             f"another output file, or delete that one")


class Output:
    """The output file (``-``: standard output, which neither resumes nor locks), open for a batch."""

    def __init__(self, target: str) -> None:
        self.path = None if target == "-" else Path(target)
        self.done: dict[str, GenerationRecord] = {}
        self._lock = None
        self._file = None

    def __enter__(self) -> "Output":
        if self.path is None:
            self._file = sys.stdout
            return self
        self._lock = hold_lock(self.path.with_name(f".{self.path.name}.lock"), f"{self.path} is being written by "
                               f"another batch", "or write to another output file", BatchError)
        try:
            self._lock.__enter__()
        except OSError as exc:  # the lock beside it cannot be made: say so of the output, which the user named
            raise BatchError(f"{self.path}: cannot write there ({(exc.strerror or str(exc)).lower()}): write to "
                             f"another output file") from None
        try:
            if self.path.exists():
                self.done = read_done(self.path)  # first: a file that is not a batch's output stays as it is
                drop_torn_line(self.path)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._file is not None and self._file is not sys.stdout:
                self._file.close()
        finally:
            if self._lock is not None:
                self._lock.__exit__(*exc)

    def write(self, record: GenerationRecord) -> None:
        if self._file is None:  # made with the first record: a batch refused before any work leaves none
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._file.flush()

    def write_all(self, records: Iterable[GenerationRecord]) -> None:
        for record in records:
            self.write(record)

    def reorder(self, jobs: Sequence[BatchJob]) -> None:
        """Rewrite the file whole in the input's order (records of ids not in the input last)."""
        if self._file is None:
            return
        self._file.flush()
        records = read_done(self.path)
        place = {job.id: job.index for job in jobs}
        ordered = sorted(records.values(), key=lambda r: place.get(str(r.id), len(place)))
        replace_file(self.path, "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in ordered))
        self._file.close()
        self._file = open(self.path, "a", encoding="utf-8")

    @property
    def name(self) -> str:
        return "standard output" if self.path is None else os.fspath(self.path)
