"""What every request passes before a route sees it: the API key, then the body's size. The key is
checked before a byte of the body is read (a client without one learns nothing of the schema), and
a body over ``--max-body-bytes`` is refused by its ``Content-Length`` before it is read, or as soon
as a chunked one passes the limit."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from ..api.errors import APIError
from ..api.limits import Limits
from .auth import Keyring

#: Paths any client may ask without a key: the health check (load balancers, probes).
OPEN_PATHS = ("/health",)


class Guard:
    """ASGI middleware: the key of ``keys`` (if any) on every path but ``OPEN_PATHS``, put in the
    request's state as ``key``; bodies of at most ``limits.body_bytes``."""

    def __init__(self, app, keys: Keyring | None, limits: Limits) -> None:
        self.app, self.keys, self.limits, self.max_body_bytes = app, keys, limits, limits.body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            key = None
            if self.keys is not None and scope["path"] not in OPEN_PATHS:
                key = self.keys.check(headers.get("authorization"))
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_body_bytes:
                raise APIError(self._too_large(int(length)), status=413, code="request_too_large")
        except APIError as error:
            await JSONResponse(error.body(), status_code=error.status, headers=error.headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["key"] = key
        await self.app(scope, self._counting(receive), send)

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
