"""Chapter 12's diagnostics on the running bank: what ``ml314 run`` exposes, turned into findings every few seconds.

:func:`bank_modules` reads the modules of the engine (status, breaker, LED fault code, last full charge);
:func:`inverter_links` the battery's inverter ports of a :class:`Runner`. :class:`DiagnosisJob` is a tick hook of
the run loop: every tick it adds the bank to the trace (cheap), and at most every ``every_s`` wall-clock seconds
it feeds the new events to its ledger and runs the rules (pure, a few milliseconds). The newest findings are one
immutable tuple that surfaces read from any thread (:meth:`DiagnosisJob.report`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml314.bms.events import C_LAST_FULL_CHARGE_S
from ml314.bms.leds import FAULT_ROWS, LedMode
from ml314.diagnostics import (
    RULES,
    Finding,
    InverterLinkObservation,
    ModuleObservation,
    Observation,
    Observer,
    diagnose,
    module_observation,
    trace_point,
)
from ml314.domain.battery_status import ModuleStatus
from ml314.domain.faults import SystemFaultKind
from ml314.errors import InputError
from ml314.runtime.run import Runner
from ml314.runtime.simulation import STATE_FILE
from ml314.storage.bms_store import StoredBms, backup_path, read_bms_file
from ml314.storage.data_dir import DataDir
from ml314.system.compiled_system import CompiledBankSystem
from ml314.twin import kernel as k

__all__ = [
    "DiagnosisJob",
    "bank_modules",
    "diagnose_stored",
    "inverter_links",
    "report_of",
    "stored_bank_path",
    "stored_observation",
]

_FAULT_CODE_OF_MODE = {row.led_mode: int(row.code) for row in FAULT_ROWS}


def bank_modules(system: CompiledBankSystem, snapshot: tuple[ModuleStatus, ...]) -> tuple[ModuleObservation, ...]:
    """Every module of ``system`` (``snapshot``: their statuses as their BMS reports them, chain order) with its
    breaker, the fault code its LEDs show and its last full charge; named by the BMS's module IDs, as its events."""
    ids = system.bms.module_ids
    breakers = system.bank.mod_par[k.MP_BREAKER_CLOSED]
    last_full = system.bms.counters.values[:, C_LAST_FULL_CHARGE_S]
    return tuple(
        module_observation(
            i,
            ids[i],
            status,
            breaker_closed=bool(breakers[i] > 0.5),
            fault_code=_FAULT_CODE_OF_MODE.get(LedMode(int(system.led_mode_ids[i]))),
            last_full_charge_s=float(last_full[i]),
        )
        for i, status in enumerate(snapshot)
    )


def inverter_links(runner: Runner) -> tuple[InverterLinkObservation, ...]:
    """The battery's inverter ports of ``runner``: keep-alive state, frames heard, recognised and unreadable."""
    out = []
    for port, link in (("CAN", runner.can_battery), ("RS485", runner.rs485_server)):
        if link is None:
            continue
        health = link.health_snapshot()
        info = link.codec.info
        out.append(
            InverterLinkObservation(
                port=port,
                protocol=f"{info.code} {info.name}".strip(),
                state=link.link_state().value,
                frames_in=health.frames_in,
                keepalives=link.watch.frames_seen,
                bad_frames=health.count(SystemFaultKind.LINK_BAD_FRAME),
                understood=health.frames_in if port == "RS485" else None,  # RS485 counts requests it could read
            )
        )
    return tuple(out)


def report_of(findings: tuple[Finding, ...], t_s: float) -> dict[str, Any]:
    """The JSON document of ``GET /api/diagnostics`` and ``ml314 diagnose --json``."""
    return {
        "t_s": t_s,
        "problem": bool(findings),
        "count": len(findings),
        "findings": [f.as_dict() for f in findings],
        "rules": [r.code for r in RULES],
    }


