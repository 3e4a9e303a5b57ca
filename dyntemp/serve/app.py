"""The OpenAI-compatible app (FastAPI): routes, keys, the queue, streaming and the access log.

Routes: ``POST /v1/completions``, ``POST /v1/chat/completions`` (``stream: true`` as server-sent
events ending ``data: [DONE]``), ``GET /v1/models``, ``GET /v1/strategies``, ``GET /metrics``,
``GET /health``, ``GET /openapi.json``. With keys, every route but ``/health`` needs
``Authorization: Bearer KEY``, checked before the body is read (``dyntemp.serve.guard``).

A request's fields are checked here against the ``limits`` (no llama.cpp call); its prompts are
tokenized and its grammar parsed in the slot that runs it, so that a crash or a long tokenization
costs that request alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response as HTTPResponse
from fastapi.responses import StreamingResponse

from .. import _validate
from ..api.errors import APIError
from ..api.jobs import Defaults, build_job
from ..api.limits import Limits
from ..api.schema import ChatCompletionRequest, CompletionRequest, SamplingFields
from .auth import Key, Keyring
from .catalog import catalog
from .engine import TIMED_OUT, End, Failed, Refused
from .errors import install, json_response
from .guard import Guard
from .metrics import Metrics
from .responses import Response
from .slots import ServedModel

log = logging.getLogger("dyntemp.serve")
_ROUTES = ("/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/strategies", "/metrics", "/health",
           "/openapi.json")


def create_app(models: dict[str, ServedModel], defaults: Defaults | None = None,
               keys: Keyring | None = None, limits: Limits | None = None) -> FastAPI:
    """The app serving ``models`` (``dyntemp.serve.slots.load_models``) with the server-wide
    ``defaults``, ``limits`` and, if given, ``keys``.

    >>> from dyntemp.serve.slots import ModelFile, load_models
    >>> app = create_app(load_models([ModelFile("smol", None)], parallel=1, threads=1, n_ctx=256, max_queue=4))
    >>> sorted(route.path for route in app.routes if route.path in _ROUTES) == sorted(_ROUTES)
    True
    """
    defaults = defaults or Defaults()
    limits = limits or Limits()
    metrics = Metrics(models)
    running: set[threading.Event] = set()

    async def lifespan(app: FastAPI):
        yield
        for cancelled in list(running):  # what the grace period did not finish stops at its next piece
            cancelled.set()
        for model in models.values():
            model.close()

    app = FastAPI(title="dyntemp", lifespan=lifespan, docs_url=None, redoc_url=None)
    fields = {"/v1/completions": list(CompletionRequest.model_fields),
              "/v1/chat/completions": list(ChatCompletionRequest.model_fields)}
    install(app, lambda path: fields.get(path, ()))
    app.add_middleware(Guard, keys=keys, limits=limits)
    app.add_middleware(_AccessLog, metrics=metrics)  # outermost: it logs and counts what the guard refuses too

    def served(name: str | None, key: Key | None) -> ServedModel:
        if name is None:
            if len(models) > 1:
                raise APIError(f"model is required: this server has {', '.join(models)}", param="model")
            name = next(iter(models))
        if name not in models:
            raise APIError(_validate.unknown("model", name, models, listing="This server has"), param="model",
                           code="model_not_found")
        if key is not None:
            keys.allow_model(key, name)
        return models[name]

    async def generate(request: Request, body: SamplingFields):
        key: Key | None = request.state.key
        model = served(body.model, key)
        job = await asyncio.to_thread(build_job, body, model, defaults, limits)  # bounded, but Python: off the loop
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
        running.add(cancelled)
        started = time.perf_counter()
        response = Response(job)

        def done() -> None:  # on the event loop, once the slot is free
            events.put_nowait(None)  # the job ended: a consumer still waiting stops waiting
            running.discard(cancelled)
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

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        return await generate(request, body)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        return await generate(request, body)

    @app.get("/v1/models")
    async def list_models(request: Request):
        key: Key | None = request.state.key
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "dyntemp",
             "meta": {"n_ctx": model.n_ctx, "n_vocab": model.n_vocab, "slots": len(model.slots)}}
            for name, model in models.items() if key is None or key.models is None or name in key.models]}

    @app.get("/v1/strategies")
    async def strategies():
        return catalog()

    @app.get("/metrics")
    async def prometheus():
        return HTTPResponse(metrics.text(), media_type="text/plain; version=0.0.4")

    @app.get("/health")
    async def health():
        busy = sum(model.busy for model in models.values())
        total = sum(len(model.slots) for model in models.values())
        return {"status": "ok", "slots_idle": total - busy, "slots_processing": busy}

    return app


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
                    yield _sse(event.api_error().body())
                    return
                for end in response.ends_of_timed_out():  # stopped at its deadline: the choices end, saying why
                    response.add(end)
                    yield _sse(response.chunk(end))
                break
            response.add(event)
            ended += isinstance(event, End)
            yield _sse(response.chunk(event))
        if response.job.include_usage:
            yield _sse(response.usage_chunk())
        request.state.tokens = response.completion_tokens  # before the last line, which the access log follows
        yield "data: [DONE]\n\n"
    finally:
        cancelled.set()
        watch.cancel()
        finished()


def _timed_out(event: Failed, response: Response) -> bool:
    """Whether ``event`` is a slot stopped at its deadline after some output, which the client gets."""
    return event.kind == TIMED_OUT and response.has_output


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


class _AccessLog:
    """One log line per request (method, path, status, tokens generated, milliseconds), never a
    prompt or a key; and the request counter of ``/metrics``."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope["path"]
            tokens = scope.get("state", {}).get("tokens", 0)
            log.info("%s %s %d %d tokens %.0f ms", scope["method"], path, status[0], tokens,
                     (time.perf_counter() - start) * 1000)
            self.metrics.requests.labels(path if path in _ROUTES else "other", str(status[0])).inc()
