"""What every request passes before a route sees it: the API key, then the body's size. The key is
checked before a byte of the body is read (a client without one learns nothing of the schema), and
a body over ``--max-body-bytes`` is refused by its ``Content-Length`` before it is read, or as soon
as a chunked one passes the limit."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from ..api.compat import reading
from ..api.errors import APIError
from ..api.limits import Limits
from .auth import Keyring

#: Paths any client may ask without a key: the health check (load balancers, probes), and the
#: playground's page and files (its API calls carry the key).
OPEN_PATHS = ("/health", "/")
OPEN_PREFIXES = ("/playground/",)


class Guard:
    """ASGI middleware: the key of ``keys`` (if any) on every path but ``OPEN_PATHS``, put in the
    request's state as ``key``; bodies of at most ``limits.body_bytes``; the request's fields read
    leniently unless ``strict`` (``dyntemp.api.compat``), what was ignored named in the
    ``X-Dyntemp-Ignored`` header and the request's state (``ignored``, for the log line)."""

    def __init__(self, app, keys: Keyring | None, limits: Limits, strict: bool = False) -> None:
        self.app, self.keys, self.limits, self.max_body_bytes = app, keys, limits, limits.body_bytes
        self.strict = strict

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            key = None
            path = scope["path"]
            if self.keys is not None and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
                key = self.keys.check(headers.get("authorization"))
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_body_bytes:
                raise APIError(self._too_large(int(length)), status=413, code="request_too_large")
        except APIError as error:
            await JSONResponse(error.body(), status_code=error.status, headers=error.headers)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["key"] = key
        with reading(self.strict) as current:
            state["ignored"] = current.ignored

            async def sending(message) -> None:
                if message["type"] == "http.response.start" and current.ignored:
                    message = {**message, "headers": [*message.get("headers", ()),
                                                      (b"x-dyntemp-ignored", ignored_list(current.ignored))]}
                await send(message)

            await self.app(scope, self._counting(receive), sending)

    def _too_large(self, size: int) -> str:
        return (f"the request body has {'more than ' if size < 0 else ''}{abs(size)} bytes; this server takes at most "
                f"{self.max_body_bytes} ({self.limits.flag('body_bytes')})")

    def _counting(self, receive):
        read = 0

        async def counted():
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_body_bytes:  # a route reading the body turns this into the 413
                    raise HTTPException(413, self._too_large(-self.max_body_bytes))
            return message

        return counted


def ignored_list(names: list[str], most: int = 32) -> bytes:
    """The ignored fields as a header value: printable ASCII (a field's name is the client's text),
    a hostile body's thousands cut to ``most``."""
    shown = ", ".join(names[:most]) + (f", and {len(names) - most} more" if len(names) > most else "")
    return "".join(c if " " <= c <= "~" else "?" for c in shown[:2000]).strip().encode("ascii")
