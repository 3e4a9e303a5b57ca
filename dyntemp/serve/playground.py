"""The playground at ``/``: a page (``static/playground.html``, its script and uPlot, vendored: no
network beyond this server) that streams a reply with each token coloured by its temperature, on
the colour scale the terminal and the plots use (``/playground/scale``). The page and its files are
open; the API calls it makes carry the key, asked once and kept in the page's session."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ..colour import SCALE

STATIC = Path(__file__).parent / "static"
#: Where the page's files are served; open without a key (they hold no data).
PREFIX = "/playground"


def playground_router(key_required: bool) -> APIRouter:
    """``/`` and ``/playground/scale``, ``/playground/auth`` (whether API calls need a key, so that
    the page asks for it before its first call)."""
    router = APIRouter(include_in_schema=False)

    @router.get(f"{PREFIX}/auth")
    async def auth():
        return {"key_required": key_required}

    @router.get("/")
    async def page():
        return FileResponse(STATIC / "playground.html")

    @router.get(f"{PREFIX}/scale")
    async def scale():
        return {"low": SCALE.low, "high": SCALE.high, "cold": SCALE.cold, "middle": SCALE.middle, "hot": SCALE.hot,
                "missing": SCALE.missing}

    return router


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)
