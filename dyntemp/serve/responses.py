"""OpenAI's response objects, whole and as stream chunks, for completions and chat completions,
from the engine's events. dyntemp's ``trace`` (one record per token: temperature, entropy,
probability, sentence index, rule, ...) rides on each choice when the request asks for it, and a
choice that its time limit ended has ``"timed_out": true`` beside ``"finish_reason": "length"``."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from .engine import End, Piece, Started, Token
from ..api.jobs import Job


class Response:
    """Builds the response of one job, event by event: ``chunk(event)`` for a stream, ``whole()``
    once every choice has ended. Also counts the tokens."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.id = ("chatcmpl-" if job.chat else "cmpl-") + secrets.token_hex(12)
        self.created = int(time.time())
        n = len(job.prompts) * job.n
        self.texts = [""] * n
        self.records: list[list[dict]] = [[] for _ in range(n)]
        self.tokens: list[list[Token]] = [[] for _ in range(n)]
        self.finish: list[str | None] = [None] * n
        self.timed_out = [False] * n
        self.end_reasons = [""] * n  # the library's: "eos", "stop", "length", "timeout"
        self.received = [0] * n  # tokens of each choice so far
        self.prompt_lengths: tuple[int, ...] = ()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._offsets = [0] * n  # completions' text_offset: where each token's text starts
        self._started = [False] * n

    def _head(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.job.model}

    def start(self, event: Started) -> None:
        self.prompt_lengths = event.prompt_tokens

    @property
    def has_output(self) -> bool:
        """Whether any choice has text or has ended."""
        return any(self.texts) or any(finish is not None for finish in self.finish)

    def ends_of_timed_out(self) -> list[End]:
        """The ends of the choices a slot stopped at its deadline left unfinished (add them, and in
        a stream send their chunks): ``finish_reason`` length, ``timed_out``."""
        tokens = () if self.job.logprobs is not None else None
        return [End(i, "", "length", (), tokens, self.prompt_lengths[i // self.job.n], self.received[i], True)
                for i, finish in enumerate(self.finish) if finish is None]

    def add(self, event: "Piece | End") -> None:
        i = event.index
        self.texts[i] += event.text
        self.received[i] += len(event.records)
        if self.job.return_trace:
            self.records[i] += [r.to_dict() for r in event.records]
        self.tokens[i] += event.tokens or ()
        if isinstance(event, End):
            self.finish[i] = event.finish_reason
            self.timed_out[i] = event.timed_out
            self.end_reasons[i] = event.reason
            if i % self.job.n == 0:  # a prompt counts once, however many choices it has
                self.prompt_tokens += event.prompt_tokens
            self.completion_tokens += event.completion_tokens

    def usage(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    def whole(self) -> dict:
        choices = []
        for i, text in enumerate(self.texts):
            choice: dict[str, Any] = {"index": i}
            if self.job.chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            choice["logprobs"] = self._logprobs(i, self.tokens[i])
            choice["finish_reason"] = self.finish[i]
            if self.timed_out[i]:
                choice["timed_out"] = True
            if self.job.return_trace:
                choice["trace"] = self.records[i]
            choices.append(choice)
        kind = "chat.completion" if self.job.chat else "text_completion"
        return {**self._head(kind), "choices": choices, "usage": self.usage()}

    def chunk(self, event: "Piece | End") -> dict:
        """The stream chunk of ``event`` (call after ``add``)."""
        i = event.index
        choice: dict[str, Any] = {"index": i}
        text = event.text
        if self.job.chat:
            delta: dict[str, Any] = {} if isinstance(event, End) and not text else {"content": text}
            if not self._started[i]:
                delta = {"role": "assistant", **delta}
            choice["delta"] = delta
        else:
            choice["text"] = text
        self._started[i] = True
        choice["logprobs"] = self._logprobs(i, event.tokens or ())
        choice["finish_reason"] = event.finish_reason if isinstance(event, End) else None
        if isinstance(event, End) and event.timed_out:
            choice["timed_out"] = True
        if self.job.return_trace:
            choice["trace"] = [r.to_dict() for r in event.records]
        kind = "chat.completion.chunk" if self.job.chat else "text_completion"
        out = {**self._head(kind), "choices": [choice]}
        if self.job.include_usage:
            out["usage"] = None
        return out

    def chunks(self, event: "Piece | End") -> list:
        """What a stream sends for ``event`` (after ``add``)."""
        return [self.chunk(event)]

    def closing(self) -> list:
        """What a stream sends after the last event: the usage when asked, then ``[DONE]``."""
        return [*([self.usage_chunk()] if self.job.include_usage else []), "[DONE]"]

    @staticmethod
    def frame(data: "dict | str") -> str:
        """One server-sent event."""
        return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"

    def usage_chunk(self) -> dict:
        """The last chunk with ``stream_options.include_usage``: no choices, the usage."""
        kind = "chat.completion.chunk" if self.job.chat else "text_completion"
        return {**self._head(kind), "choices": [], "usage": self.usage()}

    def _logprobs(self, i: int, tokens) -> dict | None:
        if self.job.logprobs is None:
            return None
        if self.job.chat:
            return {"content": [{"token": t.text, "logprob": t.logprob, "bytes": list(t.bytes),
                                 "top_logprobs": [{"token": text, "logprob": lp, "bytes": list(data)}
                                                  for text, data, lp in t.top]} for t in tokens],
                    "refusal": None}
        offsets = []
        for t in tokens:
            offsets.append(self._offsets[i])
            self._offsets[i] += len(t.text)
        return {"tokens": [t.text for t in tokens], "token_logprobs": [t.logprob for t in tokens],
                "top_logprobs": [{text: lp for text, _, lp in t.top} for t in tokens] if self.job.logprobs else None,
                "text_offset": offsets}
