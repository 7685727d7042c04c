"""The BMS event log and the per-module counters.

* :class:`Event` is one thing that happened (a protection row tripped, released, locked out or latched; an
  alarm; a state change; an SOC sync; information), with the value, threshold and unit involved, what the BMS did
  and one readable sentence. :func:`event_from_change` writes it for a protection change, adding the manual's
  disposal text (Table 12-1, Table 12-2) from :data:`DISPOSAL`.
* :class:`EventLog` keeps the newest ``capacity`` events (a ring, newest last).
* :class:`Counters` accumulates, per module: Ah and Wh throughput each way, equivalent full cycles, time at
  temperature and SOC extremes, protection trips by key, balancing time per cell, full syncs and the last full
  charge. Its per-second accumulation is the numba function :func:`update_counters`, so the compiled loop can
  call it too.

Records (``to_records`` / ``from_records``) are plain JSON-compatible dicts and lists (NaN stored as None) for
``storage/bms_store.py``; a malformed record raises :class:`ml314.errors.InputError` naming the field.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Literal, get_args

import numpy as np
from numba import njit

from ml314.bms.leds import FAULT_ROWS
from ml314.bms.parameters import Level
from ml314.bms.protection import CH_LATCH, CH_LOCKOUT, CH_RELEASE, CH_TRIP, Change
from ml314.errors import InputError

__all__ = [
    "COUNTER_COLUMNS",
    "DISPOSAL",
    "EVENT_KINDS",
    "EVENT_LEVELS",
    "QUANTITY_TEXT",
    "Counters",
    "Disposal",
    "Event",
    "EventKind",
    "EventLevel",
    "EventLog",
    "compile_counter_thresholds",
    "disposal",
    "event_from_change",
    "update_counters",
]

EventKind = Literal["trip", "release", "lockout", "latch", "alarm", "state", "sync", "info"]
EventLevel = Literal["warning", "alarm", "protection", "info"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
EVENT_LEVELS: tuple[str, ...] = get_args(EventLevel)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event log. ``module_id`` is the DIP-switch id (0 = the bank); ``value`` and ``threshold``
    are NaN when they do not apply; ``message`` is one readable sentence."""

    t_s: float
    module_id: int
    kind: EventKind
    key: str
    quantity: str = ""
    value: float = math.nan
    threshold: float = math.nan
    unit: str = ""
    level: EventLevel = "info"
    action: str = ""
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind {self.kind!r} is not one of {EVENT_KINDS}")
        if self.level not in EVENT_LEVELS:
            raise ValueError(f"event level {self.level!r} is not one of {EVENT_LEVELS}")

    def to_record(self) -> dict[str, Any]:
        """A JSON-compatible dict (NaN as None)."""
        rec: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("t_s", "value", "threshold"):
            rec[k] = None if math.isnan(rec[k]) else rec[k]
        return rec

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Event:
        """Inverse of :meth:`to_record`; raises :class:`InputError` on a missing, unknown or mistyped field."""
        if not isinstance(rec, Mapping):
            raise InputError(f"event record: expected an object, got {type(rec).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(rec) - names
        if unknown:
            raise InputError(f"event record: unknown field {sorted(unknown)[0]!r}")
        for required in ("t_s", "module_id", "kind", "key"):
            if required not in rec:
                raise InputError(f"event record: missing field {required!r}")
        kw: dict[str, Any] = {}
        for name, value in rec.items():
            if name in ("t_s", "value", "threshold"):
                kw[name] = _float(value, f"event record field {name!r}")
            elif name == "module_id":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise InputError(f"event record field 'module_id': expected an integer, got {value!r}")
                kw[name] = value
            elif not isinstance(value, str):
                raise InputError(f"event record field {name!r}: expected text, got {value!r}")
            else:
                kw[name] = value
        try:
            return cls(**kw)
        except ValueError as exc:
            raise InputError(f"event record: {exc}") from exc


def _float(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {value!r}")
    return float(value)


class EventLog:
    """The newest ``capacity`` events, oldest first; older ones are dropped (and counted in :attr:`dropped`)."""

    DEFAULT_CAPACITY = 10_000

    def __init__(self, capacity: int = DEFAULT_CAPACITY, events: Iterable[Event] = ()) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._events: deque[Event] = deque(maxlen=capacity)
        self.dropped = 0
        self.extend(events)

    @property
    def capacity(self) -> int:
        """How many events the ring holds."""
        maxlen = self._events.maxlen
        assert maxlen is not None
        return maxlen

    def append(self, event: Event) -> None:
        """Add ``event`` as the newest."""
        if len(self._events) == self.capacity:
            self.dropped += 1
        self._events.append(event)

    def extend(self, events: Iterable[Event]) -> None:
        """Append each of ``events`` in order."""
        for e in events:
            self.append(e)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def recent(self, n: int) -> tuple[Event, ...]:
        """The newest ``n`` events, newest last."""
        if n <= 0:
            return ()
        start = max(len(self._events) - n, 0)
        return tuple(e for i, e in enumerate(self._events) if i >= start)

    def since(self, t_s: float) -> tuple[Event, ...]:
        """The events at or after ``t_s``, in log order."""
        return tuple(e for e in self._events if e.t_s >= t_s)

    def to_records(self) -> list[dict[str, Any]]:
        """Every event as a JSON-compatible dict, oldest first."""
        return [e.to_record() for e in self._events]

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]], capacity: int = DEFAULT_CAPACITY) -> EventLog:
        """Inverse of :meth:`to_records`; raises :class:`InputError` naming the first bad record."""
        if not isinstance(records, Sequence) or isinstance(records, str):
            raise InputError("events: expected a list of event records")
        events = []
        for i, rec in enumerate(records):
            try:
                events.append(Event.from_record(rec))
            except InputError as exc:
                raise InputError(f"events[{i}]: {exc}") from exc
        return cls(capacity, events)


