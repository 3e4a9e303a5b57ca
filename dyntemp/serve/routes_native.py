"""llama-server's native routes and KoboldCpp's, for the clients written for them (SillyTavern's
llama.cpp and KoboldCpp types, KoboldAI Lite): generation in their request and response shapes,
tokenizing, the chat template, the server's properties and slots.

Tokenizing and templates run in a worker thread of the server's process on the model's vocabulary,
on text no longer than a prompt that can fit (``/tokenize`` of more is a 400): the event loop never
waits on them. No ``from __future__ import annotations`` here: FastAPI reads a route's body type from
its annotation."""

import asyncio
import os

from fastapi import APIRouter, Request

from .. import __version__
from ..api.errors import APIError
from ..api.prompts import check_chars
from ..api.schema import ApplyTemplateRequest, DetokenizeRequest, TokenCountRequest, TokenizeRequest
from .generation import generate
from .native_responses import KoboldResponse, NativeResponse
from .state import Server

#: The KoboldCpp version whose API these routes answer as (clients turn features on by it).
KOBOLD_VERSION = "1.76"


def _served(request: Request, name):
    server: Server = request.app.state.server
    return server.served(name, request.state.key)


def _tokens(model, text: str, add_special: bool) -> list:
    check_chars(len(text), model.max_prompt_chars, model.n_ctx, "content has", "text", "content")
    return model.llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=True)


def llama_router(models) -> APIRouter:
    """``POST /completion``, ``/tokenize``, ``/detokenize``, ``/apply-template``; ``GET /props``, ``/slots``."""
    router = APIRouter()
    native = models.native

    @router.post("/completion")
    async def completion(body: native, request: Request):
        return await generate(request, body, NativeResponse)

    @router.post("/tokenize")
    async def tokenize(body: TokenizeRequest, request: Request):
        model = _served(request, body.model)
        ids = await asyncio.to_thread(_tokens, model, body.content, body.add_special)
        if not body.with_pieces:
            return {"tokens": ids}
        pieces = []
        for token in ids:
            data = model.llm.detokenize([token], special=True)
            try:
                pieces.append({"id": token, "piece": data.decode("utf-8")})
            except UnicodeDecodeError:
                pieces.append({"id": token, "piece": list(data)})
        return {"tokens": pieces}

    @router.post("/detokenize")
    async def detokenize(body: DetokenizeRequest, request: Request):
        model = _served(request, body.model)
        bad = [t for t in body.tokens if not 0 <= t < model.n_vocab]
        if bad:
            raise APIError(f"tokens: {bad[0]} is not a token id of this model (0 to {model.n_vocab - 1})",
                           param="tokens")
        if len(body.tokens) > model.n_ctx:
            raise APIError(f"tokens has {len(body.tokens)} ids: more than the context holds ({model.n_ctx})",
                           param="tokens", code="context_length_exceeded")
        return {"content": model.llm.detokenize(body.tokens, special=True).decode("utf-8", errors="replace")}

    @router.post("/apply-template")
    async def apply_template(body: ApplyTemplateRequest, request: Request):
        from ..api.prompts import check_messages
        from ..llama.generation import chat_prompt

        model = _served(request, body.model)
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        check_messages(messages, model.n_ctx, model.max_prompt_chars, request.app.state.server.limits)
        try:
            return {"prompt": await asyncio.to_thread(chat_prompt, model.llm, messages)}
        except ValueError as exc:
            raise APIError.about("messages", str(exc)) from None

    @router.get("/props")
    async def props(request: Request):
        server: Server = request.app.state.server
        model = _served(request, request.query_params.get("model"))
        settings = server.defaults
        return {"default_generation_settings": {"n_ctx": model.n_ctx, "params": {
                    "strategy": settings.strategy.to_dict(), **dict(settings.sampler)}},
                "total_slots": len(model.slots), "model_path": os.path.basename(model.vocabulary.path),
                "chat_template": model.llm.metadata.get("tokenizer.chat_template", ""),
                "modalities": {"vision": False}, "build_info": f"dyntemp {__version__}"}

    @router.get("/slots")
    async def slots(request: Request):
        model = _served(request, request.query_params.get("model"))
        busy = model.busy
        return [{"id": i, "n_ctx": model.n_ctx, "is_processing": i < busy} for i in range(len(model.slots))]

    return router


def kobold_router(models) -> APIRouter:
    """KoboldCpp's API: ``/api/v1/generate``, ``/api/extra/generate/stream``, ``/api/v1/model``,
    ``/api/v1/info/version``, ``/api/extra/version``, ``/api/extra/tokencount``, ``/api/extra/abort``,
    ``/api/extra/true_max_context_length``, ``/api/v1/config/max_context_length``."""
    router = APIRouter()
    kobold = models.kobold

    @router.post("/api/v1/generate")
    async def kobold_generate(body: kobold, request: Request):
        return await generate(request, body.model_copy(update={"stream": False}), KoboldResponse)

    @router.post("/api/extra/generate/stream")
    async def kobold_stream(body: kobold, request: Request):
        return await generate(request, body.model_copy(update={"stream": True}), KoboldResponse)

    @router.get("/api/v1/model")
    async def kobold_model(request: Request):
        return {"result": _served(request, None).name}

    @router.get("/api/v1/info/version")
    async def kobold_api_version():
        return {"result": "1.2.5"}

    @router.get("/api/extra/version")
    async def kobold_version():
        return {"result": "KoboldCpp", "version": KOBOLD_VERSION, "server": f"dyntemp {__version__}",
                "protected": False, "txt2img": False, "vision": False, "transcribe": False}

    @router.post("/api/extra/tokencount")
    async def kobold_tokencount(body: TokenCountRequest, request: Request):
        model = _served(request, body.model)
        ids = await asyncio.to_thread(_tokens, model, body.prompt, False)
        return {"value": len(ids), "ids": ids}

    @router.post("/api/extra/abort")
    async def kobold_abort(request: Request):
        stopped = request.app.state.server.abort(request.state.key)
        return {"success": "true" if stopped else "false", "done": "true" if stopped else "false"}

    @router.get("/api/extra/true_max_context_length")
    @router.get("/api/v1/config/max_context_length")
    async def kobold_context(request: Request):
        return {"value": _served(request, None).n_ctx}

    return router
