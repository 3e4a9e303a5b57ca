"""Where ``generate`` writes: the text as it comes, ``--show``'s coloured text and sentence table,
``--json`` objects and ``--trace`` files (opened before the model loads, so a bad path fails first)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import IO, Any

from ..colour import ansi
from ..core.trace import Trace, TraceRecord
from .errors import UsageError, WorkError, describe_oserror

COLOUR_MODES = {"auto": "auto", "always": "always", "never": "never", "on": "always", "off": "never"}


@dataclass
class Sample:
    """One generation as the command reports it (``finish_reason`` ``"interrupted"`` after Ctrl-C)."""

    text: str
    finish_reason: str
    seed: int
    prompt_tokens: int
    trace: Trace
    seconds: float
    settings: dict = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float | None:
        """Generated tokens per second, the prompt's evaluation included."""
        return round(len(self.trace) / self.seconds, 2) if self.seconds > 0 else None

    def to_json(self) -> str:
        """``--json``'s object for this sample, on one line.

        >>> data = json.loads(Sample("Hi", "stop", 7, 5, Trace(), 0.5, {"top_k": 40}).to_json())
        >>> data["text"], data["seed"], data["completion_tokens"], data["settings"]
        ('Hi', 7, 0, {'top_k': 40})
        """
        return json.dumps({"text": self.text, "finish_reason": self.finish_reason, "seed": self.seed,
                           "prompt_tokens": self.prompt_tokens, "completion_tokens": len(self.trace),
                           "tokens_per_second": self.tokens_per_second, "settings": self.settings},
                          ensure_ascii=False)