# ---------------------------------------------------------------------------------------------------------------
# messages


@dataclass(frozen=True, slots=True)
class Disposal:
    """What to do about a protection, and where the text comes from ("ml314" = ours, the manual is silent)."""

    text: str
    source: str


_STOP_CHARGE_TEMP = Disposal("Stop charge, wait for the temp recovery", "Table 12-1")
_STOP_DISCHARGE_TEMP = Disposal("Stop discharge, wait for the temp recovery", "Table 12-1")
_CHARGE_OC = Disposal("Stop charge, check the settings and limitation", "Table 12-1")
_DISCHARGE_OC = Disposal("Stop discharge, check if there is an overload", "Table 12-1")
_LOW_VOLTAGE = Disposal(
    "Charge the battery immediately and it will reboot itself; or switch the BMS off and on, or press RESET, "
    "and charge it immediately, otherwise it protects and sleeps again within minutes",
    "Table 12-2 #9",
)
_OVERVOLTAGE = Disposal("Stop charge, check the charger's voltage setting against the battery's", "ml314")
_BOARD_TEMP = Disposal("Stop charge and discharge, wait for the temp recovery", "ml314")

DISPOSAL: Mapping[str, Disposal] = MappingProxyType(
    {
        "charge_overcurrent.alarm": _CHARGE_OC,
        "charge_overcurrent.protection": _CHARGE_OC,
        "charge_overtemperature.protection": _STOP_CHARGE_TEMP,
        "charge_undertemperature.protection": _STOP_CHARGE_TEMP,
        "discharge_overcurrent.alarm": _DISCHARGE_OC,
        "discharge_overcurrent.protection": _DISCHARGE_OC,
        "discharge_overtemperature.protection": _STOP_DISCHARGE_TEMP,
        "discharge_undertemperature.protection": _STOP_DISCHARGE_TEMP,
        "cell_undervoltage.protection": _LOW_VOLTAGE,
        "pack_undervoltage.protection": _LOW_VOLTAGE,
        "deep_discharge.protection": Disposal(
            "The voltage may be too low to start the BMS: open the cover of the pack and charge it up to 40 V "
            "before you reboot it; a technician must clear the deep-discharge latch",
            "Table 12-2 #10",
        ),
        "cell_overvoltage.protection": _OVERVOLTAGE,
        "pack_overvoltage.protection": _OVERVOLTAGE,
        "mosfet_overtemperature.protection": _BOARD_TEMP,
        "board_overtemperature.protection": _BOARD_TEMP,
        # 12.2 #5-#8, by protection name (every level): the same text as the LED fault codes
        **{name: Disposal(f.solution, f"Table 12-2 #{int(f.code)}") for f in FAULT_ROWS for name in f.protections},
    }
)
"""Protection key (``name.level``) or name (any level) -> disposal text."""


def disposal(key: str) -> Disposal | None:
    """The disposal for protection ``key`` (``name.level``): an exact entry, else one for the name."""
    return DISPOSAL.get(key) or DISPOSAL.get(key.split(".", 1)[0])


