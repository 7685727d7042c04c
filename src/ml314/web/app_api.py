"""The Smart Battery app (manual 11) as served by ``ml314 run``: the mobile-first page at ``/app/`` and its local
mode, "find devices near you".

A browser cannot scan for devices, so the app's transport runs here, in the process that serves the page (on the
product the phone's Bluetooth does it): :class:`~ml314.adapters.device_transport.DeviceTransport` (mDNS on the
local network; BLE would be another transport). The page asks this backend:

* ``GET /api/app/devices?wait=2``: a scan of ``wait`` seconds; the devices found (this one among them).
* ``POST /api/app/devices/{serial}/pairing``: the device shows a code; ``POST .../pair`` ``{"request", "code"}``:
  the pairing token, which the page keeps (``localStorage``) and sends back as ``X-Pairing-Token``.
* ``GET .../status``, ``GET .../system`` (bank and modules), ``PUT .../network``: through a session of the
  transport with that token.

The device's refusals come back as they are (its status, code and message), in the error form of
``web/errors.py``. On the AP listener the same page talks to the device's own API directly (``/api/...``).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ml314.adapters.device_transport import DeviceError, DeviceSession, DeviceTransport, FoundDevice
from ml314.web.errors import error_body

__all__ = ["APP_ASSETS", "app_router"]

APP_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}


class PairingBody(BaseModel):
    client: str = Field("the Smart Battery app", max_length=80)


class PairBody(BaseModel):
    request: str = Field(max_length=64)
    code: str = Field(max_length=16)


def _static(name: str) -> str:
    return resources.files("ml314.web").joinpath("static", "app", name).read_text(encoding="utf-8")


def _error(exc: DeviceError) -> JSONResponse:
    body = error_body(exc.code, str(exc), exc.field, **exc.extra)
    return JSONResponse(body, status_code=exc.status)


def _found(device: FoundDevice) -> dict[str, Any]:
    return {
        "serial": device.serial,
        "name": device.name,
        "mode": device.mode,
        "transport": device.transport,
        "address": device.address,
        "model": device.model,
    }


def app_router(transport: DeviceTransport | None) -> APIRouter:
    """The app's page and its local-mode backend on ``transport`` (None: local mode off, e.g. ``--mdns off``)."""
    router = APIRouter(tags=["app"])
    seen: dict[str, FoundDevice] = {}

    def local() -> DeviceTransport:
        if transport is None:
            raise DeviceError("local mode is off here (the AP listener, or ml314 run --no-mdns)", 409, "local_off")
        return transport

    def device(serial: str) -> FoundDevice:
        found = seen.get(serial)
        if found is None:
            raise DeviceError(f"device {serial} was not found by a scan: search again", 404, "not_found", "serial")
        return found

    async def call(fn: Any, *args: Any) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(fn, *args))
        except DeviceError as exc:
            return _error(exc)

    @router.get("/app", include_in_schema=False)
    @router.get("/app/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @router.get("/app/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in APP_ASSETS:
            return JSONResponse(error_body("not_found", f"no app asset {name!r}", "name"), status_code=404)
        return Response(_static(name), media_type=APP_ASSETS[name])

    @router.get("/api/app/devices", summary="Local mode: scan for devices nearby")
    async def scan(wait: float = Query(2.0, ge=0.2, le=10.0, description="seconds to scan")) -> Response:
        def run() -> dict[str, Any]:
            scanner = local()
            devices = scanner.discover(wait)
            for d in devices:
                seen[d.serial] = d
            return {"transport": scanner.name, "devices": [_found(d) for d in devices]}

        return await call(run)

    @router.post("/api/app/devices/{serial}/pairing", summary="Ask the device to show a pairing code")
    async def pairing(serial: str, body: PairingBody) -> Response:
        return await call(lambda: local().request_pairing(device(serial), body.client))

    @router.post("/api/app/devices/{serial}/pair", summary="The code the device showed: a pairing token")
    async def pair(serial: str, body: PairBody) -> Response:
        return await call(lambda: {"token": local().pair(device(serial), body.request, body.code)})

    def session_call(serial: str, token: str | None, what: Any) -> Any:
        if not token:
            raise DeviceError("pair with the device first (no pairing token)", 401, "pin_required", "token")
        session = local().connect(device(serial), token)
        try:
            return what(session)
        finally:
            session.close()

    @router.get("/api/app/devices/{serial}/status", summary="The device's network status")
    async def status(serial: str, token: str | None = Header(None, alias="X-Pairing-Token")) -> Response:
        return await call(session_call, serial, token, lambda s: s.status())

    @router.get("/api/app/devices/{serial}/system", summary="The battery system: bank, modules, diagnostics")
    async def system(serial: str, token: str | None = Header(None, alias="X-Pairing-Token")) -> Response:
        def read(s: DeviceSession) -> dict[str, Any]:
            try:
                diagnostics: dict[str, Any] | None = s.diagnostics()
            except DeviceError:  # a device without chapter 12's diagnostics still shows its battery system
                diagnostics = None
            return {"bank": s.bank(), "modules": s.modules(), "diagnostics": diagnostics}

        return await call(session_call, serial, token, read)

    @router.put("/api/app/devices/{serial}/network", summary="STA (Wi-Fi credentials) or AP")
    async def network(
        serial: str,
        change: Annotated[dict[str, Any], Body(description='{"mode": "sta", "ssid", "password"} or {"mode": "ap"}')],
        token: str | None = Header(None, alias="X-Pairing-Token"),
    ) -> Response:
        return await call(session_call, serial, token, lambda s: s.set_network(change))

    return router
