"""Running a ``Job`` on a slot: each choice through the library's own generation loop
(``dyntemp.llama.stream``, one fresh ``Sampler`` per choice, so no request sees another's state),
reported as events as the text comes. It runs in the slot's process and stops at the next piece of
text once ``cancelled`` is set (the client left, or the server is shutting down)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from ..core.sampler import Sampler
from ..core.trace import TraceRecord
from .jobs import Job


@dataclass(frozen=True)
class Token:
    """One generated token as OpenAI's logprobs list it: its text and bytes, its log probability
    under the model, and the most likely alternatives ``(text, bytes, logprob)``."""

    text: str
    bytes: bytes
    logprob: float
    top: tuple[tuple[str, bytes, float], ...]


@dataclass(frozen=True)
class Piece:
    """Text of choice ``index``, with the records (and with logprobs asked, the tokens) that made it."""

    index: int
    text: str
    records: tuple[TraceRecord, ...]
    tokens: tuple[Token, ...] | None


@dataclass(frozen=True)
class End:
    """Choice ``index`` ended (``finish_reason`` as OpenAI's), with its last records and its counts."""

    index: int
    finish_reason: str
    records: tuple[TraceRecord, ...]
    tokens: tuple[Token, ...] | None
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    """The job failed: a bug, reported to the client as a 500 without the traceback."""

    error: BaseException


_FINISH = {"eos": "stop", "stop": "stop", "length": "length"}


def run_job(job: Job, llm, emit: Callable[[object], None], cancelled: threading.Event,
            threads: Callable[[], int] | None = None) -> None:
    """Generate every choice of ``job`` on ``llm``, calling ``emit`` with ``Piece``, ``End`` or
    ``Failed``; ``threads()`` says how many threads each decode may use."""
    from ..llama.generation import stream

    try:
        for index, ids, settings in job.choices():
            sampler = Sampler.from_settings(settings)
            if job.logprobs:
                sampler.keep_top_logprobs(job.logprobs)
            pieces = stream(sampler, llm, ids, max_tokens=job.max_tokens or llm.n_ctx(), stop=job.stop,
                            threads=threads)
            sent = 0
            try:
                for piece in pieces:
                    if cancelled.is_set():
                        return
                    now = len(sampler.trace)
                    emit(Piece(index, piece.text, tuple(sampler.trace[sent:now]), _tokens(job, llm, sampler, sent, now)))
                    sent = now
            finally:
                pieces.close()
            now = len(sampler.trace)
            emit(End(index, _FINISH[sampler.finish_reason], tuple(sampler.trace[sent:now]),
                     _tokens(job, llm, sampler, sent, now), len(ids), now))
    except Exception as exc:  # noqa: BLE001 - reported to the client as a 500, and logged by the app
        emit(Failed(exc))


def _tokens(job: Job, llm, sampler: Sampler, start: int, end: int) -> tuple[Token, ...] | None:
    if job.logprobs is None:
        return None

    def text_of(token: int) -> tuple[str, bytes]:
        data = llm.detokenize([token])
        return data.decode("utf-8", errors="replace"), data

    out = []
    for i in range(start, end):
        record = sampler.trace[i]
        alternatives = sampler.top_logprobs[i] if job.logprobs else []
        out.append(Token(*text_of(record.token), record.logprob,
                         tuple((*text_of(token), logprob) for token, logprob in alternatives)))
    return tuple(out)
