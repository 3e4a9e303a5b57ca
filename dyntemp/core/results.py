"""What a generation returns: the whole result, or the pieces of a stream."""

from __future__ import annotations

from dataclasses import dataclass

from .trace import Trace, TraceRecord


@dataclass(frozen=True)
class StreamPiece:
    """A piece of streamed text and the record of the token that completed it."""

    text: str
    record: TraceRecord


@dataclass(frozen=True)
class GenerationResult:
    """The outcome of ``Sampler.generate``: the text (without a stop string), the sampled tokens,
    the trace and why generation ended: ``"stop"``, ``"length"`` or ``"eos"``."""

    text: str
    tokens: list[int]
    trace: Trace
    finish_reason: str

    @classmethod
    def of(cls, *, text: str, trace: Trace, finish_reason: str) -> "GenerationResult":
        """The result whose tokens are those ``trace`` records."""
        return cls(text, [record.token for record in trace], trace, finish_reason)