def colour_mode(text: str) -> str:
    """``--color``'s value: ``auto``, ``always`` or ``never`` (llama.cpp's ``on``/``off`` too)."""
    import argparse

    try:
        return COLOUR_MODES[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected auto, always or never, got {text!r}") from None


def use_colour(mode: str, stream: IO[str]) -> bool:
    """Whether to colour: ``always``, ``never``, or for ``auto`` when ``stream`` is a terminal and
    neither ``NO_COLOR`` (https://no-color.org) nor ``TERM=dumb`` says otherwise.

    >>> import io
    >>> use_colour("always", io.StringIO()), use_colour("auto", io.StringIO())
    (True, False)
    """
    if mode != "auto":
        return mode == "always"
    isatty = getattr(stream, "isatty", None)
    return (bool(isatty and isatty()) and not os.environ.get("NO_COLOR")
            and os.environ.get("TERM", "") != "dumb")


class TextStream:
    """Text for a person, written and flushed piece by piece; a failed write is a ``WorkError``
    naming where (a closed pipe is left to the caller, which ends quietly)."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.stream, self.name = stream, name

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise WorkError(f"cannot write to {self.name}: {describe_oserror(exc, path='')}") from None


class TraceFiles:
    """``--trace``'s outputs, one per sample, opened (and so checked) at once; ``-`` is ``stdout``.

    With several samples, ``run.jsonl`` becomes ``run.0.jsonl``, ``run.1.jsonl``, ...; ``-``
    writes each trace, header first, one after the other.

    >>> TraceFiles.paths("run.jsonl", 2), TraceFiles.paths("-", 2), TraceFiles.paths("t", 1)
    (['run.0.jsonl', 'run.1.jsonl'], ['-', '-'], ['t'])
    """

    def __init__(self, path: str | None, samples: int, stdout: IO[str]) -> None:
        self.files: list[tuple[str, IO[str] | None]] = []
        for target in self.paths(path, samples) if path else ():
            if target == "-":
                self.files.append(("standard output", stdout))
                continue
            try:
                self.files.append((target, open(target, "w", encoding="utf-8")))
            except OSError as exc:
                self.close()
                folder = os.path.dirname(target)
                if isinstance(exc, FileNotFoundError) and folder and not os.path.isdir(folder):
                    raise UsageError(f"--trace {target}: no such folder: {folder}") from None
                raise UsageError(describe_oserror(exc, "--trace", target)) from None

    @staticmethod
    def paths(path: str, samples: int) -> list[str]:
        if samples == 1 or path == "-":
            return [path] * samples
        stem, suffix = os.path.splitext(path)
        return [f"{stem}.{i}{suffix}" for i in range(samples)]

    def write(self, index: int, trace: Trace, header: dict[str, Any]) -> None:
        if not self.files:
            return
        name, file = self.files[index]
        try:
            trace.to_jsonl(file, header=header)
            file.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._drop(index)
            raise WorkError(describe_oserror(exc, "--trace", name) + "; the trace is incomplete") from None

    def _drop(self, index: int) -> None:
        """Close a file that failed, without its unwritten bytes failing again at ``close``."""
        name, file = self.files[index]
        if name != "standard output":
            try:
                file.close()
            except OSError:
                pass
        self.files[index] = (name, None)

    def close(self) -> None:
        files, self.files = self.files, []
        for name, file in files:
            if file is not None and name != "standard output":
                try:
                    file.close()
                except OSError as exc:  # the last buffered bytes did not fit
                    raise WorkError(describe_oserror(exc, "--trace", name) + "; the trace is incomplete") from None


def shown_records(text: str, trace: Trace) -> list[tuple[TraceRecord, str]]:
    """The records whose pieces make ``text`` (the generated text, without a stop string), each with
    the part of its piece inside ``text``: tokens that only made the stop string are left out.

    >>> records = [TraceRecord(i, i, p, 0.5, 1.0, 1.0, 3, 0.5, 0, i, None) for i, p in enumerate(["Hi", ".", "\\n\\n"])]
    >>> [piece for _, piece in shown_records("Hi.\\n", Trace(records))]
    ['Hi', '.', '\\n']
    """
    shown, at = [], 0
    for record in trace:
        if at >= len(text):
            break
        piece = record.piece[:len(text) - at]
        shown.append((record, piece))
        at += len(record.piece)
    return shown


def show(text: str, trace: Trace, finish_reason: str, colour: bool) -> str:
    """``--show``'s output: the text (each token in the colour of its temperature when ``colour``),
    then one row per sentence: its tokens, its temperature (a range when it varied) and its start.

    >>> records = [TraceRecord(0, 1, "Hi.", 0.2, 1.0, 1.0, 3, 0.5, 0, 0, None),
    ...            TraceRecord(1, 2, " Yo", 0.9, 1.0, 1.0, 3, 0.5, 1, 0, None)]
    >>> print(show("Hi. Yo", Trace(records), "length", colour=False))
    Hi. Yo
    <BLANKLINE>
    [finish: length]
    sentence tokens temperature  text
           0      1        0.20  Hi.
           1      1        0.90  Yo
    """
    shown = shown_records(text, trace)
    body = "".join(ansi(r.temperature, piece) if colour else piece for r, piece in shown)
    legend = "; colour: blue = cold, red = hot (2.0 and above)" if colour else ""
    lines = [body, "", f"[finish: {finish_reason}{legend}]", f"{'sentence':>8} {'tokens':>6} {'temperature':>11}  text"]
    by_sentence: dict[int, list[tuple[TraceRecord, str]]] = defaultdict(list)
    for record, piece in shown:
        by_sentence[record.sentence_index].append((record, piece))
    for index, items in sorted(by_sentence.items()):
        words = "".join(piece for _, piece in items).strip().replace("\n", " ")
        if words:
            temps = sorted({round(r.temperature, 3) for r, _ in items})
            span = f"{temps[0]:.2f}" if len(temps) == 1 else f"{temps[0]:.2f}-{temps[-1]:.2f}"
            lines.append(f"{index:>8} {len(items):>6} {span:>11}  {words[:60]}")
    return "\n".join(lines)
