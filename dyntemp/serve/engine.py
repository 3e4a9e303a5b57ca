"""The events of a ``Job`` on its model's engine process (``dyntemp.serve.batch_jobs`` makes them):
``Started`` (its prompts tokenized and its grammar compiled) or ``Refused`` (the request's 400),
then ``Piece`` and ``End`` per choice as the text comes, or ``Failed``. They cross the process's
pipe, so they are plain data."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.trace import TraceRecord


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


#: A stream's pieces are sent at most this often (seconds); what comes between goes in the next one.
STREAM_INTERVAL = 0.02
#: A whole response's pieces are sent to the server this often (seconds), kept there until the end.
KEEP_INTERVAL = 1.0
