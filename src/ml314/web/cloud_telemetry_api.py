"""The cloud app's battery-system view: the newest sample and the device's status, the bank's history and the event
log, read from the fleet store (``cloud/fleet_read.py``) for a device the user may read (owner or installer). The
serial goes to the store only after :func:`~ml314.cloud.devices.access` found it among the user's devices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam

from ml314.cloud import devices as dev
from ml314.cloud import fleet_read
from ml314.cloud.refusals import RefusedError
from ml314.web.cloud_context import CloudContext

__all__ = ["MAX_BUCKETS", "telemetry_router"]

Serial = Annotated[str, PathParam(max_length=64, description="the device's serial number (ML314-…)")]
#: the most rows one history request returns (the span divided by the step)
MAX_BUCKETS = 2000


def telemetry_router(ctx: CloudContext) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["battery system"])

    @router.get("/devices/{serial}/now")
    def now(serial: Serial, request: Request) -> dict[str, Any]:
        """The device's status (``online``, when the cloud last heard of it) and its newest sample as the device
        sent it (bank SOC, power, alarms; every module); ``sample`` is null before the first one."""
        user = ctx.user_of(request)

        def work(conn: Any) -> dict[str, Any]:
            found = dev.access(conn, user, serial, "read", ctx.clock())
            status = fleet_read.device_status(conn, [found.serial])[found.serial]
            sample = fleet_read.latest_samples(conn, [found.serial]).get(found.serial)
            return {"serial": found.serial, "status": status, "sample": sample}

        return ctx.tx(work)

    @router.get("/devices/{serial}/history")
    def history(
        serial: Serial,
        request: Request,
        from_ts: Annotated[float | None, Query(alias="from", description="Unix seconds (default: 24 h ago)")] = None,
        to_ts: Annotated[float | None, Query(alias="to", description="Unix seconds, exclusive (default: now)")] = None,
        step: Annotated[float, Query(gt=0, description="bucket width in seconds")] = 300.0,
    ) -> dict[str, Any]:
        """The bank's SOC, voltage, current and power, the mean of each ``step`` (at most 2000 rows)."""
        user = ctx.user_of(request)
        end = ctx.clock() if to_ts is None else to_ts
        start = end - 86_400.0 if from_ts is None else from_ts
        if not end > start:
            raise RefusedError("history: 'to' must be after 'from'", "invalid_field", "to")
        if (end - start) / step > MAX_BUCKETS:
            raise RefusedError(f"history: at most {MAX_BUCKETS} rows; a larger step", "invalid_field", "step")

        def work(conn: Any) -> dict[str, Any]:
            found = dev.access(conn, user, serial, "read", ctx.clock())
            rows = fleet_read.bank_history(conn, found.serial, start, end, step)
            return {"serial": found.serial, "from": start, "to": end, "step": step, "rows": rows}

        return ctx.tx(work)

    @router.get("/devices/{serial}/events")
    def events(serial: Serial, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        """The device's newest BMS events, newest first."""
        user = ctx.user_of(request)

        def work(conn: Any) -> dict[str, Any]:
            found = dev.access(conn, user, serial, "read", ctx.clock())
            return {"serial": found.serial, "events": fleet_read.device_events(conn, found.serial, limit)}

        return ctx.tx(work)

    return router
