"""Errors in OpenAI's schema, ``{"error": {"message", "type", "param", "code"}}``: a bad request
(400), a missing key (401), a model the key may not use (403), an unknown route (404), a body too
large (413), too many requests for a key (429), a full queue (503), a failure (500), a request past
its time limit (504). The server sends them; batch names
the file and line of the request they are about."""

from __future__ import annotations

import json
from typing import Any, Sequence

from .. import _validate
from .schema import UNSUPPORTED

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
          429: "rate_limit_error", 500: "server_error", 503: "server_error", 504: "server_error"}


class APIError(Exception):
    """An error a client gets as ``status`` with OpenAI's error body.

    >>> APIError("n must be >= 1, got 0", param="n").body()
    {'error': {'message': 'n must be >= 1, got 0', 'type': 'invalid_request_error', 'param': 'n', 'code': None}}
    """

    def __init__(self, message: str, *, status: int = 400, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.param, self.code, self.headers = message, status, param, code, headers

    @classmethod
    def about(cls, param: str, message: str, setting: str | None = None, **kwargs) -> "APIError":
        """The error of field ``param``: ``message`` (of the library, which calls it ``setting``)
        named after the field once.

        >>> APIError.about("repeat_last_n", "penalty_last_n must be >= -1, got -5", "penalty_last_n").message
        'repeat_last_n must be >= -1, got -5'
        """
        for name in (setting, param):
            if name and (message.startswith(f"{name} ") or message.startswith(f"{name}:")):
                return cls(param + message[len(name):], param=param, **kwargs)
        return cls(f"{param}: {message}", param=param, **kwargs)

    @classmethod
    def internal(cls, kind: str) -> "APIError":
        """A bug's 500: its exception's type only; the details go to the server's log."""
        return cls(f"internal error ({kind}); the server's log has the details", status=500)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}



def validation_error(errors: Sequence[dict[str, Any]], allowed: Sequence[str] = ()) -> APIError:
    """The first of pydantic's ``errors`` as one message naming the field, the value and what is allowed."""
    error = errors[0]
    if error.get("type") == "compat":  # a frontend's spelling or form that cannot be read (dyntemp.api.compat)
        ctx = error.get("ctx", {})
        return APIError(ctx.get("message", error["msg"]), param=ctx.get("field"),
                        code="unknown_parameter" if ctx.get("typo") else "invalid_value")
    loc = [str(part) for part in error.get("loc", ()) if part != "body"]
    if error.get("type") == "json_invalid":
        return APIError(f"the request body is not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}",
                        code="invalid_json")
    if not loc and error.get("type") in ("model_attributes_type", "model_type", "dict_type"):
        return APIError("the request body must be a JSON object", code="invalid_json")
    # A value that may take several types is reported once, without the type pydantic tried.
    param = ".".join(part for part in loc if not _is_type_name(part))
    if error.get("type") == "extra_forbidden":
        field = loc[-1]
        if len(loc) == 1 and field in UNSUPPORTED:
            return APIError(f"{field}: {UNSUPPORTED[field]} are not supported by this server", param=field,
                            code="unsupported_parameter")
        known = allowed if len(loc) == 1 else ()
        message = _validate.unknown("field", field, known) if known else f"unknown field {field!r}"
        return APIError(f"{message} (at {param})" if len(loc) > 1 else message, param=param,
                        code="unknown_parameter")
    if error.get("type") == "missing":
        return APIError(f"{param} is required", param=param, code="missing_parameter")
    value = json.dumps(error.get("input"), default=str)[:80]
    return APIError(f"{param}: {error['msg'].lower()}, got {value}", param=param, code="invalid_type")


def _is_type_name(part: str) -> bool:
    # pydantic names the member of a union it tried ("list[str]", "str", "literal['-inf']") in the location.
    return part in ("str", "int", "float", "bool", "dict", "list") or "[" in part or part.startswith("literal")
