"""``GET /api/history``: any range of the history at any step, as JSON columns, CSV or Parquet (docs/history.md).

    GET /api/history?from=2026-01-01T00:00:00Z&to=2026-01-08T00:00:00Z&fields=soc_pct,voltage_v:max&step=5min
    GET /api/history?from=...&fields=current_a&module=all&format=csv
    GET /api/history/fields
    GET /api/history/daily?from=...&to=...&utc_offset=60   (kWh charged and discharged per day)

``from``/``to`` are epoch seconds or ISO 8601 times (``to`` defaults to just after the newest sample, ``from`` to a
day before ``to``); ``step`` is seconds or a duration (``60``, ``5min``, ``1h``; default: about 1000 points);
``module`` an ID, ``all``, or absent for the bank. CSV and Parquet stream in bounded memory however long the range;
JSON is limited to :data:`MAX_JSON_POINTS` rows (the error names ``step`` and the smallest step that fits).
Errors are ``{"error": {"code", "message", "field"}}`` with status 400 naming the parameter or field at fault.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from ml314.domain.durations import parse_duration_s
from ml314.errors import InputError
from ml314.storage.history import HistoryStore
from ml314.storage.history_daily import daily_history
from ml314.storage.history_query import STEPS_S, HistoryQueryError, HistoryResult, QueryPlan, field_names
from ml314.storage.history_schema import SERIES
from ml314.web.errors import error_body

__all__ = ["MAX_JSON_POINTS", "history_bytes", "history_json", "history_router"]

MAX_JSON_POINTS = 200_000
_DAY_S = 86400
_FORMATS = ("json", "csv", "parquet")


def _error(status: int, code: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


def _time(text: str | None, name: str) -> float | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise HistoryQueryError(
            f"{name} {text!r}: epoch seconds or an ISO 8601 time (2026-01-01T00:00:00Z)", name
        ) from None
    if when.tzinfo is None:
        raise HistoryQueryError(f"{name} {text!r}: give the time zone (Z for UTC, or +01:00)", name)
    return when.timestamp()


def _range(store: HistoryStore, t_from: str | None, t_to: str | None, span_s: float) -> tuple[float, float]:
    """``from`` and ``to`` in epoch seconds: ``to`` defaults to just after the newest sample, ``from`` to ``span_s``
    before ``to``."""
    t_to_s = _time(t_to, "to")
    t_from_s = _time(t_from, "from")
    if t_to_s is None:
        newest = store.newest_t_s
        t_to_s = float(newest + 1) if newest is not None else (t_from_s or 0.0) + span_s
    return (t_to_s - span_s if t_from_s is None else t_from_s), t_to_s


def _step(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        value = parse_duration_s(text, "step")
    except InputError as exc:
        raise HistoryQueryError(str(exc), "step") from None
    if not value.is_integer():
        raise HistoryQueryError(f"step {text!r}: whole seconds", "step")
    return int(value)


def _points(plan: QueryPlan) -> int:
    """At most how many rows the plan returns."""
    step = max(plan.step_s, plan.tier.step_s)
    buckets = math.ceil((plan.t_to_s - plan.t_from_s) / step)
    return buckets * (16 if plan.all_modules else 1)


def _json_column(values: Any) -> list[Any]:
    out: list[Any] = values.tolist()
    if values.dtype.kind == "f":
        return [None if math.isnan(v) else v for v in out]  # NaN: nothing stored
    return out


def _header(plan: QueryPlan) -> dict[str, Any]:
    return {
        "from": plan.t_from_s,
        "to": plan.t_to_s,
        "step_s": plan.step_s,
        "series": plan.series.name,
        "module": "all" if plan.all_modules else plan.module_id,
        "units": {r.name: r.spec.unit for r in plan.requests},
    }


def history_json(result: HistoryResult, plan: QueryPlan) -> dict[str, Any]:
    """The JSON body of a result: the request as served, units, and the columns (null where nothing was stored)."""
    return {**_header(plan), "columns": {name: _json_column(col) for name, col in result.columns.items()}}


def history_bytes(result: HistoryResult, plan: QueryPlan) -> bytes:
    """:func:`history_json` encoded, the columns straight from their arrays (orjson writes NaN as null)."""
    columns = {name: col if col.dtype.kind in "fiu" else col.tolist() for name, col in result.columns.items()}
    return orjson.dumps({**_header(plan), "columns": columns}, option=orjson.OPT_SERIALIZE_NUMPY)


def _filename(plan: QueryPlan, ext: str) -> str:
    scope = "bank" if plan.module_id is None and not plan.all_modules else f"module-{plan.module_id or 'all'}"
    return f"ml314-history-{scope}-{plan.t_from_s}-{plan.t_to_s}-{plan.step_s}s.{ext}"


def history_router(store: HistoryStore | Callable[[], HistoryStore | None] | None) -> APIRouter:
    """The history routes on ``store``, or on what ``store()`` returns at each request (the run opens its store
    after the web application is built); None: no history, every request says so with 503."""
    router = APIRouter(prefix="/api/history", tags=["history"])
    store_of: Callable[[], HistoryStore | None] = store if callable(store) else lambda: store

    @router.get("/fields")
    def fields() -> dict[str, Any]:
        """Every field per series with its unit and meaning, and the names a request may use."""
        return {
            name: {
                "per_module": s.per_module,
                "raw_step_s": s.raw_step_s,
                "fields": {f.name: {"unit": f.unit, "description": f.description} for f in s.fields},
                "names": list(field_names(s)),
            }
            for name, s in SERIES.items()
        }

    @router.get("/daily")
    def daily(
        *,
        t_from: str | None = Query(None, alias="from", description="epoch seconds or ISO 8601 (default: to - 7 days)"),
        t_to: str | None = Query(None, alias="to", description="epoch seconds or ISO 8601 (default: newest sample)"),
        utc_offset: int = Query(0, description="minutes east of UTC of the days (the browser's offset)"),
    ) -> Response:
        """Energy charged and discharged per day (kWh), from the bank's cumulative counters."""
        store = store_of()
        if store is None:
            return _error(503, "history_off", "no history: ml314 run --db off (or the run has not started)", None)
        if not -18 * 60 <= utc_offset <= 18 * 60:
            return _error(400, "bad_request", f"utc_offset {utc_offset}: minutes, -1080..1080", "utc_offset")
        try:
            t_from_s, t_to_s = _range(store, t_from, t_to, 7 * _DAY_S)
            if not t_to_s > t_from_s:
                raise HistoryQueryError(f"to {t_to_s:g} is not after from {t_from_s:g}", "to")
        except HistoryQueryError as exc:
            return _error(400, exc.code, str(exc), exc.param)
        days = daily_history(store, t_from_s, t_to_s, utc_offset * 60)
        return JSONResponse({"utc_offset": utc_offset, "days": days.day_s, "units": "kWh", **days.kwh})

    @router.get("")
    def history(
        *,
        t_from: str | None = Query(None, alias="from", description="epoch seconds or ISO 8601 (default: to - 1 day)"),
        t_to: str | None = Query(None, alias="to", description="epoch seconds or ISO 8601 (default: newest sample)"),
        fields: str = Query("soc_pct", description="comma-separated: soc_pct, voltage_v:min, ... (see /fields)"),
        step: str | None = Query(None, description="seconds or a duration: 60, 5min, 1h (default: ~1000 points)"),
        module: str | None = Query(None, description="a module ID, all, or absent for the bank"),
        format: str = Query("json", description="json, csv or parquet"),
    ) -> Response:
        """The history of a range at a step (see the module docstring)."""
        store = store_of()
        if store is None:
            return _error(503, "history_off", "no history: ml314 run --db off (or the run has not started)", None)
        if format not in _FORMATS:
            return _error(400, "bad_request", f"format {format!r}: one of {', '.join(_FORMATS)}", "format")
        try:
            t_from_s, t_to_s = _range(store, t_from, t_to, _DAY_S)
            plan = store.plan(t_from_s, t_to_s, fields.split(","), _step(step), module)
        except HistoryQueryError as exc:
            return _error(400, exc.code, str(exc), exc.param)
        if format == "csv":
            return StreamingResponse(
                store.csv_text(plan),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{_filename(plan, "csv")}"'},
            )
        if format == "parquet":
            fd, name = tempfile.mkstemp(prefix="ml314-history-", suffix=".parquet")
            os.close(fd)
            path = Path(name)
            try:
                store.export_parquet(plan, path)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            return FileResponse(
                path,
                media_type="application/vnd.apache.parquet",
                filename=_filename(plan, "parquet"),
                background=BackgroundTask(path.unlink, missing_ok=True),
            )
        points = _points(plan)
        if points > MAX_JSON_POINTS:
            fits = next((s for s in STEPS_S if points * plan.step_s / s <= MAX_JSON_POINTS), STEPS_S[-1])
            return _error(
                400,
                "too_many_points",
                f"step {plan.step_s} s gives up to {points} rows (JSON holds {MAX_JSON_POINTS}): "
                f"step={fits} or more, or format=csv / parquet",
                "step",
            )
        return Response(history_bytes(store.run(plan), plan), media_type="application/json")

    return router
