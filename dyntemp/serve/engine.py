"""Running a ``Job`` on a slot: each choice through the library's own generation loop
(``dyntemp.llama.stream``, one fresh ``Sampler`` per choice, so no request sees another's state),
reported as events as the text comes. It runs in the slot's process and stops at the next piece of
text once ``cancelled`` is set (the client left, or the server is shutting down)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..core.sampler import Sampler
from ..core.trace import TraceRecord
from ..api.jobs import Job


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
    """Choice ``index`` ended (``finish_reason`` as OpenAI's), with its text, records and tokens not
    sent yet, and its counts."""

    index: int
    text: str
    finish_reason: str
    records: tuple[TraceRecord, ...]
    tokens: tuple[Token, ...] | None
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    """The job failed, reported to the client as a 500 without the traceback: its slot's process
    died (said as it is), or a bug (its type only; ``details``, the traceback, go to the log). Plain
    text, so that it crosses the slot's pipe whatever the exception was."""

    kind: str
    message: str
    details: str = ""

    @classmethod
    def of(cls, exc: BaseException) -> "Failed":
        import traceback

        return cls(type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))

    def api_error(self):
        from ..api.errors import APIError

        if self.kind == SLOT_DIED:
            return APIError(f"{self.message}; retry the request", status=500, code="slot_died")
        return APIError.internal(self.kind)


#: The kind of a ``Failed`` whose slot process died (killed, or out of memory).
SLOT_DIED = "SlotDied"


_FINISH = {"eos": "stop", "stop": "stop", "length": "length"}
#: A stream's pieces are sent at most this often (seconds); what comes between goes in the next one.
STREAM_INTERVAL = 0.02


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
            sent, text, next_send = 0, [], 0.0
            try:
                for piece in pieces:
                    if cancelled.is_set():
                        return
                    text.append(piece.text)
                    # Each message costs the decode some CPU (the server's side runs beside it): a stream
                    # sends what came at most every STREAM_INTERVAL, the first piece at once; a whole
                    # response, once.
                    if job.stream and time.monotonic() >= next_send:
                        now = len(sampler.trace)
                        emit(Piece(index, "".join(text), tuple(sampler.trace[sent:now]),
                                   _tokens(job, llm, sampler, sent, now)))
                        sent, text, next_send = now, [], time.monotonic() + STREAM_INTERVAL
            finally:
                pieces.close()
            now = len(sampler.trace)
            emit(End(index, "".join(text), _FINISH[sampler.finish_reason], tuple(sampler.trace[sent:now]),
                     _tokens(job, llm, sampler, sent, now), len(ids), now))
    except Exception as exc:  # noqa: BLE001 - reported to the client as a 500, and logged by the app
        emit(Failed.of(exc))


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
