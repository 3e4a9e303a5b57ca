"""The trace: one ``TraceRecord`` per sampled token, as JSON lines (a trace file), columns (inside a
generation record) or numpy arrays (for plots)."""

from __future__ import annotations

import json
import os
from typing import IO, Iterable, Iterator, NamedTuple

import numpy as np


class TraceRecord(NamedTuple):
    """What happened at one sampled token.

    ``entropy`` is of the full distribution; ``candidate_entropy`` and ``n_candidates`` describe the
    candidates that reached the temperature stage; ``probability`` is the chosen token's probability
    in the distribution it was drawn from; ``rule`` is the label a strategy set, if any; ``logprob`` is
    the chosen token's log probability under the model itself (``log softmax(logits)``: temperature 1,
    before penalties and filters; ``None`` in records made by hand), so ``-mean(logprob)`` is the
    text's NLL under the generating model.

    >>> TraceRecord(0, 42, "Hi", 0.7, 2.1, 1.3, 12, 0.25, 0, 0, None).temperature
    0.7
    """

    index: int
    token: int
    piece: str
    temperature: float
    entropy: float
    candidate_entropy: float
    n_candidates: int
    probability: float
    sentence_index: int
    sentence_position: int
    rule: str | None
    logprob: float | None = None

    def to_dict(self) -> dict:
        """The record as a plain dict (JSON-ready)."""
        return self._asdict()


FIELDS = TraceRecord._fields


class Trace:
    """The records of one generation, in order.

    >>> trace = Trace([TraceRecord(0, 42, "Hi", 0.7, 2.1, 1.3, 12, 0.25, 0, 0, None)])
    >>> trace.columns()["temperature"]
    array([0.7])
    >>> Trace.from_json_lines(trace.to_json_lines()) == Trace.from_columns(trace.to_columns()) == trace
    True
    """

    __slots__ = ("_records",)

    def __init__(self, records: Iterable[TraceRecord] = ()) -> None:
        self._records = list(records)

    def append(self, record: TraceRecord) -> None:
        """Add the record of the next token."""
        self._records.append(record)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self._records)

    def __getitem__(self, i):
        return self._records[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trace) and self._records == other._records

    def __repr__(self) -> str:
        return f"Trace({len(self._records)} records)"

    @property
    def text(self) -> str:
        """The generated text, joined from the records' pieces."""
        return "".join(r.piece for r in self._records)

    def columns(self) -> dict[str, np.ndarray]:
        """Each field as a numpy array (``rule`` and ``piece`` as object arrays)."""
        return {name: np.array(values, dtype=object if name in ("piece", "rule") else None)
                for name, values in self.to_columns().items()}

    def to_columns(self) -> dict[str, list]:
        """Each field as a list: the compact JSON form a generation record stores."""
        return {name: [getattr(r, name) for r in self._records] for name in FIELDS}

    @classmethod
    def from_columns(cls, columns: dict[str, list]) -> "Trace":
        """Read ``to_columns``' form; a field it lacks (written by an older version) takes its default."""
        n = len(columns["token"])
        values = [columns.get(name, [TraceRecord._field_defaults.get(name)] * n) for name in FIELDS]
        return cls(TraceRecord(*row) for row in zip(*values))

    def to_json_lines(self) -> str:
        """The records as JSON lines, one object per token."""
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in self._records)

    def to_jsonl(self, file: str | os.PathLike | IO[str]) -> None:
        """Write the records as JSON lines to a path or an open text file."""
        if hasattr(file, "write"):
            file.write(self.to_json_lines())
        else:
            with open(file, "w", encoding="utf-8") as f:
                f.write(self.to_json_lines())

    @classmethod
    def from_json_lines(cls, text: str) -> "Trace":
        """Read records written by ``to_json_lines``."""
        return cls(TraceRecord(**json.loads(line)) for line in text.splitlines() if line.strip())

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike) -> "Trace":
        """Read a trace file written by ``to_jsonl``."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json_lines(f.read())
