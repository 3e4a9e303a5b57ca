"""Every failure a client of the server can meet becomes an error in OpenAI's schema
(``dyntemp.api.errors``): a bug too (500: a message without the traceback, which goes to the
server's log)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..api.errors import APIError, validation_error

log = logging.getLogger("dyntemp.serve")

def json_response(error: APIError) -> JSONResponse:
    """``error`` as the HTTP response a client gets."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def install(app: FastAPI, allowed_fields) -> None:
    """Make every error the app can raise an OpenAI error body. ``allowed_fields(path)`` lists the
    request fields of a route, for did-you-mean."""

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return json_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":  # curl -d without -H sends a form
            return json_response(APIError(f"the body must be JSON, sent with Content-Type: application/json (this "
                                          f"request's: {kind or 'none'})", code="invalid_json"))
        return json_response(validation_error(exc.errors(), allowed_fields(request.url.path)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = {404: f"no route {request.url.path}: see GET /v1/models, POST /v1/completions, "
                        f"POST /v1/chat/completions, GET /v1/strategies, GET /health, GET /metrics",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return json_response(APIError(message, status=exc.status_code, headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return json_response(APIError.internal(type(exc).__name__))
