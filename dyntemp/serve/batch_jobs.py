"""The jobs of a model's engine process, run together: every choice of every running job is a
sequence of one ``BatchedEngine`` (``dyntemp.llama.batched``), so that one decode advances all of
them, each with its own fresh ``Sampler``.

A job's prompts are tokenized and its grammar compiled when it arrives (``Started``, or
``Refused``: the request's 400); its choices' text comes as ``Piece`` events and each ends with an
``End`` (``timed_out`` when the job's deadline came first); a choice that fails ends its job with
``Failed``. Events go out as ``(job id, event)``, and ``(job id, None)`` once the job is over. A
cancelled job (its client left, or the server is stopping) stops at once, with no more events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..api.jobs import Job
from ..core.sampler import Sampler
from ..llama.batched import BatchedEngine, BatchEvent, BatchRequest
from .engine import KEEP_INTERVAL, STREAM_INTERVAL, End, Failed, Piece, Refused, Started, Token

_FINISH = {"eos": "stop", "stop": "stop", "length": "length"}


@dataclass
class _Choice:
    job: "_Running"
    index: int
    sampler: Sampler
    prompt_tokens: int
    sent: int = 0  # trace records sent so far
    text: list[str] = field(default_factory=list)  # text not sent yet
    next_send: float = 0.0  # the first piece goes at once


@dataclass
class _Running:
    id: int
    job: Job
    choices: dict[int, _Choice] = field(default_factory=dict)  # by the engine's index


class JobRunner:
    """Runs jobs on ``engine`` (over ``llm``), sending ``(job id, event)`` with ``send``."""

    def __init__(self, llm, engine: BatchedEngine, send: Callable[[tuple], None]) -> None:
        self.llm, self.engine, self.send = llm, engine, send
        self._by_index: dict[int, _Choice] = {}
        self._jobs: dict[int, _Running] = {}

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def start(self, job_id: int, job: Job) -> None:
        """Tokenize ``job``'s prompts and submit its choices (or refuse it)."""
        from ..api.errors import APIError

        try:
            try:
                ids, settings = job.prepared(self.llm)
            except APIError as exc:
                self.send((job_id, Refused(exc.message, exc.param, exc.code)))
                self.send((job_id, None))
                return
            self.send((job_id, Started(tuple(map(len, ids)))))
            running = self._jobs[job_id] = _Running(job_id, job)
            deadline = time.monotonic() + job.timeout
            for index, prompt, settings in job.choices(ids, settings):
                sampler = Sampler.from_settings(settings)
                if job.logprobs:
                    sampler.keep_top_logprobs(job.logprobs)
                request = BatchRequest(sampler, prompt, job.max_tokens or self.llm.n_ctx(), job.stop, deadline)
                choice = _Choice(running, index, sampler, len(prompt))
                engine_index = self.engine.submit(request)
                running.choices[engine_index] = self._by_index[engine_index] = choice
        except Exception as exc:  # noqa: BLE001 - reported to the client as a 500, and logged by the app
            self._fail(job_id, exc)

    def cancel(self, job_id: int) -> None:
        """Stop ``job_id`` now: no more events but its end."""
        running = self._jobs.pop(job_id, None)
        if running is None:
            return
        for engine_index in running.choices:
            self.engine.drop(engine_index)
            self._by_index.pop(engine_index, None)
        self.send((job_id, None))

    def step(self) -> None:
        """One step of the engine, its events sent."""
        try:
            events = self.engine.step()
        except Exception as exc:  # noqa: BLE001 - the engine itself broke: every job fails
            for job_id in list(self._jobs):
                self._fail(job_id, exc)
            return
        for event in events:
            choice = self._by_index.get(event.index)
            if choice is not None:
                try:
                    self._relay(choice, event)
                except Exception as exc:  # noqa: BLE001 - this job's failure (its logprobs' text, say) alone
                    self._fail(choice.job.id, exc)

    def _relay(self, choice: _Choice, event: BatchEvent) -> None:
        job = choice.job.job
        if event.error is not None:
            self._fail(choice.job.id, event.error)
            return
        sampler = choice.sampler
        if event.piece is not None:
            choice.text.append(event.piece.text)
            if time.monotonic() >= choice.next_send:
                # Each message costs the decode some CPU (the server's side runs beside it): a stream
                # sends what came at most every STREAM_INTERVAL, a whole response every KEEP_INTERVAL
                # (so that an engine stopped from outside loses little of what it made).
                now = len(sampler.trace)
                self.send((choice.job.id, Piece(choice.index, "".join(choice.text), tuple(sampler.trace[choice.sent:now]),
                                                self._tokens(job, sampler, choice.sent, now))))
                choice.sent, choice.text = now, []
                choice.next_send = time.monotonic() + (STREAM_INTERVAL if job.stream else KEEP_INTERVAL)
        if event.result is not None:
            now = len(sampler.trace)
            reason = sampler.finish_reason
            timed_out = reason == "timeout"
            self.send((choice.job.id, End(choice.index, "".join(choice.text), "length" if timed_out else _FINISH[reason],
                                          tuple(sampler.trace[choice.sent:now]),
                                          self._tokens(job, sampler, choice.sent, now), choice.prompt_tokens, now,
                                          timed_out, reason)))
            running = choice.job
            del running.choices[event.index]
            del self._by_index[event.index]
            if not running.choices:
                del self._jobs[running.id]
                self.send((running.id, None))

    def _fail(self, job_id: int, exc: BaseException) -> None:
        self.send((job_id, Failed.of(exc)))
        if job_id in self._jobs:
            self.cancel(job_id)  # its other choices stop, and its end is sent
        else:
            self.send((job_id, None))

    def _tokens(self, job: Job, sampler: Sampler, start: int, end: int) -> tuple[Token, ...] | None:
        if job.logprobs is None:
            return None
        llm = self.llm

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
