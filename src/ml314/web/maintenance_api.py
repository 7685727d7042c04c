"""``/api/cell-health`` and ``/api/maintenance``: per-cell health from the history, the schedule of Table 12-3,
the record of work done, and the storage advice (docs/maintenance.md).

    GET  /api/cell-health?days=14&module=3 every cell's figures and the sentences about the cells that stand out
                                           (module: one module; reading costs about 15 us per module and 10 s)
    GET  /api/maintenance                  items with due dates and status, reminders, records, storage advice
    POST /api/maintenance/done             {"item": "power_cables", "by": "...", "note": "..."}: record work done
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ml314.bms.ocv import load_ocv_table
from ml314.diagnostics.cell_health import analyse_cells
from ml314.diagnostics.maintenance import WorkRecord, reminders, schedule
from ml314.diagnostics.storage_advice import STORAGE_RULES, advice_lines
from ml314.errors import InputError
from ml314.storage.history import HistoryStore
from ml314.storage.history_cells import load_cell_series
from ml314.storage.maintenance_log import MAINTENANCE_FILE, MaintenanceLog
from ml314.web.errors import error_body

__all__ = ["maintenance_router"]

_DAY_S = 86400.0


class DoneBody(BaseModel):
    """Work done on one item of Table 12-3."""

    item: str
    by: str = ""
    note: str = ""


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def maintenance_router(
    data_dir: Path | None,
    history: Callable[[], HistoryStore | None],
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The routes on the data dir's ``maintenance.json`` (None: not kept, 503) and the history ``history()``."""
    router = APIRouter(prefix="/api", tags=["maintenance"])
    # opened now, so the first run of a data dir starts its maintenance dates; an unreadable record is said on each
    # request (and left as it is), never a failed start
    log: MaintenanceLog | None = None
    problem = "no data dir: the maintenance record is not kept"
    if data_dir is not None:
        try:
            log = MaintenanceLog(Path(data_dir) / MAINTENANCE_FILE, clock())
        except InputError as exc:
            problem = str(exc)

    def the_log() -> MaintenanceLog | None:
        return log

    @router.get("/cell-health", summary="Per-cell health from the history")
    def cell_health(
        days: float = Query(14.0, gt=0.0, le=366.0, description="days of history to read"),
        module: int | None = Query(None, ge=0, le=63, description="one module's DIP ID (default: every module)"),
    ) -> Any:
        """First at the top, lowest at the bottom, resistance, self-discharge trend per cell, and the sentences."""
        store = history()
        if store is None:
            return JSONResponse(error_body("history_off", "no history: per-cell health reads it", None), 503)
        newest = store.newest_t_s
        if newest is None:
            return {"findings": [], "cells": [], "span_days": 0.0, "charges": {}, "discharges": {}}
        series = load_cell_series(store, newest - days * _DAY_S, newest + 1, module)
        report = analyse_cells(series, load_ocv_table())
        cells = [{k: (_finite(v) if isinstance(v, float) else v) for k, v in asdict(c).items()} for c in report.cells]
        return {
            "findings": list(report.findings),
            "cells": cells,
            "span_days": report.span_days,
            "charges": {str(k): v for k, v in report.charges.items()},
            "discharges": {str(k): v for k, v in report.discharges.items()},
            "top_v": report.limits.top_v,
            "bottom_v": report.limits.bottom_v,
        }

    @router.get("/maintenance", summary="The schedule of Table 12-3, reminders and work done")
    def get_maintenance() -> Any:
        """Every item with its interval, due date (epoch s), days left and status; reminders; the record."""
        lg = the_log()
        if lg is None:
            return JSONResponse(error_body("no_maintenance_record", problem, None), 503)
        dues = schedule(lg.start_s, lg.records, clock(), lg.stored_since_s)
        return {
            "start_s": lg.start_s,
            "stored_since_s": lg.stored_since_s,
            "items": [
                {
                    "key": d.item.key,
                    "name": d.item.name,
                    "interval": d.item.interval_text,
                    "steps": list(d.item.steps),
                    "guided": d.item.guided,
                    "last_done_s": d.last_done_s,
                    "due_s": d.due_s,
                    "days_left": d.days_left,
                    "status": d.status,
                }
                for d in dues
            ],
            "reminders": list(reminders(dues)),
            "records": [asdict(r) for r in lg.records],
            "storage": [advice_lines(rule) for rule in STORAGE_RULES],
        }

    @router.post("/maintenance/done", summary="Record work done on one item")
    def post_done(body: DoneBody) -> Any:
        """Written to maintenance.json before the answer; an unknown item is a 400 naming the known ones."""
        lg = the_log()
        if lg is None:
            return JSONResponse(error_body("no_maintenance_record", problem, None), 503)
        record = WorkRecord(body.item, clock(), by=body.by, note=body.note)
        lg.add(record)
        return {"status": "recorded", "record": asdict(record)}

    return router
