"""The device's own side of the Smart Battery app (manual 11): who it is, pairing in local mode, its network mode
and Wi-Fi credentials, and the login on its AP. ``docs/app-device.md`` describes the flow.

* ``GET /api/device``: the device's public face (serial, name, network mode; which listener answered).
* ``POST /api/device/pairing`` ``{"client": NAME}``: the device shows a 6-digit code on its display.
* ``POST /api/device/pair`` ``{"request", "code"}``: the pairing token for the right code (403 otherwise).
* ``GET /api/device/network``: the network status (a pairing token or an AP session).
* ``PUT /api/device/network`` ``{"mode": "sta", "ssid", "password"}`` or ``{"mode": "ap"}``: with a pairing token
  (``Authorization: Bearer TOKEN``), an AP session, or the technician PIN (``"pin"`` in the body).
* ``POST /api/ap/login`` ``{"password"}`` (the AP listener only): the device's AP password opens an AP session
  (an HttpOnly cookie); wrong passwords are rate-limited.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ml314.domain.network import NetworkMode, ap_ssid
from ml314.runtime.network import AP_SESSION_S, DeviceNetwork, parse_change
from ml314.runtime.surface import PinRequiredError, Surface

__all__ = ["AP_COOKIE", "ap_router", "bearer", "device_router"]

#: the AP session's cookie
AP_COOKIE = "ml314_ap"


class PairingBody(BaseModel):
    client: str = Field("the Smart Battery app", max_length=80, description="how the device names the app asking")


class PairBody(BaseModel):
    request: str = Field(max_length=64, description="the pairing request's id (from POST /api/device/pairing)")
    code: str = Field(max_length=16, description="the 6-digit code the device shows")


class NetworkBody(BaseModel):
    mode: Literal["sta", "ap"] = Field(description="sta: Wi-Fi mode (join ssid); ap: the device's own network")
    ssid: str | None = Field(None, description="the 2.4 GHz network (1..32 bytes); Wi-Fi mode only")
    password: str | None = Field(None, description="its WPA2 passphrase (8..63 characters); Wi-Fi mode only")
    pin: str | None = Field(None, description="the technician PIN, when no pairing token or AP session is given")


class LoginBody(BaseModel):
    password: str = Field(max_length=128, description="the device's AP password (label page; `ml314 label`)")


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if kind.lower() == "bearer" else None


def _on_ap(request: Request) -> bool:
    """Whether the request came through the AP listener with a valid AP session (the guard set it)."""
    return bool(getattr(request.state, "ap_session", False))


def device_router(network: DeviceNetwork, surface: Surface, *, listener: Literal["local", "ap"]) -> APIRouter:
    """The device's routes on one of its listeners (``local``: the ``--http`` API; ``ap``: the AP address)."""
    router = APIRouter(prefix="/api/device", tags=["device"])

    @router.get("", summary="The device: serial, name, network mode (public)")
    def get_device() -> dict[str, Any]:
        mode = network.mode
        return {
            "serial": network.serial,
            "name": ap_ssid(network.serial),
            "model": "ML314-51.2-W08",
            "mode": mode.value,
            "mode_label": mode.label,
            "listener": listener,
            "pairing": "a 6-digit code on the device's display (the console of `ml314 run`)",
        }

    @router.post("/pairing", summary="Ask to pair: the device shows a code")
    def post_pairing(body: PairingBody) -> dict[str, Any]:
        return network.request_pairing(body.client)

    @router.post("/pair", summary="Pair with the code the device showed: a pairing token")
    def post_pair(body: PairBody) -> dict[str, Any]:
        return network.pair(body.request, body.code)

    @router.get("/network", summary="The network status (pairing token or AP session)")
    def get_network(request: Request) -> dict[str, Any]:
        if not _on_ap(request):
            network.authorize(bearer(request), None, surface.grant)
        return network.status()

    @router.put("/network", summary="Wi-Fi mode with credentials, or AP mode (token, AP session or PIN)")
    def put_network(request: Request, body: NetworkBody) -> dict[str, Any]:
        change = parse_change(body.model_dump(exclude={"pin"}))  # the credentials are checked before the secret
        if not _on_ap(request):
            network.authorize(bearer(request), body.pin, surface.grant)
        return network.change(change, via=f"through the {listener} API")

    return router


def ap_router(network: DeviceNetwork) -> APIRouter:
    """The AP listener's login (the guard lets this route through without a session)."""
    router = APIRouter(prefix="/api/ap", tags=["device"])

    @router.post("/login", summary="Log in with the device's AP password (rate-limited)")
    async def login(body: LoginBody) -> JSONResponse:
        if not body.password:
            raise PinRequiredError("the device's AP password is required", "password")
        token = await run_in_threadpool(network.ap_login, body.password)  # Argon2id: not on the event loop
        response = JSONResponse({"status": "logged_in", "serial": network.serial, "expires_in_s": AP_SESSION_S})
        response.set_cookie(AP_COOKIE, token, max_age=int(AP_SESSION_S), httponly=True, samesite="strict")
        return response

    @router.post("/logout", summary="End the AP session")
    async def logout() -> JSONResponse:
        response = JSONResponse({"status": "logged_out"})
        response.delete_cookie(AP_COOKIE)
        return response

    return router


def ap_is_on(network: DeviceNetwork) -> bool:
    return network.mode is NetworkMode.AP
