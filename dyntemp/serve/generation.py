"""A completion or chat request answered: its job built and checked, a slot taken, the slot's
events turned into the response (whole, or server-sent events), the client's leaving watched, and
what a slot stopped at its deadline made kept (``timed_out``)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from fastapi import Request
from fastapi.responses import Response as HTTPResponse
from fastapi.responses import StreamingResponse

from ..api.jobs import build_job
from ..api.schema import SamplingFields
from .auth import Key
from .engine import TIMED_OUT, End, Failed, Refused
from .errors import json_response
from .responses import Response
from .state import Server

log = logging.getLogger("dyntemp.serve")


async def generate(request: Request, body: SamplingFields, kind: type[Response] = Response):
    """Answer a completion or chat request: its job checked, a slot taken (after the queue), the
    slot's events made into a response of ``kind`` (OpenAI's; llama-server's, KoboldCpp's), whole or
    streamed."""
    server: Server = request.app.state.server
    key: Key | None = request.state.key
    keys, metrics, running = server.keys, server.metrics, server.running
    model = server.served(body.model, key)
    # Bounded checks, but Python: off the event loop.
    job = await asyncio.to_thread(build_job, body, model, server.defaults, server.limits)
    if key is not None:
        keys.enter(key)
    cancelled = threading.Event()
    watch = asyncio.create_task(_disconnect(request, cancelled))
    try:
        slot = await _unless_gone(model.acquire(), watch)
    except BaseException:
        watch.cancel()
        if key is not None:
            keys.leave(key)
        raise
    if slot is None:  # the client left while it waited: its place and its key's count are free
        if key is not None:
            keys.leave(key)
        return HTTPResponse(status_code=499)
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    running[cancelled] = key
    started = time.perf_counter()
    response = kind(job)

    def done() -> None:  # on the event loop, once the slot is free
        events.put_nowait(None)  # the job ended: a consumer still waiting stops waiting
        running.pop(cancelled, None)
        if key is not None:
            keys.leave(key)

    def finished() -> None:  # once the request has read its job's events: the counts are whole
        request.state.tokens = response.completion_tokens
        metrics.generated(response.prompt_tokens, response.completion_tokens, time.perf_counter() - started)

    model.run(slot, job, lambda event: loop.call_soon_threadsafe(events.put_nowait, event), cancelled, loop, done)
    choices = len(job.prompts) * job.n
    first = await _next(events, cancelled)  # Started once the slot has the prompts' tokens, or why not
    if first is None or isinstance(first, (Refused, Failed)):
        cancelled.set()
        watch.cancel()
        finished()
        if first is None:
            return HTTPResponse(status_code=499)
        if isinstance(first, Failed):
            log.error("failed: %s %s: %s", request.method, request.url.path, first.details or first.message)
        return json_response(first.api_error())
    response.start(first)
    if job.stream:
        return StreamingResponse(_stream(request, response, events, choices, cancelled, watch, finished),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    try:
        ended = 0
        while ended < choices:
            event = await _next(events, cancelled)
            if event is None:  # the client left
                return HTTPResponse(status_code=499)
            if isinstance(event, Failed):
                if _timed_out(event, response):  # stopped at its deadline: what it made, and why it ended
                    for end in response.ends_of_timed_out():
                        response.add(end)
                    break
                log.error("failed: %s %s: %s", request.method, request.url.path, event.details or event.message)
                return json_response(event.api_error())
            response.add(event)
            ended += isinstance(event, End)
    finally:
        cancelled.set()
        watch.cancel()
        finished()
    return response.whole()


async def _next(events: asyncio.Queue, cancelled: threading.Event):
    """The job's next event; ``None`` when the client left or the job ended without one."""
    event = await events.get()
    if cancelled.is_set() and not isinstance(event, Failed):
        return None
    return event


async def _unless_gone(acquire, watch: asyncio.Task):
    """The slot ``acquire`` gives, or ``None`` if the client leaves first (``watch`` ends)."""
    task = asyncio.ensure_future(acquire)
    done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return task.result()
    task.cancel()
    try:
        return await task  # a slot that came just as the client left: its job sees it left, and ends
    except asyncio.CancelledError:
        return None


async def _disconnect(request: Request, cancelled: threading.Event) -> None:
    """Set ``cancelled`` when the client disconnects, so that its generation stops and frees its slot."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancelled.set()
            return


async def _stream(request: Request, response: Response, events: asyncio.Queue, choices: int,
                  cancelled: threading.Event, watch: asyncio.Task, finished):
    """The server-sent events of a streamed job: a chunk per piece of text, then ``[DONE]``."""
    try:
        ended = 0
        while ended < choices:
            event = await _next(events, cancelled)
            if event is None:
                return
            if isinstance(event, Failed):  # the stream has begun: the error goes in it, as OpenAI's does
                if not _timed_out(event, response):
                    log.error("failed in a stream: %s: %s", request.url.path, event.details or event.message)
                    yield response.frame(event.api_error().body())
                    return
                for end in response.ends_of_timed_out():  # stopped at its deadline: the choices end, saying why
                    response.add(end)
                    for chunk in response.chunks(end):
                        yield response.frame(chunk)
                break
            response.add(event)
            ended += isinstance(event, End)
            for chunk in response.chunks(event):
                yield response.frame(chunk)
        request.state.tokens = response.completion_tokens  # before the last line, which the access log follows
        for chunk in response.closing():
            yield response.frame(chunk)
    finally:
        cancelled.set()
        watch.cancel()
        finished()


def _timed_out(event: Failed, response: Response) -> bool:
    """Whether ``event`` is a slot stopped at its deadline after some output, which the client gets."""
    return event.kind == TIMED_OUT and response.has_output