class DiagnosisJob:
    """The diagnostics of one :class:`Runner`: register with ``runner.tick_hooks.append(job.on_tick)`` after start."""

    def __init__(self, runner: Runner, *, every_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self.every_s = every_s
        self.clock = clock
        live = runner.live
        self.observer = Observer(start_s=0.0 if live is None else live.t_s)
        self._fed = 0  # events of the log (counted from its beginning, dropped included) already fed
        self._next = 0.0
        self.findings: tuple[Finding, ...] = ()
        self.t_s = 0.0
        self.runs = 0
        self.failure = ""  # the last failure reported (each reported once)
        #: called with one line per finding that appears or clears (the terminal of ``ml314 run``)
        self.on_change: Callable[[str], None] | None = None

    def on_tick(self) -> None:
        """On the run loop's thread: trace the bank now; diagnose when ``every_s`` has passed."""
        live = self.runner.live
        if live is None:
            return
        self.observer.add_trace(trace_point(live.status))
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.every_s
        try:
            self.run_once()
        except Exception as exc:  # a diagnosis must never end the run loop: say so once per kind of failure
            why = f"{type(exc).__name__}: {exc}"
            if why != self.failure:
                self.failure = why
                self.runner.echo(f"ml314: warning: diagnostics failed ({why}); the bank runs on")

    def observation(self) -> Observation:
        """The observation of now (on the run loop's thread: it reads the live bank)."""
        live = self.runner.live
        assert live is not None
        log = live.system.bms.events
        total = log.dropped + len(log)
        new = total - self._fed
        if new > 0:
            self.observer.feed_events(log.recent(new))
            self._fed = total
        return self.observer.observe(
            live.t_s,
            bank_modules(live.system, live.snapshot),
            faults=tuple(self.runner.faults()),
            inverter_links=inverter_links(self.runner),
        )

    def run_once(self) -> tuple[Finding, ...]:
        obs = self.observation()
        before = {f.key: f for f in self.findings}
        self.findings = diagnose(obs)
        self.t_s = obs.t_s
        self.runs += 1
        if self.on_change is not None:
            now = {f.key: f for f in self.findings}
            for key, f in now.items():
                if key not in before:
                    self.on_change(f"diagnosis: {f.text()}: {f.manual.solution}")
            for key, f in before.items():
                if key not in now:
                    self.on_change(f"diagnosis cleared: {f.where}: {f.title}")
        return self.findings

    def report(self) -> dict[str, Any]:
        """The newest findings as JSON (any thread)."""
        return report_of(self.findings, self.t_s)


def stored_observation(stored: StoredBms) -> Observation:
    """The observation a stored bank allows (``ml314 diagnose --data-dir``): the event log (protections in force,
    each module's last state) and the counters (last full charge) at the time it was saved. What only the live
    run knows (links, breakers, the trace) is absent, so the rules on it stay silent."""
    observer = Observer(start_s=0.0)
    observer.feed_events(stored.events)
    states = {e.module_id: e.key.split(".", 1)[1] for e in observer.ledger.last_states() if e.kind == "state"}
    last_full = stored.counters.values[:, C_LAST_FULL_CHARGE_S]
    t_s = stored.saved_t_s
    if math.isnan(t_s):  # not stated
        t_s = max((e.t_s for e in stored.events), default=0.0)
    modules = tuple(
        ModuleObservation(
            index=i,
            module_id=i + 1,
            state=states.get(i + 1, "unknown"),
            last_full_charge_s=None if math.isnan(last_full[i]) else float(last_full[i]),
        )
        for i in range(stored.counters.n_modules)
    )
    return observer.observe(t_s, modules)


def stored_bank_path(path: Path) -> Path:
    """The bank store in ``path``: a ``ml314 run`` data dir, or a ``ml314 simulate`` output dir (its end state);
    InputError when it holds neither."""
    for candidate in (path / STATE_FILE, DataDir(path).state_path):
        if candidate.is_file() or backup_path(candidate).is_file():
            return candidate
    raise InputError(f"--data-dir {path}: no stored bank there (neither a ml314 run data dir nor a simulate output)")


def diagnose_stored(path: Path) -> tuple[Observation, tuple[Finding, ...]]:
    """The findings of the bank stored in ``path`` (see :func:`stored_bank_path`); InputError for a missing or
    damaged store."""
    store = stored_bank_path(path)
    try:
        stored = read_bms_file(store)
    except InputError:
        stored = read_bms_file(backup_path(store))  # the verified backup, as a restart would use it
    obs = stored_observation(stored)
    return obs, diagnose(obs)