QUANTITY_TEXT: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "cell_voltage_max_v": ("highest cell voltage", "V"),
        "cell_voltage_min_v": ("lowest cell voltage", "V"),
        "pack_voltage_v": ("pack voltage", "V"),
        "charge_current_a": ("charge current", "A"),
        "discharge_current_a": ("discharge current", "A"),
        "cell_temperature_max_c": ("highest cell temperature", "degC"),
        "cell_temperature_min_c": ("lowest cell temperature", "degC"),
        "mosfet_temperature_c": ("MOSFET temperature", "degC"),
        "board_temperature_c": ("BMS board temperature", "degC"),
        "cell_spread_v": ("cell voltage spread", "V"),
        "temperature_spread_c": ("cell temperature spread", "K"),
        "pack_vs_cells_v": ("pack voltage minus the sum of the cells", "V"),
        "current_with_path_open_a": ("current with both MOSFETs open", "A"),
    }
)
"""Protection quantity -> (readable name, unit)."""

_ACTION_DONE = {
    "warn": "warning raised",
    "derate": "derated",
    "open_charge": "charge path opened",
    "open_discharge": "discharge path opened",
    "sleep": "going to sleep",
}
_ACTION_UNDONE = {
    "warn": "warning cleared",
    "derate": "derating ended",
    "open_charge": "charge path may close again",
    "open_discharge": "discharge path may close again",
    "sleep": "",
}
_KIND_BY_CODE: Mapping[int, EventKind] = {
    CH_TRIP: "trip",
    CH_RELEASE: "release",
    CH_LOCKOUT: "lockout",
    CH_LATCH: "latch",
}
_LEVEL: Mapping[Level, EventLevel] = {Level.WARNING: "warning", Level.ALARM: "alarm", Level.PROTECTION: "protection"}
_VERB = {
    "trip": "tripped",
    "release": "released",
    "lockout": "tripped again and is locked out until RESET",
    "latch": "tripped and is latched until a technician's service clear",
}


def event_from_change(
    change: Change, t_s: float, module_id: int, *, sensor: str = "", value: float | None = None
) -> Event:
    """The log entry for one protection change. ``sensor`` names the reading involved (e.g. "cell 7", "NTC 2");
    ``value`` overrides ``change.value`` (the value at the trip: pass the present reading for a release)."""
    row = change.row
    kind = _KIND_BY_CODE[change.code]
    released = kind == "release"
    x = change.value if value is None else value
    threshold = row.release if released else row.trip
    name, unit = QUANTITY_TEXT.get(row.quantity, (row.quantity, ""))
    table = _ACTION_UNDONE if released else _ACTION_DONE
    action = ", ".join(t for a in row.actions if (t := table[a]))
    reading = ""
    if not math.isnan(x):
        where = f" on {sensor}" if sensor else ""
        reading = f"{name} {_num(x)} {unit}{where}, {'release' if released else 'trip'} level {_num(threshold)} {unit}"
    title = f"{row.name.replace('_', ' ')} {row.level.name.lower()}"
    message = f"Module {module_id}: {title} {_VERB[kind]}"
    message += f": {reading}" if reading else ""
    message += f"; {action}." if action else "."
    advice = disposal(row.key)
    if advice is not None and not released:
        message += f" {advice.text} ({advice.source})."
    return Event(
        t_s=t_s,
        module_id=module_id,
        kind=kind,
        key=row.key,
        quantity=row.quantity,
        value=x,
        threshold=threshold,
        unit=unit,
        level=_LEVEL[row.level],
        action=action,
        message=message,
    )


def _num(x: float) -> str:
    return f"{x:.4g}"


# ---------------------------------------------------------------------------------------------------------------
# counters

# columns of Counters.values, shape (modules, C_COLS)
C_CHARGE_AH = 0
C_DISCHARGE_AH = 1
C_CHARGE_WH = 2
C_DISCHARGE_WH = 3
C_CYCLES = 4
C_COLD_S = 5  # lowest cell below K_COLD_C
C_HOT_S = 6  # highest cell above K_HOT_C
C_SOC_LOW_S = 7
C_SOC_HIGH_S = 8
C_FULL_SYNCS = 9
C_LAST_FULL_CHARGE_S = 10  # NaN = never
C_COLS = 11
COUNTER_COLUMNS: tuple[str, ...] = (
    "charge_ah",
    "discharge_ah",
    "charge_wh",
    "discharge_wh",
    "cycles",
    "cold_s",
    "hot_s",
    "soc_low_s",
    "soc_high_s",
    "full_syncs",
    "last_full_charge_s",
)

