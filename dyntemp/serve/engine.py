"""Running a ``Job`` on a slot: its prompts tokenized and its grammar compiled (``Started``, or
``Refused``: the request's 400), then each choice through the library's own generation loop
(``dyntemp.llama.stream``, one fresh ``Sampler`` per choice, so no request sees another's state),
reported as events as the text comes. It runs in the slot's process; it stops at the next piece of
text once ``cancelled`` is set (the client left, or the server is shutting down), and draws no token
after the job's ``timeout``: the choices end with what they have (``timed_out``)."""

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
class Started:
    """The job's prompts are tokenized (``prompt_tokens``: each one's length) and its grammar parsed."""

    prompt_tokens: tuple[int, ...]


@dataclass(frozen=True)
class Refused:
    """The job cannot run as asked: a prompt that does not fit, a grammar llama.cpp does not parse.
    The fields of the request's 400 (``dyntemp.api.errors.APIError``)."""

    message: str
    param: str | None
    code: str | None

    def api_error(self):
        from ..api.errors import APIError

        return APIError(self.message, param=self.param, code=self.code)


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
    timed_out: bool = False
    reason: str = ""  # the library's finish reason: "eos", "stop", "length" or "timeout"


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
        if self.kind == TIMED_OUT:
            return APIError(self.message, status=504, code="timeout")
        return APIError.internal(self.kind)


#: The kind of a ``Failed`` whose slot process died (killed, or out of memory).
SLOT_DIED = "SlotDied"
#: The kind of a ``Failed`` whose slot did not stop at its deadline and was stopped from outside.
TIMED_OUT = "TimedOut"


_FINISH = {"eos": "stop", "stop": "stop", "length": "length"}
#: A stream's pieces are sent at most this often (seconds); what comes between goes in the next one.
STREAM_INTERVAL = 0.02
#: A whole response's pieces are sent to the server this often (seconds), kept there until the end.
KEEP_INTERVAL = 1.0


def run_job(job: Job, llm, emit: Callable[[object], None], cancelled: threading.Event,
            threads: Callable[[], int] | None = None) -> None:
    """Run ``job`` on ``llm``, calling ``emit`` with ``Started`` or ``Refused``, then ``Piece`` and
    ``End`` (or ``Failed``); ``threads()`` says how many threads each decode may use."""
    from ..api.errors import APIError
    from ..llama.generation import stream

    try:
        deadline = time.monotonic() + job.timeout
        try:
            ids, settings = job.prepared(llm)
        except APIError as exc:
            emit(Refused(exc.message, exc.param, exc.code))
            return
        emit(Started(tuple(map(len, ids))))
        for index, prompt, settings in job.choices(ids, settings):
            if cancelled.is_set():
                return
            sampler = Sampler.from_settings(settings)
            if job.logprobs:
                sampler.keep_top_logprobs(job.logprobs)
            if time.monotonic() >= deadline:  # the choices left end empty, without evaluating their prompts
                emit(End(index, "", "length", (), _tokens(job, llm, sampler, 0, 0), len(prompt), 0, True))
                continue
            pieces = stream(sampler, llm, prompt, max_tokens=job.max_tokens or llm.n_ctx(), stop=job.stop,
                            threads=threads, deadline=deadline)
            # Each message costs the decode some CPU (the server's side runs beside it): a stream sends
            # what came at most every STREAM_INTERVAL, a whole response every KEEP_INTERVAL (so that a
            # slot stopped from outside loses little of what it made), the first piece at once.
            interval = STREAM_INTERVAL if job.stream else KEEP_INTERVAL
            sent, text, next_send = 0, [], 0.0
            try:
                for piece in pieces:
                    if cancelled.is_set():
                        return
                    text.append(piece.text)
                    if time.monotonic() >= next_send:
                        now = len(sampler.trace)
                        emit(Piece(index, "".join(text), tuple(sampler.trace[sent:now]),
                                   _tokens(job, llm, sampler, sent, now)))
                        sent, text, next_send = now, [], time.monotonic() + interval
            finally:
                pieces.close()
            now = len(sampler.trace)
            timed_out = sampler.finish_reason == "timeout"
            emit(End(index, "".join(text), "length" if timed_out else _FINISH[sampler.finish_reason],
                     tuple(sampler.trace[sent:now]), _tokens(job, llm, sampler, sent, now), len(prompt), now,
                     timed_out, sampler.finish_reason))
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
