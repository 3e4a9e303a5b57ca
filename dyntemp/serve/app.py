"""The OpenAI-compatible app (FastAPI): its state, routers, middleware and the access log.

Routes: ``POST /v1/completions``, ``POST /v1/chat/completions`` (``stream: true`` as server-sent
events ending ``data: [DONE]``), ``GET /v1/models``, ``GET /v1/strategies``, ``GET /metrics``,
``GET /health``, ``GET /openapi.json``. With keys, every route but ``/health`` needs
``Authorization: Bearer KEY``, checked before the body is read (``dyntemp.serve.guard``).

A request's fields are checked here against the ``limits`` (no llama.cpp call); its prompts are
tokenized and its grammar parsed in the slot that runs it, so that a crash or a long tokenization
costs that request alone.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI

from ..api.jobs import Defaults
from ..api.limits import Limits
from ..api.schema import request_models
from .auth import Keyring
from .errors import install
from .guard import Guard, ignored_list
from .metrics import Metrics
from .routes import admin_router, openai_router
from .playground import PREFIX, playground_router, static_files
from .routes_native import kobold_router, llama_router
from .slots import ServedModel
from .state import Server

log = logging.getLogger("dyntemp.serve")
_ROUTES = ("/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/strategies", "/metrics", "/health",
           "/openapi.json", "/completion", "/tokenize", "/detokenize", "/apply-template", "/props", "/slots",
           "/api/v1/generate", "/api/extra/generate/stream", "/api/v1/model", "/api/v1/info/version",
           "/api/extra/version", "/api/extra/tokencount", "/api/extra/abort", "/api/extra/true_max_context_length",
           "/api/v1/config/max_context_length")


def create_app(models: dict[str, ServedModel], defaults: Defaults | None = None,
               keys: Keyring | None = None, limits: Limits | None = None, strict: bool = False,
               ui: bool = True) -> FastAPI:
    """The app serving ``models`` (``dyntemp.serve.slots.load_models``) with the server-wide
    ``defaults``, ``limits`` and, if given, ``keys``. ``strict``: refuse fields this server does not
    know rather than ignore them. ``ui``: the playground page at ``/``.

    >>> from dyntemp.serve.slots import ModelFile, load_models
    >>> app = create_app(load_models([ModelFile("smol", None)], parallel=1, threads=1, n_ctx=256, max_queue=4))
    >>> sorted([*app.openapi()["paths"], "/openapi.json"]) == sorted(_ROUTES)
    True
    """
    server = Server(models, defaults or Defaults(), limits or Limits(), keys, Metrics(models))

    async def lifespan(app: FastAPI):
        yield
        server.close()

    app = FastAPI(title="dyntemp", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = server
    requests = request_models()
    fields = {"/v1/completions": list(requests.completion.model_fields),
              "/v1/chat/completions": list(requests.chat.model_fields),
              "/completion": list(requests.native.model_fields), "/api/v1/generate": list(requests.kobold.model_fields),
              "/api/extra/generate/stream": list(requests.kobold.model_fields)}
    install(app, lambda path: fields.get(path, ()))
    app.add_middleware(Guard, keys=keys, limits=server.limits, strict=strict)
    app.add_middleware(_AccessLog, metrics=server.metrics)  # outermost: it logs and counts what the guard refuses too
    app.include_router(openai_router(requests))
    app.include_router(llama_router(requests))
    app.include_router(kobold_router(requests))
    app.include_router(admin_router())
    if ui:
        app.include_router(playground_router(keys is not None))
        app.mount(PREFIX, static_files(), name="playground")
    return app


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
            state = scope.get("state", {})
            ignored = state.get("ignored")
            log.info("%s %s %d %d tokens %.0f ms%s", scope["method"], path, status[0], state.get("tokens", 0),
                     (time.perf_counter() - start) * 1000,
                     f"; ignored: {ignored_list(ignored).decode('latin-1')}" if ignored else "")
            self.metrics.requests.labels(path if path in _ROUTES else "other", str(status[0])).inc()