# thresholds array
K_COLD_C = 0
K_HOT_C = 1
K_SOC_LOW = 2
K_SOC_HIGH = 3
K_COLS = 4


def compile_counter_thresholds(
    cold_c: float = 0.0, hot_c: float = 45.0, soc_low: float = 0.10, soc_high: float = 0.95
) -> np.ndarray:
    """The extremes :func:`update_counters` times, as its float array."""
    k = np.zeros(K_COLS)
    k[K_COLD_C], k[K_HOT_C], k[K_SOC_LOW], k[K_SOC_HIGH] = cold_c, hot_c, soc_low, soc_high
    return k


@njit(cache=True, error_model="numpy")
def update_counters(
    values: np.ndarray,
    thresholds: np.ndarray,
    capacity_ah: np.ndarray,
    current_a: np.ndarray,
    voltage_v: np.ndarray,
    cell_t_min_c: np.ndarray,
    cell_t_max_c: np.ndarray,
    soc: np.ndarray,
    dt_s: float,
) -> None:
    """Accumulate one step of ``dt_s`` into ``values`` (modules x C_COLS). Per module: ``current_a`` (positive =
    charging), terminal ``voltage_v``, lowest and highest cell temperature, SOC (fraction), and the capacity the
    cycles are counted against. Extremes are strict (below ``K_COLD_C``, above ``K_HOT_C``...); a NaN reading
    adds nothing."""
    for m in range(values.shape[0]):
        i = current_a[m]
        ah = abs(i) * dt_s / 3600.0
        if i > 0.0:
            values[m, C_CHARGE_AH] += ah
            if voltage_v[m] > 0.0:
                values[m, C_CHARGE_WH] += ah * voltage_v[m]
        elif i < 0.0:
            values[m, C_DISCHARGE_AH] += ah
            if voltage_v[m] > 0.0:
                values[m, C_DISCHARGE_WH] += ah * voltage_v[m]
        if (i > 0.0 or i < 0.0) and capacity_ah[m] > 0.0:
            values[m, C_CYCLES] += ah / 2.0 / capacity_ah[m]
        if cell_t_min_c[m] < thresholds[K_COLD_C]:
            values[m, C_COLD_S] += dt_s
        if cell_t_max_c[m] > thresholds[K_HOT_C]:
            values[m, C_HOT_S] += dt_s
        if soc[m] < thresholds[K_SOC_LOW]:
            values[m, C_SOC_LOW_S] += dt_s
        if soc[m] > thresholds[K_SOC_HIGH]:
            values[m, C_SOC_HIGH_S] += dt_s


@njit(cache=True, error_model="numpy")
def add_balancing(balancing_s: np.ndarray, balancing_on: np.ndarray, dt_s: float) -> None:
    """Add ``dt_s`` to every cell (modules x cells) whose bleed resistor is on (``balancing_on`` > 0.5)."""
    for m in range(balancing_s.shape[0]):
        for c in range(balancing_s.shape[1]):
            if balancing_on[m, c] > 0.5:
                balancing_s[m, c] += dt_s


def _per_module(x: float | np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))


