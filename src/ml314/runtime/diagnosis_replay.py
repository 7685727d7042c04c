"""Chapter 12's rules over a recorded run, replayed sample by sample as the live run would have observed it.

A :class:`Recording` is what the rules read of a ``ml314 simulate`` run, and no more: the bank's trace (voltage,
current, SOC, the CVL and CCL asked, the full-charge request) at every sample, the BMS event log (trips, releases,
state changes), and when each module's BMS said 100 % (its full charges). It is built from the run's output
(:meth:`Recording.from_simulation`) and kept small enough to store (:meth:`Recording.save`, a compressed ``.npz``:
quantised to the sensors' resolution, 30 days of 16 modules in a few hundred kB), so a month can be checked again
without simulating it again.

:func:`replay` builds, at every ``every_s`` of the record, the observation of that moment: the events logged up to
then, the trace, and every module with the state of its last state event and the bank's voltage (modules on one
bus bar). What the record lacks (breakers, links, SOH) is unknown, so the rules on it stay silent. The result keeps
each distinct finding (rule, module, place) with when it was first seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml314.bms.events import Event
from ml314.diagnostics import Finding, ModuleObservation, Observer, Thresholds, TracePoint, diagnose
from ml314.diagnostics.rules import DEFAULT_THRESHOLDS
from ml314.errors import InputError
from ml314.runtime.simulation import STATE_FILE
from ml314.storage.bms_store import read_bms_file
from ml314.storage.timeseries import read_columns, read_schema

__all__ = ["Recording", "Replay", "replay", "series_file"]

_FORMAT = "ml314.diagnosis_recording.1"
_BANK = ("t_s", "bus_voltage_v", "bus_current_a", "bank_cvl_v", "bank_ccl_a")
#: quantisation of the stored trace (the sensors' resolution or finer): V in 10 mV, A in 10 mA, SOC in 0.01 %
_V, _A, _SOC = 0.01, 0.01, 0.01


@dataclass(frozen=True)
class Recording:
    """What the rules read of a recorded run (see the module docstring). Times in simulated seconds."""

    modules: int
    t_s: np.ndarray
    voltage_v: np.ndarray
    current_a: np.ndarray
    soc_pct: np.ndarray
    cvl_v: np.ndarray
    ccl_a: np.ndarray
    charge_request: np.ndarray  # bool
    full: np.ndarray  # bool, samples x modules: the module's BMS said 100 %
    events: tuple[Event, ...]

    @classmethod
    def from_simulation(cls, out_dir: Path) -> Recording:
        """The recording of a ``ml314 simulate`` output dir (its time series and its saved event log)."""
        series = series_file(out_dir)
        n = _module_count(series)
        names = [*_BANK, *(f"m{m + 1:02d}_{c}" for m in range(n) for c in ("bms_soc", "full_charge_request"))]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for batch in read_columns(series, names, batch_rows=65536):
            for name in names:
                parts[name].append(np.asarray(batch[name], dtype=float))
        col = {name: np.concatenate(parts[name]) for name in names}
        socs = np.stack([col[f"m{m + 1:02d}_bms_soc"] for m in range(n)], axis=1)
        requests = np.stack([col[f"m{m + 1:02d}_full_charge_request"] for m in range(n)], axis=1) > 0.5
        stored = read_bms_file(out_dir / STATE_FILE)
        return cls(
            modules=n,
            t_s=col["t_s"],
            voltage_v=col["bus_voltage_v"],
            current_a=col["bus_current_a"],
            soc_pct=100.0 * socs.mean(axis=1),
            cvl_v=col["bank_cvl_v"],
            ccl_a=col["bank_ccl_a"],
            charge_request=np.asarray(requests.any(axis=1), dtype=bool),
            full=socs >= 0.999,
            events=tuple(sorted(stored.events, key=lambda e: e.t_s)),
        )

    def save(self, path: Path) -> None:
        """Store it quantised and compressed (``.npz``)."""
        keys = sorted({e.key for e in self.events} | {e.kind for e in self.events})
        code = {k: i for i, k in enumerate(keys)}
        np.savez_compressed(
            path,
            format=np.array(_FORMAT),
            modules=np.array(self.modules),
            t_s=np.diff(self.t_s, prepend=0.0).astype(np.int32),
            voltage=_delta(self.voltage_v, _V),
            current=_delta(self.current_a, _A),
            soc=_delta(self.soc_pct, _SOC),
            cvl=_delta(self.cvl_v, _V),
            ccl=_delta(self.ccl_a, _A),
            request=self.charge_request.astype(np.uint8),
            full=self.full.astype(np.uint8),
            keys=np.array(keys),
            event_t=np.array([e.t_s for e in self.events], dtype=np.float64),
            event_module=np.array([e.module_id for e in self.events], dtype=np.int16),
            event_kind=np.array([code[e.kind] for e in self.events], dtype=np.int16),
            event_key=np.array([code[e.key] for e in self.events], dtype=np.int16),
            event_message=np.array([e.message for e in self.events]),
        )

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read what :meth:`save` stored; InputError for anything else."""
        try:
            z = np.load(path, allow_pickle=False)
            if str(z["format"]) != _FORMAT:
                raise InputError(f"{path}: not a diagnosis recording ({z['format']})")
            keys = [str(k) for k in z["keys"]]
            events = tuple(
                Event(t_s=float(t), module_id=int(m), kind=keys[int(kd)], key=keys[int(ky)], message=str(msg))  # type: ignore[arg-type]
                for t, m, kd, ky, msg in zip(
                    z["event_t"], z["event_module"], z["event_kind"], z["event_key"], z["event_message"], strict=True
                )
            )
            return cls(
                modules=int(z["modules"]),
                t_s=np.cumsum(z["t_s"]).astype(float),
                voltage_v=_undelta(z["voltage"], _V),
                current_a=_undelta(z["current"], _A),
                soc_pct=_undelta(z["soc"], _SOC),
                cvl_v=_undelta(z["cvl"], _V),
                ccl_a=_undelta(z["ccl"], _A),
                charge_request=z["request"].astype(bool),
                full=z["full"].astype(bool),
                events=events,
            )
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the recording ({type(exc).__name__}: {exc})") from None

    @property
    def samples(self) -> int:
        return len(self.t_s)


