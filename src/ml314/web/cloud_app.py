"""The app's Wi-Fi (cloud) mode, served by ``ml314 cloud``: the JSON API under ``/api`` and the mobile-first web app
at ``/`` (``web/static/cloud/``: vanilla JS, no CDN, no build step). ``docs/app.md`` describes both.

:func:`create_cloud_app` builds it on a SQLAlchemy engine (the fleet database: the app's ``app_*`` tables beside
the fleet store's telemetry) and, for the network commands, a :class:`~ml314.cloud.commands.CommandPort`. Every
error is the JSON form of ``web/errors.py`` (``web/cloud_errors.py`` adds the refusals' statuses).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ml314.cloud.account_schema import create_account_schema
from ml314.cloud.commands import CommandPort
from ml314.cloud.fleet_schema import create_schema as create_fleet_schema
from ml314.cloud.password_policy import PasswordPolicy
from ml314.web.cloud_accounts_api import accounts_router
from ml314.web.cloud_context import CloudContext, Limits
from ml314.web.cloud_devices_api import devices_router
from ml314.web.cloud_errors import install_cloud_error_handlers
from ml314.web.cloud_telemetry_api import telemetry_router
from ml314.web.errors import error_body

__all__ = ["create_cloud_app"]

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
#: every page's headers: no framing by other sites, no sniffing, no referrer, scripts only from here
_PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


def _root() -> Traversable:
    return resources.files("ml314.web").joinpath("static", "cloud")


def _pages_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(_root().joinpath("index.html").read_text(encoding="utf-8"), headers=_PAGE_HEADERS)

    @router.get("/cloud/{name}")
    async def asset(name: str) -> Response:
        node = _root().joinpath(name)
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if name.startswith(".") or "/" in name or suffix not in _TYPES or not node.is_file():
            return JSONResponse(error_body("not_found", f"no such file: /cloud/{name}"), status_code=404)
        return Response(node.read_bytes(), media_type=_TYPES[suffix], headers=_PAGE_HEADERS)

    return router


def create_cloud_app(
    engine: sa.Engine,
    *,
    policy: PasswordPolicy | None = None,
    commands: CommandPort | None = None,
    limits: Limits | None = None,
    create_schema: bool = True,
    clock: Callable[[], float] = time.time,
    command_wait_s: float = 5.0,
) -> FastAPI:
    """The cloud app on ``engine`` (the fleet store's and its own tables created when missing unless
    ``create_schema`` is off); ``clock``
    gives Unix seconds (tests move it on to expire sessions, locks and grants); a network command waits up to
    ``command_wait_s`` for the device's answer."""
    if create_schema:
        create_fleet_schema(engine)
        create_account_schema(engine)
    ctx = CloudContext(
        engine, policy or PasswordPolicy(), commands, limits or Limits(), command_wait_s=command_wait_s, clock=clock
    )
    app = FastAPI(
        title="ml314 cloud app",
        version="1",
        summary="The Smart Battery app's Wi-Fi mode: accounts, binding, devices, network commands, telemetry.",
    )
    app.state.cloud = ctx
    install_cloud_error_handlers(app)
    app.include_router(accounts_router(ctx))
    app.include_router(devices_router(ctx))
    app.include_router(telemetry_router(ctx))
    app.include_router(_pages_router())
    return app
