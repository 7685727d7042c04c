"""The cloud app's device routes: search ("+"), bind, list, name/rename, unbind, hand over, installer access, and the
network command ("configure network", "AP"). Every route finds the device through ``cloud/devices.py``'s
:func:`~ml314.cloud.devices.access`: a device the user has no role on is 404, as one that does not exist."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ml314.cloud import devices as dev
from ml314.cloud import fleet_read
from ml314.cloud.commands import network_command
from ml314.cloud.refusals import RefusedError
from ml314.web.cloud_context import CloudContext

__all__ = ["devices_router"]

Serial = Annotated[str, PathParam(max_length=64, description="the device's serial number (ML314-…)")]


class SearchBody(BaseModel):
    serial: str = Field(max_length=64, description="the serial on the LCD or the label (ML314-…)")


class BindBody(BaseModel):
    serial: str = Field(max_length=64, description="the device's serial number")
    claim_code: str = Field(max_length=64, description="the claim code of the device's label (`ml314 label`)")
    name: str | None = Field(None, max_length=200, description="a name for it (default: the serial)")


class NameBody(BaseModel):
    name: str = Field(max_length=200, description="the new name (empty: the serial)")


class UserBody(BaseModel):
    username: str = Field(max_length=320, description="the other account's username")


class GrantBody(UserBody):
    hours: float = Field(168.0, description="how long the installer may look (1 hour to 720 = 30 days)")


class NetworkBody(BaseModel):
    mode: Literal["ap", "sta"] = Field(description="'sta': join the Wi-Fi network below; 'ap': the device's own AP")
    ssid: str | None = Field(None, max_length=64, description="the 2.4 GHz network's name (sta)")
    password: str | None = Field(None, max_length=128, description="its WPA2 passphrase (sta; never stored)")


def devices_router(ctx: CloudContext) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["devices"])

    @router.get("/devices")
    def list_devices(request: Request) -> dict[str, Any]:
        """The devices this account owns, then those it has installer access to; each with ``online`` and the
        bank's newest ``soc_pct`` (null before the first sample)."""
        user = ctx.user_of(request)

        def work(conn: Any) -> list[dict[str, Any]]:
            found = dev.my_devices(conn, user, ctx.clock())
            serials = [d.serial for d in found]
            status = fleet_read.device_status(conn, serials)
            latest = fleet_read.latest_samples(conn, serials)
            return [
                {
                    **d.json(),
                    "online": status[d.serial]["online"],
                    "soc_pct": latest[d.serial]["bank"].get("soc_pct") if d.serial in latest else None,
                }
                for d in found
            ]

        return {"devices": ctx.tx(work)}

    @router.post("/search")
    def search(body: Annotated[SearchBody, Body()], request: Request) -> dict[str, Any]:
        """The "+" search: the device with this exact serial, whether it can be bound (404 when there is no such
        device; 429 past 30 searches a minute)."""
        user = ctx.user_of(request)
        ctx.search_limit.hit(f"user:{user.id}", ctx.clock())
        return ctx.tx(lambda conn: dev.search(conn, user, body.serial))

    @router.post("/devices", status_code=201)
    def bind(body: Annotated[BindBody, Body()], request: Request) -> dict[str, Any]:
        """Bind a device with its label's claim code (proof of possession). 403 ``claim_code_wrong``, 429
        ``bind_locked`` (5 wrong codes in a row: 30 s, doubling to 15 min), 409 ``already_bound``."""
        user = ctx.user_of(request)
        ctx.bind_limit.hit(ctx.address(request), ctx.clock())
        found = ctx.tx(
            lambda conn: dev.bind(conn, user, body.serial, body.claim_code, name=body.name, now_s=ctx.clock())
        )
        return found.json()

    @router.get("/devices/{serial}")
    def device(serial: Serial, request: Request) -> dict[str, Any]:
        """The device as this account sees it (role, name, until when)."""
        user = ctx.user_of(request)
        return ctx.tx(lambda conn: dev.access(conn, user, serial, "read", ctx.clock())).json()

    @router.patch("/devices/{serial}")
    def rename(serial: Serial, body: Annotated[NameBody, Body()], request: Request) -> dict[str, Any]:
        """Name or rename the device (owner)."""
        user = ctx.user_of(request)
        return ctx.tx(lambda conn: dev.rename(conn, user, serial, body.name, ctx.clock())).json()

    @router.delete("/devices/{serial}", status_code=204)
    def unbind(serial: Serial, request: Request) -> None:
        """Unbind the device (owner); its installer grants end too."""
        user = ctx.user_of(request)
        ctx.tx(lambda conn: dev.unbind(conn, user, serial, ctx.clock()))

    @router.post("/devices/{serial}/handover", status_code=204)
    def hand_over(serial: Serial, body: Annotated[UserBody, Body()], request: Request) -> None:
        """Give the device to another account (owner): it becomes that account's, unnamed, without grants."""
        user = ctx.user_of(request)
        ctx.tx(lambda conn: dev.hand_over(conn, user, serial, body.username, ctx.clock()))

    @router.get("/devices/{serial}/access")
    def grants(serial: Serial, request: Request) -> dict[str, Any]:
        """Who else may see the device and until when (owner)."""
        user = ctx.user_of(request)
        return {"grants": ctx.tx(lambda conn: dev.grants_of(conn, user, serial, ctx.clock()))}

    @router.post("/devices/{serial}/access", status_code=201)
    def grant(serial: Serial, body: Annotated[GrantBody, Body()], request: Request) -> dict[str, Any]:
        """Give an installer read-only access for ``hours`` (owner)."""
        user = ctx.user_of(request)
        return ctx.tx(lambda conn: dev.grant(conn, user, serial, body.username, hours=body.hours, now_s=ctx.clock()))

    @router.delete("/devices/{serial}/access/{username}", status_code=204)
    def revoke(serial: Serial, username: Annotated[str, PathParam(max_length=320)], request: Request) -> None:
        """End an installer's access now (owner)."""
        user = ctx.user_of(request)
        ctx.tx(lambda conn: dev.revoke(conn, user, serial, username, ctx.clock()))

    @router.post("/devices/{serial}/network", response_model=None)
    def network(
        serial: Serial, body: Annotated[NetworkBody, Body()], request: Request
    ) -> dict[str, Any] | JSONResponse:
        """Configure the device's network (owner): ``sta`` joins the given 2.4 GHz Wi-Fi, ``ap`` switches it to
        its own AP ("Smart Battery-XXXX"). Sent as ``ml314/<serial>/cmd/network``; 200 with the device's answer,
        or 202 when it has not answered within a few seconds (an offline device does not get it: send it again
        once the device is online)."""
        user = ctx.user_of(request)
        found = ctx.tx(lambda conn: dev.access(conn, user, serial, "command", ctx.clock()))
        payload = network_command(body.mode, body.ssid, body.password)
        if ctx.commands is None:
            raise RefusedError("this cloud app has no MQTT connection to send commands", "no_broker")
        result = ctx.commands.send(found.serial, "network", payload, ctx.command_wait_s)
        if result is None:
            return JSONResponse({"sent": True, "result": None}, status_code=202)
        return {"sent": True, "result": result.json()}

    @router.get("/devices/{serial}/result")
    def last_result(serial: Serial, request: Request) -> dict[str, Any]:
        """The device's newest answer to a command, as this server saw it (null: none yet)."""
        user = ctx.user_of(request)
        found = ctx.tx(lambda conn: dev.access(conn, user, serial, "read", ctx.clock()))
        result = ctx.commands.last_result(found.serial) if ctx.commands is not None else None
        return {"result": None if result is None else result.json()}

    return router
