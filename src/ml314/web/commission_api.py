"""Commissioning on a running ``ml314 run``: the guided procedure's checks, the inverter detective and the installer
report over HTTP (the browser's commissioning page and ``ml314 commission --url`` read these).

    GET /api/commission?confirm=cables,clean     the checks (on-site steps confirmed by the keys given), modules,
                                                 protocols, what the detective heard, the first day
    GET /api/commission/cautions                 the cautions of 13.1 software can see, now (mixed, hot, range)
    GET /api/commission/inputs                   what the checks start from: the frames the battery's ports heard
                                                 lately (CAN ``ID#HEX``, RS485 hex chunks) and the device serial
    GET /api/commission/report.html?confirm=...  the installer report as one printable page

The same functions build the :class:`~ml314.diagnostics.checks.Installation` here (from the live view, through the
API's own JSON bodies) and in ``ml314 commission --url`` (from those bodies fetched over HTTP): one rule, one place.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from ml314.diagnostics.cautions import cautions
from ml314.diagnostics.checks import Check, Installation, ModuleFacts, Result, worst
from ml314.diagnostics.commissioning import SITE_STEPS, CommissionLimits, commission
from ml314.diagnostics.detective import Identification, identify_can, identify_rs485, rs485_frames
from ml314.diagnostics.first_day import DAY_S, FIELDS, FirstDay, first_day, max_soc_pct
from ml314.domain.faults import SystemFaultKind
from ml314.errors import InputError
from ml314.protocols.base import CanFrame
from ml314.protocols.registry import resolve
from ml314.runtime.surface import SurfacePort
from ml314.storage.history import HistoryStore
from ml314.storage.installer_report import InstallerReport, render_html
from ml314.web.views import bank_json, module_json

__all__ = [
    "Heard",
    "check_json",
    "commission_doc",
    "commission_router",
    "first_day_columns",
    "frames_from_text",
    "installation_from_api",
    "parse_confirm",
]

#: what the battery's ports heard lately: CAN frames and RS485 byte chunks
Heard = tuple[Sequence[CanFrame], Sequence[bytes]]
#: the days of history searched for the first day
HISTORY_DAYS = 60


def parse_confirm(text: str | None) -> frozenset[str]:
    """``cables,clean`` or ``all`` -> the on-site step keys; an unknown key is an InputError naming it."""
    if not text:
        return frozenset()
    keys = {k.strip() for k in text.split(",") if k.strip()}
    every = {s.key for s in SITE_STEPS}
    if "all" in keys:
        return frozenset(every)
    unknown = keys - every
    if unknown:
        raise InputError(f"confirm: unknown step {', '.join(sorted(unknown))}; steps are {', '.join(sorted(every))}")
    return frozenset(keys)


def frames_from_text(can: Sequence[str], rs485: Sequence[str]) -> Heard:
    """The ``inputs`` body's frames back as frames (``ID#HEX``, 8 hex digits: extended)."""
    frames = []
    for item in can:
        ident, _, data = item.partition("#")
        frames.append(CanFrame(int(ident, 16), bytes.fromhex(data), len(ident) > 3))
    return frames, [bytes.fromhex(h) for h in rs485]


def _module_facts(position: int, doc: Mapping[str, Any], firmware: str | None, model: str | None) -> ModuleFacts:
    m = doc["module"]
    return ModuleFacts(
        position=position,
        module_id=int(doc["id"]),
        termination_on=bool(doc["termination_on"]),
        powered=bool(doc["powered"]),
        online=bool(doc["online"]),
        serial=str(m["serial"]),
        soc_pct=float(m["soc_pct"]),
        soh_pct=float(m["soh_pct"]),
        current_a=float(m["current_a"]),
        cell_voltages_v=tuple(float(v) for v in m["cell_voltages_v"]),
        temperatures_c=tuple(float(t) for t in m["temperatures_c"]),
        state=str(m.get("state", "")),
        alarms=tuple(str(a).lower() for a in m.get("alarms", ())),
        protections=tuple(str(a).lower() for a in m.get("protections", ())),
        firmware=firmware,
        model=model,
    )


def _fault(doc: Mapping[str, Any]) -> tuple[str, str, int | None]:
    """A SystemFault's JSON (its kind by enum name, as ``to_jsonable`` writes it) as (kind value, details, module)."""
    kind = str(doc["kind"])
    value = SystemFaultKind[kind].value if kind in SystemFaultKind.__members__ else kind.lower()
    module = doc.get("module_id")
    return value, str(doc["details"]), None if module is None else int(module)


def installation_from_api(
    bank: Mapping[str, Any],
    modules: Sequence[Mapping[str, Any]],
    heard: Heard | None,
    history: Mapping[str, Sequence[float | None]] | None,
) -> Installation:
    """The installation as ``GET /api/bank`` and ``GET /api/modules?cells=1`` show it, with the frames heard (None:
    not listened) and the history's daily columns (None: no history). Each module's firmware is the master's: the
    master compares every member's identity on the bank link and reports a difference as a ``bank_mix`` fault."""
    b = bank["bank"]
    firmware = ".".join(str(x) for x in b.get("firmware_version", ())) or None
    model = str(b.get("model")) if b.get("model") else None
    protocols = bank.get("protocols", {})
    can = resolve(protocols["can"]) if protocols.get("can") else None
    rs485 = resolve(protocols["rs485"]) if protocols.get("rs485") else None
    can_heard: Identification | None = None
    rs485_heard: Identification | None = None
    if heard is not None:
        can_frames, chunks = heard
        can_heard = identify_can(can_frames) if can is not None or can_frames else None
        rs485_heard = identify_rs485(rs485_frames(chunks)) if rs485 is not None or chunks else None
    return Installation(
        modules=tuple(_module_facts(i + 1, d, None, None) for i, d in enumerate(modules)),
        can_protocol=can,
        rs485_protocol=rs485,
        can_heard=can_heard,
        rs485_heard=rs485_heard,
        system_faults=tuple(_fault(f) for f in bank.get("faults", ())),
        max_soc_pct=None if history is None else max_soc_pct(history),
        wiring_known=True,
        firmware=firmware,
        model=model,
    )


