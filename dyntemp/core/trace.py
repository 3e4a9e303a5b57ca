"""The trace: one ``TraceRecord`` per sampled token, as JSON lines (a trace file), columns (inside a
generation record) or numpy arrays (for plots).

A trace file may start with a header line, ``{"header": {...}}``, saying how the run was made (the
command line writes the model, the settings, the seed and the prompt there); the readers take files
with and without one.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any, Iterable, Iterator, Mapping, NamedTuple

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
#: The key of a trace file's first line, ``{"header": {...}}``: how the run was made (see ``Trace.to_json_lines``).
HEADER = "header"


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

    def pop(self) -> TraceRecord:
        """Remove and return the last record."""
        return self._records.pop()

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

    def to_json_lines(self, header: Mapping[str, Any] | None = None) -> str:
        """The records as JSON lines, one object per token, after a first line ``{"header": {...}}``
        when ``header`` is given: what the records alone do not say (the model, the settings, the
        seed, the prompt), so that the file is enough to reproduce the run.

        >>> trace = Trace([TraceRecord(0, 42, "Hi", 0.7, 2.1, 1.3, 12, 0.25, 0, 0, None)])
        >>> text = trace.to_json_lines(header={"seed": 7})
        >>> text.splitlines()[0]
        '{"header": {"seed": 7}}'
        >>> Trace.from_json_lines(text) == trace, Trace.from_json_lines(text, with_header=True)
        (True, ({'seed': 7}, Trace(1 records)))
        """
        lines = [] if header is None else [json.dumps({HEADER: dict(header)}, ensure_ascii=False) + "\n"]
        return "".join(lines + [json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in self._records])

    def to_jsonl(self, file: str | os.PathLike | IO[str], *, header: Mapping[str, Any] | None = None) -> None:
        """Write the records as JSON lines (after ``header``, see ``to_json_lines``) to a path or an
        open text file."""
        if hasattr(file, "write"):
            file.write(self.to_json_lines(header))
        else:
            with open(file, "w", encoding="utf-8") as f:
                f.write(self.to_json_lines(header))

    @classmethod
    def from_json_lines(cls, text: str, *, with_header: bool = False) -> "Trace | tuple[dict | None, Trace]":
        """Read records written by ``to_json_lines``, with or without a header line (files written
        before traces had headers have none). ``with_header=True`` returns ``(header, trace)``, the
        header ``None`` when there is none.

        >>> Trace.from_json_lines("", with_header=True)
        (None, Trace(0 records))
        """
        header, records = None, []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            data = json.loads(line)
            if _is_header(data):
                if header is not None or records:
                    raise ValueError(f"line {number}: a trace header after the first line: this text holds "
                                     f"several traces, each starting at its header")
                header = data[HEADER]
            else:
                records.append(TraceRecord(**data))
        trace = cls(records)
        return (header, trace) if with_header else trace

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike, *, with_header: bool = False) -> "Trace | tuple[dict | None, Trace]":
        """Read a trace file written by ``to_jsonl`` (``with_header``: see ``from_json_lines``)."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json_lines(f.read(), with_header=with_header)

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict | None:
        """The header of a trace file, reading its first line only; ``None`` when it has none.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
        >>> Trace().to_jsonl(path, header={"model": "m.gguf"})
        >>> Trace.read_header(path)
        {'model': 'm.gguf'}
        """
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    data = json.loads(line)
                    return data[HEADER] if _is_header(data) else None
        return None


def _is_header(data: object) -> bool:
    """True for a header line's object: ``{"header": {...}}`` and nothing else (no record has that key)."""
    return isinstance(data, dict) and len(data) == 1 and isinstance(data.get(HEADER), dict)
