"""The web API of a running ``ml314 run``: REST for the bank, its modules, the event log, the parameter set and the
protocol selection, the front panel's buttons, switches and breaker, and a WebSocket of live values.

:func:`create_app` builds the FastAPI application on a :class:`~ml314.runtime.surface.Surface`; the app only reads
the surface's views and sends it requests (DESIGN.md: surfaces read snapshots and send requests). Every error is
the JSON form of ``web/errors.py``. OpenAPI at ``/openapi.json``, interactive docs at ``/docs``; ``docs/web.md``
describes each route.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import Future
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Path, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ml314.domain.snapshot_json import to_jsonable
from ml314.protocols.registry import Entry, entries
from ml314.runtime.surface import EventQuery, LiveView, SurfaceError, SurfacePort
from ml314.web.errors import ERROR_RESPONSES, install_error_handlers
from ml314.web.views import ViewCache, bank_json, event_json, live_json, module_json

__all__ = ["APPLY_TIMEOUT_S", "LIVE_INTERVAL_S", "create_app"]

#: how long a request waits for the run loop to apply it before it answers 202 (queued)
APPLY_TIMEOUT_S = 5.0
#: at most one live message per this interval (a little under 1 s, so a 1 Hz run loop's jitter drops none)
LIVE_INTERVAL_S = 0.9

ModuleId = Annotated[int, Path(ge=0, le=63, description="the module's DIP ID (as its BMS read it)")]


# ------------------------------------------------------------------------------------------------- bodies
class PinBody(BaseModel):
    pin: str | None = Field(None, description="the device's technician PIN (label page; `ml314 label`)")


class ProtocolsBody(PinBody):
    can: str | None = Field(None, description="CAN protocol: P-code (CAN:P14) or name (pylon-can); null keeps it")
    rs485: str | None = Field(None, description="RS485 protocol: P-code (RS485:P04) or name; null keeps it")


class ParametersBody(PinBody):
    text: str = Field(description="the parameter set as TOML, as `ml314 run --params FILE` takes it")


class ButtonBody(BaseModel):
    module: int | None = Field(None, ge=0, le=63, description="DIP ID of the module (may be left out with 1 module)")
    long: bool = Field(False, description="ON/OFF held 3 s (shuts the BMS down); RESET ignores it")


class DipBody(BaseModel):
    switches: list[bool] = Field(description="8 positions, switch 1 (leftmost) first, true = ON (lever down)")


class BreakerBody(BaseModel):
    module: int | None = Field(None, ge=0, le=63, description="DIP ID of the module (may be left out with 1 module)")
    closed: bool = Field(description="true: closed (DC output on); false: open")


# --------------------------------------------------------------------------------------------- live hub
class _Subscriber:
    """One WebSocket client of ``/api/live``: the newest message not sent to it yet (a slow client skips to the
    newest: its backlog is one message), and whether it wants the cells."""

    def __init__(self, cells: bool) -> None:
        self.cells = cells
        self.pending: str | None = None
        self.closed = False
        self.ready = asyncio.Event()

    def offer(self, text: str) -> None:
        self.pending = text
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    async def next(self) -> str | None:
        """The next message to send; None once the client or the server closed."""
        while not self.closed:
            text, self.pending = self.pending, None
            if text is not None:
                return text
            self.ready.clear()
            await self.ready.wait()
        return None


class _LiveHub:
    """Broadcasts the run loop's views to every ``/api/live`` client: each view is handed from the run loop's thread
    to the event loop once, encoded once per variant (with or without the cells) and the same text offered to every
    subscriber, at most once per :data:`LIVE_INTERVAL_S` (a faster run loop's views in between are skipped; the
    newest goes out when the interval ends)."""

    def __init__(self, surface: SurfacePort, cache: ViewCache) -> None:
        self.surface = surface
        self.cache = cache
        self.latest: LiveView | None = None
        self.subscribers: set[_Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Any = None
        self._sent_at = -math.inf  # the event loop's time of the last broadcast
        self._sent_seq = -1
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(SurfaceError):
            self.latest = self.surface.view()
        self._unsubscribe = self.surface.subscribe(self._from_run_loop)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
        for sub in self.subscribers:
            sub.close()

    def text(self, view: LiveView, cells: bool) -> str:
        key = "live+cells" if cells else "live"
        return self.cache.text(view, key, functools.partial(live_json, cells=cells))

    def join(self, cells: bool) -> _Subscriber:
        """A new subscriber, offered the view current now (the next broadcast follows)."""
        sub = _Subscriber(cells)
        if self.latest is not None:
            sub.offer(self.text(self.latest, cells))
        self.subscribers.add(sub)
        return sub

    def _from_run_loop(self, view: LiveView) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the event loop closed meanwhile
                loop.call_soon_threadsafe(self._publish, view)

    def _publish(self, view: LiveView) -> None:
        self.latest = view
        if self._timer is not None:  # a broadcast is due at the end of the interval: it takes this view
            return
        assert self._loop is not None
        wait = self._sent_at + LIVE_INTERVAL_S - self._loop.time()
        if wait <= 0:
            self._broadcast()
        else:
            self._timer = self._loop.call_later(wait, self._broadcast)

    def _broadcast(self) -> None:
        self._timer = None
        view = self.latest
        if view is None or view.seq <= self._sent_seq:
            return
        assert self._loop is not None
        self._sent_at, self._sent_seq = self._loop.time(), view.seq
        texts: dict[bool, str] = {}
        for sub in self.subscribers:
            text = texts.get(sub.cells)
            if text is None:
                text = texts[sub.cells] = self.text(view, sub.cells)
            sub.offer(text)


# ------------------------------------------------------------------------------------------------ the app
def create_app(surface: SurfacePort, *, routers: Iterable[APIRouter] = ()) -> FastAPI:
    """The API on ``surface``; ``routers`` are included as they are (history, LCD pages)."""
    cache = ViewCache()
    hub = _LiveHub(surface, cache)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        del app
        hub.start()
        try:
            yield
        finally:
            hub.stop()

    app = FastAPI(
        title="ml314",
        summary="The ML314-51.2-W08 battery live: bank, modules, front panel, event log, settings.",
        description="Every snapshot is the JSON form of its dataclass (`ml314.domain.snapshot_json`). "
        'Errors: `{"error": {"code", "message", "field"}}`. See docs/web.md.',
        version="1",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(app)
    api = APIRouter(prefix="/api")

    def single(module: int | None) -> int:
        if module is not None:
            return module
        view = surface.view()
        if len(view.panels) != 1:
            raise SurfaceError(f"the bank has {len(view.panels)} modules: name one by its DIP ID", "module")
        return view.panels[0].module_id

    async def applied(future: Future[dict[str, Any]]) -> Response:
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), APPLY_TIMEOUT_S)
        except TimeoutError:
            return JSONResponse({"status": "queued"}, status_code=202)
        return JSONResponse({"status": "applied", **result})

    def text(key: str, build: Any) -> Response:
        view = surface.view()
        return Response(cache.text(view, key, build), media_type="application/json")

    # ------------------------------------------------------------------------------------------ bank
    @api.get("/bank", summary="The bank as its master presents it", tags=["bank"])
    async def get_bank() -> Response:
        """`bank` (BankStatus: voltage, current, SOC, limits, alarms, the modules the master found),
        `modules_total`, `modules_online`, `faults` (SystemFault), `links` (LinkHealthSnapshot), `peer` (what
        the built-in inverter peer decoded), `protocols` running."""
        return text("bank", bank_json)

    @api.get("/modules", summary="Every module, chain order", tags=["modules"])
    async def get_modules(cells: bool = Query(False, description="include the 16 cell voltages")) -> Response:
        """A list of module bodies (as `GET /api/modules/{id}`)."""
        key = "modules+cells" if cells else "modules"
        return text(key, lambda v: [module_json(v, i, cells=cells) for i in range(len(v.panels))])

    @api.get("/modules/{module_id}", summary="One module: cells, temperatures, LEDs, state, counters", tags=["modules"])
    async def get_module(module_id: ModuleId) -> Response:
        """`module` (ModuleStatus), `online`, `powered`, `leds` (Table 6-4 row, patterns, lit now, fault code),
        `dip` (as its BMS read them), `dip_pending` (moved since, read at RESET) or null, `breaker_closed`."""
        i = surface.view().index_of(module_id)
        return text(f"module/{i}", lambda v: module_json(v, i))

    @api.put("/modules/{module_id}/dip", summary="Move the DIP switches (read at the next RESET)", tags=["panel"])
    async def put_dip(module_id: ModuleId, body: DipBody) -> Response:
        """As on the product (manual 6.3, 8.5): the BMS reads the ID switches at start and at RESET only, so the
        module keeps its ID until `POST /api/buttons/reset`."""
        return await applied(surface.set_dip(module_id, tuple(body.switches)))

    @api.post("/buttons/{button}", summary="Press RESET or the ON/OFF switch", tags=["panel"])
    async def press(button: Literal["reset", "power"], body: Annotated[ButtonBody | None, Body()] = None) -> Response:
        """RESET restarts the module's BMS, which reads its DIP switches; ON/OFF starts a BMS that is off or
        asleep, held (`long`) shuts it down."""
        b = body or ButtonBody(module=None, long=False)
        module = single(b.module)
        future = surface.press_reset(module) if button == "reset" else surface.press_power(module, long=b.long)
        return await applied(future)

    @api.post("/breaker", summary="Close or open a module's DC breaker", tags=["panel"])
    async def breaker(body: BreakerBody) -> Response:
        return await applied(surface.set_breaker(single(body.module), body.closed))

    # ------------------------------------------------------------------------------------------ events
    @api.get("/events", summary="The BMS event log", tags=["events"])
    async def get_events(  # noqa: PLR0917 - one parameter per query field
        module: int | None = Query(None, ge=0, le=63, description="DIP ID (0: the bank)"),
        kind: str | None = Query(None, description="trip, release, lockout, latch, alarm, state, sync, info"),
        from_s: float | None = Query(None, alias="from", description="simulated seconds, inclusive"),
        to_s: float | None = Query(None, alias="to", description="simulated seconds, inclusive"),
        unacknowledged: bool = Query(False, description="only events not acknowledged yet"),
        limit: int = Query(1000, description="at most this many, the newest"),
    ) -> dict[str, Any]:
        """Oldest first; each event is `to_jsonable(Event)` with its `id` and `acknowledged`."""
        query = EventQuery(module, kind, from_s, to_s, unacknowledged, limit)
        rows = surface.events(query)
        return {"events": [event_json(i, e, a) for i, e, a in rows], "count": len(rows)}

    @api.post("/events/{event_id}/ack", summary="Acknowledge an event", tags=["events"])
    def ack(event_id: int) -> dict[str, Any]:
        """Kept in the data dir (`acks.json`), so a restart keeps it; in memory when the run has no data dir."""
        i, event = surface.acknowledge(event_id)
        return event_json(i, event, True)

    # ---------------------------------------------------------------------------------------- settings
    @api.get("/parameters", summary="The BMS parameter set", tags=["settings"])
    def get_parameters() -> dict[str, Any]:
        """`running` (the set the BMS runs with), `text` and `source` of the set the next start runs."""
        running, toml, source = surface.parameters()
        return {"name": running.name, "running": to_jsonable(running), "text": toml, "source": source}

    @api.put("/parameters", summary="Install a parameter set (PIN)", tags=["settings"])
    def put_parameters(body: ParametersBody) -> dict[str, Any]:
        """Validated exactly as `--params` is (consistency, safety envelope) before the PIN is checked; takes
        effect at the next start."""
        params = surface.install_parameters(body.pin, body.text)
        return {"name": params.name, "restart_required": True}

    @api.get("/protocols", summary="The protocol selection and the protocols there are", tags=["settings"])
    def get_protocols() -> dict[str, Any]:
        selection = surface.protocols()
        view = surface.view()
        return {
            "can": _entry(selection.can),
            "rs485": _entry(selection.rs485),
            "running": {"can": view.can_protocol, "rs485": view.rs485_protocol},
            "available": [_entry(e) for e in entries()],
        }

    @api.put("/protocols", summary="Select the CAN / RS485 protocol (PIN; manual 10.1.5)", tags=["settings"])
    def put_protocols(body: ProtocolsBody) -> dict[str, Any]:
        """Takes effect at the next start (`restart_required`); a wrong PIN counts towards the lockout."""
        change = surface.set_protocols(body.pin, body.can, body.rs485)
        return {"can": change.can.name, "rs485": change.rs485.name, "restart_required": change.restart_required}

    # ---------------------------------------------------------------------------------------- live
    @app.websocket("/api/live")
    async def live(websocket: WebSocket, cells: bool = False) -> None:
        """One message per second: the bank and every module's values; the cell voltages with `?cells=1` or
        after the client sends `{"cells": true}`."""
        await websocket.accept()
        sub = hub.join(cells)

        async def listen() -> None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                while True:
                    message = await websocket.receive_json()
                    if isinstance(message, dict) and isinstance(message.get("cells"), bool):
                        sub.cells = message["cells"]
            sub.close()

        reader = asyncio.create_task(listen())
        try:
            while (text := await sub.next()) is not None:
                await websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.subscribers.discard(sub)
            reader.cancel()
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client or the server closed it
                await websocket.close()

    app.include_router(api)
    for router in routers:
        app.include_router(router)
    return app


def _entry(entry: Entry) -> dict[str, Any]:
    code = f"{entry.transport.value}:{entry.code}" if entry.code else entry.name
    return {"name": entry.name, "code": code, "brand": entry.brand, "transport": entry.transport.value}