def first_day_columns(store: HistoryStore | None) -> dict[str, list[float | None]] | None:
    """The bank's daily buckets over the last :data:`HISTORY_DAYS` days (None: no history or none stored)."""
    if store is None or store.newest_t_s is None:
        return None
    t_to = float(store.newest_t_s + 1)
    result = store.query(t_to - HISTORY_DAYS * DAY_S, t_to, list(FIELDS), DAY_S)
    out: dict[str, list[float | None]] = {}
    for name, col in result.columns.items():
        out[name] = [None if math.isnan(v) else v for v in map(float, col.tolist())]  # NaN: nothing stored
    return out


def check_json(check: Check) -> dict[str, Any]:
    return {
        "key": check.key,
        "title": check.title,
        "result": check.result.value,
        "evidence": list(check.evidence),
        "instruction": check.instruction,
        "manual_ref": check.manual_ref,
        "module_ids": list(check.module_ids),
    }


def _ident_json(ident: Identification | None) -> dict[str, Any] | None:
    if ident is None:
        return None
    return {
        "named": ident.named,
        "heard": ident.heard,
        "ignored": ident.ignored,
        "complete": ident.complete,
        "by_id_only": ident.by_id_only,
        "ambiguous": ident.ambiguous,
        "candidates": [e.name for e in ident.entries],
        "evidence": list(ident.evidence),
    }


def commission_doc(inst: Installation, checks: Sequence[Check], day: FirstDay | None, serial: str) -> dict[str, Any]:
    """The body of ``GET /api/commission``."""
    return {
        "result": worst(checks).value,
        "device_serial": serial,
        "checks": [check_json(c) for c in checks],
        "site_steps": [{"key": s.key, "title": s.title, "manual_ref": s.manual_ref} for s in SITE_STEPS],
        "modules": [
            {
                "position": m.position,
                "id": m.module_id,
                "serial": m.serial,
                "firmware": m.firmware or inst.firmware,
                "soc_pct": m.soc_pct,
                "soh_pct": m.soh_pct,
                "cell_spread_v": m.cell_spread_v,
                "termination_on": m.termination_on,
                "online": m.online,
            }
            for m in inst.modules
        ],
        "protocols": {
            "can": inst.can_protocol.name if inst.can_protocol else None,
            "rs485": inst.rs485_protocol.name if inst.rs485_protocol else None,
        },
        "heard": {"can": _ident_json(inst.can_heard), "rs485": _ident_json(inst.rs485_heard)},
        "first_day": None if day is None else {k: getattr(day, k) for k in day.__dataclass_fields__},
        "counts": {r.value: sum(c.result is r for c in checks) for r in Result},
    }


def commission_router(
    surface: SurfacePort,
    heard: Callable[[], Heard],
    history: Callable[[], HistoryStore | None],
    *,
    device_serial: str = "",
    limits: CommissionLimits | None = None,
) -> APIRouter:
    """The commissioning routes on ``surface``; ``heard()`` gives the ports' recent frames, ``history()`` the store."""
    router = APIRouter(prefix="/api/commission", tags=["commissioning"])

    def gather(confirm: str | None) -> tuple[Installation, tuple[Check, ...], FirstDay | None]:
        keys = parse_confirm(confirm)  # InputError: 400 by the app's handler
        view = surface.view()
        columns = first_day_columns(history())
        inst = installation_from_api(
            bank_json(view), [module_json(view, i) for i in range(len(view.modules))], heard(), columns
        )
        day = None if columns is None else first_day(columns)
        return inst, commission(inst, keys, limits), day

    @router.get("", summary="The commissioning checks (manual 8.4-8.6, 10.1.5, 13.1)")
    def get_commission(
        confirm: str | None = Query(None, description="on-site steps done: keys separated by commas, or all"),
    ) -> dict[str, Any]:
        """Each check: `result` pass / warn / fail / skip, `evidence`, the manual's `instruction` and section."""
        inst, checks, day = gather(confirm)
        return commission_doc(inst, checks, day, device_serial)

    @router.get("/cautions", summary="The cautions of manual 13.1 that software can see, now")
    def get_cautions() -> dict[str, Any]:
        """Modules of different type or age mixed, a hot battery, use outside the temperature range: each a check
        with its result, evidence and the manual's words."""
        view = surface.view()
        inst = installation_from_api(
            bank_json(view), [module_json(view, i) for i in range(len(view.modules))], None, None
        )
        checks = cautions(inst, (limits or CommissionLimits()).cautions)
        return {"result": worst(checks).value, "checks": [check_json(c) for c in checks]}

    @router.get("/inputs", summary="The frames the battery's ports heard lately, and the device serial")
    def get_inputs() -> dict[str, Any]:
        can, rs485 = heard()
        return {"device_serial": device_serial, "can": [str(f) for f in can], "rs485": [c.hex() for c in rs485]}

    @router.get("/report.html", summary="The installer report (print it, or save it as PDF)")
    def get_report(confirm: str | None = Query(None, description="on-site steps done, as for the checks")) -> Any:
        inst, checks, day = gather(confirm)
        report = InstallerReport(inst, checks, day, time.time(), device_serial, source="live system")
        return HTMLResponse(render_html(report))

    return router
