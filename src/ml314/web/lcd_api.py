"""The browser's LCD: the page model of :mod:`ml314.hmi.lcd` kept server-side, one state per module.

* ``GET /api/lcd?module=N``: the module's screen now (``to_jsonable(LcdScreen)``).
* ``POST /api/lcd/keys`` ``{"module": N, "key": "settings"}``: a touch or button of that LCD; the new screen.
  A protocol picked on the LCD goes to the device through ``PUT /api/protocols`` of this same application before
  the answer returns, so the screen already says "restart required" or the device's refusal.
* ``GET /lcd``: the page that draws the screen JSON and posts keys (``/lcd/lcd.js``, ``/lcd/lcd.css``: served from
  the package, no CDN).

The values come through the public API itself (:class:`~ml314.hmi.lcd_client.LcdClient` over an in-process ASGI
transport): the browser's LCD and ``ml314 lcd`` read the same endpoints and draw the same model. The PIN typed on
the LCD never goes back to the browser (the screen's pending action carries it masked).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ml314.domain.snapshot_json import to_jsonable
from ml314.errors import InputError, Ml314Error
from ml314.hmi.lcd import LcdScreen, LcdState, step
from ml314.hmi.lcd_client import LcdClient, LcdData
from ml314.web.errors import error_body

__all__ = ["LcdKey", "lcd_router"]

_ASSETS = {"lcd.js": "text/javascript", "lcd.css": "text/css"}


class LcdKey(BaseModel):
    """A touch on the LCD of one module: a button's ``key``, a digit, or ``touch``."""

    module: int = Field(1, ge=0, le=63, description="the module (its ID) whose LCD is touched")
    key: str = Field(..., min_length=1, max_length=80, description="the button's key as the screen lists it")


def _error(status: int, code: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


def _static(name: str) -> str:
    return resources.files("ml314.web").joinpath("static", name).read_text(encoding="utf-8")


class _Lcds:
    """The LCD states of the application's modules (server-side, as each module's LCD holds its own)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.states: dict[int, LcdState] = {}
        self.lock = asyncio.Lock()
        offset = dt.datetime.now().astimezone().utcoffset()
        self.utc_offset_s = offset.total_seconds() if offset else 0.0

    def client(self, request: Request) -> LcdClient:
        return LcdClient("http://ml314", transport=httpx.ASGITransport(app=request.app))

    def screen(self, state: LcdState, data: LcdData) -> dict[str, Any]:
        s: LcdScreen = data.screen(state, self.clock(), self.utc_offset_s)
        if s.action is not None:
            s = replace(s, action=replace(s.action, pin="*" * len(s.action.pin)))
        doc = to_jsonable(s)
        assert isinstance(doc, dict)
        return doc

    async def show(self, request: Request, module: int, key: str | None) -> Response:
        client = self.client(request)
        try:
            async with self.lock:
                data = await client.fetch(module)
                state = self.states.get(module) or LcdState(module_id=module)
                if key is not None:
                    state, _ = step(state, key, self.clock())
                    if state.pending is not None:  # the device answers before the screen goes back
                        reply = await client.change_protocol(state.pending)
                        state, _ = step(state, reply, self.clock())
                    self.states[module] = state
                return JSONResponse(self.screen(state, data))
        except InputError as exc:
            return _error(404, "not_found", str(exc), "module")
        except Ml314Error as exc:
            return _error(503, "unavailable", str(exc), None)
        finally:
            await client.close()


def lcd_router(*, clock: Callable[[], float] = time.time) -> APIRouter:
    """The LCD's routes (one set of LCD states per router, i.e. per application)."""
    router = APIRouter(tags=["lcd"])
    lcds = _Lcds(clock)

    @router.get("/api/lcd", summary="The LCD screen of a module now (manual 10.1)")
    async def get_lcd(request: Request, module: int = 1) -> Response:
        if not 0 <= module <= 63:
            return _error(400, "invalid_field", f"module {module} is not a DIP ID of 0..63", "module")
        return await lcds.show(request, module, None)

    @router.post("/api/lcd/keys", summary="Touch a button of a module's LCD; the new screen")
    async def post_key(request: Request, body: LcdKey) -> Response:
        return await lcds.show(request, body.module, body.key)

    @router.get("/lcd", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_static("lcd.html"))

    @router.get("/lcd/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in _ASSETS:
            return _error(404, "not_found", f"no LCD asset {name!r}", "name")
        return Response(_static(name), media_type=_ASSETS[name])

    return router
