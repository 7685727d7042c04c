"""The PC software in the browser: overview with the cell heat-map (``/``), event log (``/events``), parameter
set and protocol settings (``/settings``), front panel (``/panel``); history (``/history``) when the history API
is served too.

Static pages served from the package (``web/static/pages/``; no CDN, works offline, no build step): each page is
vanilla JS on the public API of :mod:`ml314.web.app` (REST under ``/api`` and the ``/api/live`` WebSocket), so the
pages hold no state of their own. Assets are under ``/pages/`` (vendored libraries under ``/pages/vendor/``).
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ml314.web.errors import error_body

__all__ = ["PAGES", "pages_router"]

#: URL path -> the page's HTML file
PAGES = {
    "/": "index.html",
    "/events": "events.html",
    "/settings": "settings.html",
    "/panel": "panel.html",
    "/history": "history.html",
    "/maintenance": "maintenance.html",
    "/diagnostics": "diagnostics.html",
    "/commission": "commission.html",
}

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".txt": "text/plain"}


def _root() -> Traversable:
    return resources.files("ml314.web").joinpath("static", "pages")


def _asset(path: str) -> Traversable | None:
    """The packaged file at ``path`` (``name`` or ``vendor/name``); None for anything else."""
    parts = path.split("/")
    if not 1 <= len(parts) <= 2 or (len(parts) == 2 and parts[0] != "vendor"):
        return None
    if any(p in {"", ".", ".."} or p.startswith(".") for p in parts):
        return None
    node = _root().joinpath(*parts)
    return node if node.is_file() else None


def pages_router() -> APIRouter:
    """The pages' routes: each page at its path, their assets under ``/pages/``."""
    router = APIRouter(include_in_schema=False)

    def page_route(path: str, filename: str) -> None:
        async def page() -> HTMLResponse:
            return HTMLResponse(_root().joinpath(filename).read_text(encoding="utf-8"))

        page.__name__ = f"page_{filename.split('.', maxsplit=1)[0]}"
        router.get(path, response_class=HTMLResponse)(page)

    for path, filename in PAGES.items():
        page_route(path, filename)

    @router.get("/pages/{path:path}")
    async def asset(path: str) -> Response:
        node = _asset(path)
        suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ""
        if node is None or suffix not in _TYPES:
            return JSONResponse(error_body("not_found", f"no page asset {path!r}", "path"), status_code=404)
        return Response(node.read_bytes(), media_type=_TYPES[suffix])

    return router
