"""The server's routes, one router per API family: OpenAI's (completions, chat, models) and the
server's own (strategies, metrics, health). Made by functions, with the request models of the stages
registered when the app is made (a user's stage is a request field too).

No ``from __future__ import annotations`` here: FastAPI reads a route's body type from its
annotation, which must be the model class itself, not a name to look up."""

from fastapi import APIRouter, Request
from fastapi.responses import Response as HTTPResponse

from .auth import Key
from .catalog import catalog
from .generation import generate
from .state import Server


def openai_router(models) -> APIRouter:
    """``POST /v1/completions``, ``POST /v1/chat/completions`` (bodies: ``models.completion``,
    ``models.chat``, from ``dyntemp.api.schema.request_models``) and ``GET /v1/models``."""
    router = APIRouter()
    completion, chat = models.completion, models.chat

    @router.post("/v1/completions")
    async def completions(body: completion, request: Request):
        return await generate(request, body)

    @router.post("/v1/chat/completions")
    async def chat_completions(body: chat, request: Request):
        return await generate(request, body)

    @router.get("/v1/models")
    async def list_models(request: Request):
        key: Key = request.state.key
        models = request.app.state.server.models
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "dyntemp",
             "meta": {"n_ctx": model.n_ctx, "n_vocab": model.n_vocab, "slots": len(model.slots)}}
            for name, model in models.items() if key is None or key.models is None or name in key.models]}

    return router


def admin_router() -> APIRouter:
    """``GET /v1/strategies``, ``GET /metrics``, ``GET /health``."""
    router = APIRouter()

    @router.get("/v1/strategies")
    async def strategies():
        return catalog()

    @router.get("/metrics")
    async def prometheus(request: Request):
        return HTTPResponse(request.app.state.server.metrics.text(), media_type="text/plain; version=0.0.4")

    @router.get("/health")
    async def health(request: Request):
        server: Server = request.app.state.server
        busy = sum(model.busy for model in server.models.values())
        total = sum(len(model.slots) for model in server.models.values())
        return {"status": "ok", "slots_idle": total - busy, "slots_processing": busy}

    return router