def _delta(x: np.ndarray, step: float) -> np.ndarray:
    q = np.round(np.asarray(x, dtype=float) / step).astype(np.int64)
    return np.diff(q, prepend=0).astype(np.int32)


def _undelta(d: np.ndarray, step: float) -> np.ndarray:
    return np.cumsum(d.astype(np.int64)) * step


@dataclass
class Replay:
    """What a replay saw: samples judged, the span, and each distinct finding with when it was first seen."""

    samples: int = 0
    modules: int = 0
    first_s: float = math.nan
    last_s: float = math.nan
    first_seen: dict[tuple[str, int | None, str], tuple[float, Finding]] = field(default_factory=dict)

    @property
    def days(self) -> float:
        return 0.0 if self.samples == 0 else (self.last_s - self.first_s) / 86400.0

    def findings(self) -> list[tuple[float, Finding]]:
        """Each distinct finding with its first time, in time order."""
        return sorted(self.first_seen.values(), key=lambda x: x[0])


def series_file(out_dir: Path) -> Path:
    """The time series of a ``ml314 simulate`` output dir; InputError when there is none."""
    for name in ("timeseries.parquet", "timeseries.csv"):
        if (out_dir / name).is_file():
            return out_dir / name
    raise InputError(f"{out_dir}: no time series (timeseries.parquet or .csv) of a ml314 simulate run")


def _module_count(series: Path) -> int:
    names = {c.name for c in read_schema(series)}
    n = 0
    while f"m{n + 1:02d}_bms_state" in names:
        n += 1
    if n == 0:
        raise InputError(f"{series}: recorded without the BMS (no m01_bms_state column); nothing to diagnose")
    return n


def replay(rec: Recording, *, every_s: float = 60.0, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Replay:
    """Run the rules over ``rec`` at every ``every_s`` of it (at most every sample)."""
    n = rec.modules
    out = Replay(modules=n)
    observer = Observer(start_s=0.0)
    last_full: list[float | None] = [None] * n
    events = rec.events
    next_event = 0
    due = -math.inf
    for i in range(rec.samples):
        t = float(rec.t_s[i])
        for m in np.flatnonzero(rec.full[i]):
            last_full[int(m)] = t
        observer.add_trace(
            TracePoint(t, float(rec.voltage_v[i]), float(rec.current_a[i]), float(rec.soc_pct[i]),
                       float(rec.cvl_v[i]), float(rec.ccl_a[i]), bool(rec.charge_request[i]))
        )  # fmt: skip
        if t < due:
            continue
        due = t + every_s
        start = next_event
        while next_event < len(events) and events[next_event].t_s <= t:
            next_event += 1
        observer.feed_events(events[start:next_event])
        states = {e.module_id: e.key.split(".", 1)[1] for e in observer.ledger.last_states() if e.kind == "state"}
        modules = tuple(
            ModuleObservation(index=m, module_id=m + 1, state=states.get(m + 1, "unknown"),
                              voltage_v=float(rec.voltage_v[i]), last_full_charge_s=last_full[m])
            for m in range(n)
        )  # fmt: skip
        found = diagnose(observer.observe(t, modules), thresholds)
        out.samples += 1
        out.first_s = t if math.isnan(out.first_s) else out.first_s
        out.last_s = t
        for f in found:
            out.first_seen.setdefault(f.key, (t, f))
    return out