class Counters:
    """Lifetime counters of every module of a bank (index 0 .. n_modules-1)."""

    def __init__(
        self,
        n_modules: int,
        n_cells: int = 16,
        capacity_ah: float | np.ndarray = 314.0,
        thresholds: np.ndarray | None = None,
    ) -> None:
        if n_modules < 1 or n_cells < 1:
            raise ValueError(f"need at least one module and one cell, got {n_modules} x {n_cells}")
        self.values = np.zeros((n_modules, C_COLS))
        self.values[:, C_LAST_FULL_CHARGE_S] = math.nan
        self.balancing_s = np.zeros((n_modules, n_cells))
        self.trips: list[dict[str, int]] = [{} for _ in range(n_modules)]
        self.capacity_ah = np.array(_per_module(capacity_ah, n_modules))
        self.thresholds = compile_counter_thresholds() if thresholds is None else np.asarray(thresholds, float)

    @property
    def n_modules(self) -> int:
        """Modules counted."""
        return int(self.values.shape[0])

    @property
    def n_cells(self) -> int:
        """Cells per module."""
        return int(self.balancing_s.shape[1])

    def column(self, name: str) -> np.ndarray:
        """One counter for every module (a view), by its name in :data:`COUNTER_COLUMNS`."""
        return self.values[:, COUNTER_COLUMNS.index(name)]

    def update(
        self,
        current_a: float | np.ndarray,
        voltage_v: float | np.ndarray,
        cell_t_min: float | np.ndarray,
        cell_t_max: float | np.ndarray,
        soc: float | np.ndarray,
        dt_s: float,
    ) -> None:
        """Accumulate one step for every module (scalars apply to all); see :func:`update_counters`."""
        n = self.n_modules
        update_counters(
            self.values,
            self.thresholds,
            self.capacity_ah,
            np.ascontiguousarray(_per_module(current_a, n)),
            np.ascontiguousarray(_per_module(voltage_v, n)),
            np.ascontiguousarray(_per_module(cell_t_min, n)),
            np.ascontiguousarray(_per_module(cell_t_max, n)),
            np.ascontiguousarray(_per_module(soc, n)),
            dt_s,
        )

    def add_balancing(self, balancing_on: np.ndarray, dt_s: float) -> None:
        """Count ``dt_s`` of bleeding for the cells flagged in ``balancing_on`` (modules x cells)."""
        add_balancing(self.balancing_s, np.asarray(balancing_on, dtype=np.float64), dt_s)

    def count_trip(self, module_index: int, key: str) -> None:
        """One more trip of protection ``key`` on the module."""
        trips = self.trips[module_index]
        trips[key] = trips.get(key, 0) + 1

    def count_event(self, module_index: int, event: Event) -> None:
        """Count ``event`` if it is a trip, lockout or latch (each is one more trip of its key)."""
        if event.kind in ("trip", "lockout", "latch"):
            self.count_trip(module_index, event.key)

    def record_full_sync(self, module_index: int, t_s: float) -> None:
        """The SOC was synchronised to 100 % (a full charge) at ``t_s``."""
        self.values[module_index, C_FULL_SYNCS] += 1.0
        self.values[module_index, C_LAST_FULL_CHARGE_S] = t_s

    def to_record(self) -> dict[str, Any]:
        """A JSON-compatible dict (NaN as None)."""
        return {
            "n_modules": self.n_modules,
            "n_cells": self.n_cells,
            "capacity_ah": self.capacity_ah.tolist(),
            "thresholds": {
                "cold_c": self.thresholds[K_COLD_C],
                "hot_c": self.thresholds[K_HOT_C],
                "soc_low": self.thresholds[K_SOC_LOW],
                "soc_high": self.thresholds[K_SOC_HIGH],
            },
            "columns": {name: _nan_to_none(self.values[:, i]) for i, name in enumerate(COUNTER_COLUMNS)},
            "balancing_s": self.balancing_s.tolist(),
            "trips": [dict(sorted(t.items())) for t in self.trips],
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Counters:
        """Inverse of :meth:`to_record`; raises :class:`InputError` naming the first bad field."""
        try:
            n, cells = int(rec["n_modules"]), int(rec["n_cells"])
            th = rec["thresholds"]
            out = cls(
                n,
                cells,
                np.asarray(rec["capacity_ah"], dtype=np.float64),
                compile_counter_thresholds(th["cold_c"], th["hot_c"], th["soc_low"], th["soc_high"]),
            )
            columns = rec["columns"]
            unknown = set(columns) - set(COUNTER_COLUMNS)
            if unknown:
                raise InputError(f"counters: unknown column {sorted(unknown)[0]!r}")
            for i, name in enumerate(COUNTER_COLUMNS):
                if name in columns:
                    out.values[:, i] = _column(columns[name], n, name)
            balancing = np.asarray(rec["balancing_s"], dtype=np.float64)
            if balancing.shape != (n, cells):
                raise InputError(f"counters.balancing_s: expected {n} x {cells}, got shape {balancing.shape}")
            out.balancing_s[:] = balancing
            trips = rec["trips"]
            if len(trips) != n:
                raise InputError(f"counters.trips: expected {n} modules, got {len(trips)}")
            out.trips = [{str(k): int(v) for k, v in t.items()} for t in trips]
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"counters: malformed record ({type(exc).__name__}: {exc})") from exc
        return out


def _nan_to_none(x: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in x]


def _column(values: Sequence[float | None], n: int, name: str) -> np.ndarray:
    if len(values) != n:
        raise InputError(f"counters.columns.{name}: expected {n} values, got {len(values)}")
    return np.array([math.nan if v is None else float(v) for v in values])
