"""The rules of chapter 12, one row each: an :class:`Observation` in, :class:`Finding` records out.

Each row of :data:`RULES` names its code, the manual's row (:mod:`ml314.diagnostics.manual`), why it holds and the
check. A check returns one finding per module (or link) concerned, and none when its inputs are unknown (None):
a rule never guesses. :func:`diagnose` runs them all; :func:`rule` finds one by code (nearest name on a typo).
Thresholds are one :class:`Thresholds` value; docs/diagnostics.md lists every rule with its inputs and levels.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ml314.bms.events import Event
from ml314.diagnostics.finding import Evidence, Finding
from ml314.diagnostics.manual import manual_row
from ml314.diagnostics.observation import InverterLinkObservation, ModuleObservation, Observation
from ml314.domain.faults import FaultSeverity, SystemFaultKind

__all__ = ["RULES", "Rule", "Thresholds", "diagnose", "rule"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The levels the rules judge by (defaults: the shipped BMS parameter set and the manual)."""

    soh_warning_pct: float = 80.0  # [soh] warning of bms/data/default.toml (bms.md #58)
    full_charge_days: float = 30.0  # twice the BMS's full-charge request interval (14 days)
    restart_v: float = 40.0  # [states] deep_discharge_restart_v, 12.2 #10
    wrong_protocol_frames: int = 5  # frames heard with none recognised before the protocol is called wrong
    cv_window_s: float = 3600.0  # how long the charger must hold its voltage over the tail (12.2 #4)
    cv_flat_v: float = 0.15  # the voltage stays within this over the window (measurement noise included)...
    cv_drift_v: float = 0.02  # ...its first and last quarters' means this close...
    cv_current_drop: float = 0.5  # ...while the current decays by at least this fraction...
    cv_tail_a: float = 3.0  # ...per module, never above this (about 0.01 C: a tail, not the PV's surplus)...
    cv_min_current_a: float = 0.05  # ...and never below this per module (it still charges: the evening's PV
    # surplus crosses zero within the window, a held voltage's tail does not)
    cv_margin_v: float = 0.3  # the held voltage is at least this far below the CVL the battery asks
    cv_full_soc_pct: float = 95.0  # a battery this full is charged fully


DEFAULT_THRESHOLDS = Thresholds()

Check = Callable[[Observation, Thresholds], Iterator[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One diagnosis: its code, the manual's row key, its severity, why it holds (for docs and the API), the check."""

    code: str
    manual: str
    severity: FaultSeverity
    title: str
    reason: str
    check: Check

    def finding(
        self,
        where: str,
        evidence: tuple[Evidence, ...],
        *,
        module_id: int | None = None,
        since_s: float | None = None,
        title: str | None = None,
    ) -> Finding:
        return Finding(
            code=self.code,
            severity=self.severity,
            title=title or self.title,
            module_id=module_id,
            where=where,
            evidence=evidence,
            manual=manual_row(self.manual),
            since_s=since_s,
        )


# ------------------------------------------------------------------------------------------------ helpers
def _where(module_id: int) -> str:
    return f"module {module_id}"


def _event_evidence(e: Event) -> Evidence:
    """The BMS's event as evidence: what tripped ("cell imbalance alarm tripped"), its value, unit and level."""
    parts = e.message.split(": ") if e.message else []
    what = parts[1] if len(parts) > 1 else e.key  # "Module N: <row> <verb>: <reading>; <action>."
    value: float | str = e.value if e.value == e.value else e.kind  # NaN: no value, the event's kind
    threshold = e.threshold if e.threshold == e.threshold else None
    return Evidence(what, value, e.unit, threshold, e.t_s)


def _sensor_evidence(e: Event) -> list[Evidence]:
    """The sensor the BMS named in the event ("NTC 3 (cells 9-12) reads -40.0 degC"), if it named one."""
    reading = e.message.split(": ", 2)[2].split(";")[0] if e.message.count(": ") >= 2 else ""
    if " on " not in reading:
        return []
    return [Evidence("sensor", reading.split(" on ", 1)[1].split(", ")[0], t_s=e.t_s)]


def _active(obs: Observation, names: tuple[str, ...], levels: tuple[str, ...] = ()) -> dict[int, Event]:
    """The first trip in force per module among protection rows ``names`` (at ``levels``; empty: any level)."""
    out: dict[int, Event] = {}
    for e in obs.active:
        name, _, level = e.key.partition(".")
        if name in names and (not levels or level in levels) and e.module_id not in out:
            out[e.module_id] = e
    return out


def _module_evidence(m: ModuleObservation) -> tuple[Evidence, ...]:
    out = [Evidence("state", m.state)]
    if m.voltage_v is not None:
        out.append(Evidence("module voltage", m.voltage_v, "V"))
    if m.soc_pct is not None:
        out.append(Evidence("SOC", m.soc_pct, "%"))
    return tuple(out)


def _by_protection(names: tuple[str, ...], fault_code: int | None = None, levels: tuple[str, ...] = ()) -> Check:
    """A rule on protection rows in force (from the event log) or the LED fault code the panel shows."""

    def check(obs: Observation, th: Thresholds) -> Iterator[Finding]:
        del th
        found = _active(obs, names, levels)
        ids = set(found)
        if fault_code is not None:
            ids |= {m.module_id for m in obs.modules if m.fault_code == fault_code}
        for mid in sorted(ids):
            e = found.get(mid)
            evidence: list[Evidence] = [] if e is None else [_event_evidence(e)]
            if e is not None and "temperature_sensor" in names:
                evidence += _sensor_evidence(e)  # 12.2 #7: "replace the temperature sensor cable" named here
            m = obs.module(mid)
            if fault_code is not None and m is not None and m.fault_code == fault_code:
                evidence.append(Evidence("LED fault code (Table 12-2 row)", str(fault_code)))
            if m is not None:
                evidence += _detail(names, m)
            yield _RULE_OF_CHECK[check].finding(
                _where(mid), tuple(evidence), module_id=mid, since_s=None if e is None else e.t_s
            )

    return check


def _detail(names: tuple[str, ...], m: ModuleObservation) -> list[Evidence]:
    """The module's readings that bear on protection rows ``names``."""
    out: list[Evidence] = []
    if "cell_imbalance" in names and m.cell_min_v is not None and m.cell_max_v is not None:
        out.append(Evidence(f"highest cell (cell {m.cell_max_index})", m.cell_max_v, "V"))
        out.append(Evidence(f"lowest cell (cell {m.cell_min_index})", m.cell_min_v, "V"))
    if "temperature_sensor" in names and m.temp_min_c is not None and m.temp_max_c is not None:
        out.append(Evidence("cell temperatures (lowest..highest)", f"{m.temp_min_c:.1f}..{m.temp_max_c:.1f}", "degC"))
    return out


# ------------------------------------------------------------------------------------------- 12-2 #1
def _speaks_other(link: InverterLinkObservation, th: Thresholds) -> bool:
    """Frames come, none in the selected protocol."""
    heard = link.frames_in >= th.wrong_protocol_frames or link.bad_frames > 0
    return link.keepalives == 0 and not link.understood and heard


def _polls_other_id(link: InverterLinkObservation, th: Thresholds) -> bool:
    """Requests in the selected protocol come, and none names a module the battery answers for."""
    return link.keepalives == 0 and link.understood is not None and link.understood >= th.wrong_protocol_frames


def _no_keepalive(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    for link in obs.inverter_links:
        if link.state != "ok" and not _speaks_other(link, th) and not _polls_other_id(link, th):
            heard = "nothing" if link.frames_in == 0 else f"{link.frames_in} frames, then silence"
            yield RULE_NO_KEEPALIVE.finding(
                f"{link.port} {link.protocol}",
                (
                    Evidence("inverter keep-alive", link.state),
                    Evidence("frames heard from the inverter", heard),
                ),
            )


def _wrong_protocol(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    for link in obs.inverter_links:
        if _speaks_other(link, th):
            yield RULE_WRONG_PROTOCOL.finding(
                f"{link.port} {link.protocol}",
                (
                    Evidence("frames heard on the port", link.frames_in, threshold=float(th.wrong_protocol_frames)),
                    Evidence("frames that could not be read", link.bad_frames),
                    Evidence(f"frames recognised as the inverter's in {link.protocol}", link.keepalives),
                ),
            )


def _inverter_address(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    for link in obs.inverter_links:
        if _polls_other_id(link, th):
            yield RULE_INVERTER_ADDRESS.finding(
                f"{link.port} {link.protocol}",
                (
                    Evidence(f"requests read in {link.protocol}", link.understood or 0,
                             threshold=float(th.wrong_protocol_frames)),
                    Evidence("requests answered (none names a module of this bank)", link.keepalives),
                ),
            )  # fmt: skip


_ID_FAULTS = (SystemFaultKind.WIRING, SystemFaultKind.NO_MASTER, SystemFaultKind.MODULE_LOST)


def _id_error(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    del th
    seen: set[tuple[SystemFaultKind, int | None]] = set()
    for f in obs.faults:
        if f.kind not in _ID_FAULTS or (f.kind, f.module_id) in seen:
            continue
        seen.add((f.kind, f.module_id))
        where = _where(f.module_id) if f.module_id is not None else "bank link"
        title = "module lost from the bank" if f.kind is SystemFaultKind.MODULE_LOST else RULE_ID_ERROR.title
        yield RULE_ID_ERROR.finding(
            where, (Evidence(f.kind.value.replace("_", " "), f.details, t_s=f.t_s),), module_id=f.module_id,
            since_s=f.t_s, title=title,
        )  # fmt: skip


def _port_lost(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    del th
    for f in obs.faults:
        if f.kind is SystemFaultKind.LINK_LOST:
            yield RULE_PORT_LOST.finding(f.link or "link", (Evidence("device", f.details, t_s=f.t_s),), since_s=f.t_s)


# ------------------------------------------------------------------------------------------- 12-2 #2
def _breaker_open(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    del th
    for m in obs.modules:
        if m.breaker_closed is False:
            yield RULE_BREAKER.finding(
                _where(m.module_id), (Evidence("DC breaker", "open"), *_module_evidence(m)), module_id=m.module_id
            )


_LOW_VOLTAGE = ("cell_undervoltage", "pack_undervoltage")


def _low_voltage_output(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    del th
    found = _active(obs, _LOW_VOLTAGE, ("protection",))
    damaged = _active(obs, ("voltage_sensor",))  # its pack voltage cannot be believed: 12.2 #8 says it
    for mid, e in sorted(found.items()):
        m = obs.module(mid)
        if (m is not None and m.state in ("sleep", "shutdown")) or mid in damaged:
            continue  # 12.2 #9 / #10 say more
        more = () if m is None else _module_evidence(m)
        yield RULE_LOW_VOLTAGE.finding(_where(mid), (_event_evidence(e), *more), module_id=mid, since_s=e.t_s)


# ------------------------------------------------------------------------------------------- 12-2 #3
def _capacity_low(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    for m in obs.modules:
        if m.soh_pct is not None and m.soh_pct < th.soh_warning_pct:
            yield RULE_CAPACITY.finding(
                _where(m.module_id),
                (Evidence("state of health (learned capacity and resistance)", m.soh_pct, "%", th.soh_warning_pct),),
                module_id=m.module_id,
            )


def _not_full(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    limit_s = th.full_charge_days * 86400.0
    for m in obs.modules:
        if m.state in ("unknown", "shutdown"):
            continue
        last = m.last_full_charge_s
        since = obs.start_s if last is None else last
        if obs.t_s - since > limit_s:
            seen = "never in this record" if last is None else f"{(obs.t_s - last) / 86400.0:.1f} days ago"
            yield RULE_NOT_FULL.finding(
                _where(m.module_id),
                (Evidence("last full charge", seen, threshold=None, t_s=last),
                 Evidence("days without a full charge", (obs.t_s - since) / 86400.0, "d", th.full_charge_days)),
                module_id=m.module_id,
            )  # fmt: skip


# ------------------------------------------------------------------------------------------- 12-2 #4
def _charge_voltage_low(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    """The battery asks for a full charge, and the charger holds its voltage below the battery's CVL while the charge
    current decays in a long tail: a constant-voltage phase at the charger's own (too low) setting. Judged on the
    newest ``cv_window_s`` of the trace, per module for the currents (the trace is the bank's). The request matters:
    without it the charge current is the PV's surplus, which may fall while a large bank's voltage stays flat."""
    trace = obs.trace
    if len(trace) < 8 or not trace[-1].charge_request or trace[-1].t_s - trace[0].t_s < th.cv_window_s:
        return
    start = trace[-1].t_s - th.cv_window_s
    window = [p for p in trace if p.t_s >= start]
    if not all(p.charge_request for p in window):
        return
    n = max(1, len(obs.modules))
    currents = [p.current_a / n for p in window]
    volts = [p.voltage_v for p in window]
    if min(currents) < th.cv_min_current_a or max(currents) > th.cv_tail_a:
        return
    if currents[-1] > (1.0 - th.cv_current_drop) * currents[0]:
        return
    if max(volts) - min(volts) > th.cv_flat_v:
        return
    quarter = max(1, len(volts) // 4)
    if abs(sum(volts[:quarter]) / quarter - sum(volts[-quarter:]) / quarter) > th.cv_drift_v:
        return
    first, last = window[0], window[-1]
    cvl = min(p.cvl_v for p in window)
    held = sum(volts) / len(volts)
    if held > cvl - th.cv_margin_v or last.soc_pct >= th.cv_full_soc_pct:
        return
    yield RULE_CHARGE_VOLTAGE.finding(
        "bank",
        (
            Evidence("charger voltage held", held, "V", t_s=last.t_s),
            Evidence("charge voltage the battery asks (CVL)", cvl, "V"),
            Evidence("charge current decayed", f"{first.current_a:.1f} -> {last.current_a:.1f}", "A"),
            Evidence("bank SOC", last.soc_pct, "%", th.cv_full_soc_pct),
        ),
        since_s=first.t_s,
    )


# ------------------------------------------------------------------------------------------- 12-2 #9, #10
def _state_event(obs: Observation, module_id: int, key: str) -> Event | None:
    for e in obs.last_states:
        if e.module_id == module_id and (e.key == key or (key == "refused" and e.key == "state.refused")):
            return e
    return None


def _sleep(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    for m in obs.modules:
        if m.state != "sleep" or (m.voltage_v is not None and m.voltage_v < th.restart_v):
            continue
        e = _state_event(obs, m.module_id, "state.sleep")
        evidence = (*_module_evidence(m), *(() if e is None else (Evidence("went to sleep", e.message, t_s=e.t_s),)))
        yield RULE_SLEEP.finding(_where(m.module_id), evidence, module_id=m.module_id,
                                 since_s=None if e is None else e.t_s)  # fmt: skip


def _deep_discharge(obs: Observation, th: Thresholds) -> Iterator[Finding]:
    latched = _active(obs, ("deep_discharge",))
    for m in obs.modules:
        low = m.voltage_v is not None and m.voltage_v < th.restart_v and m.state in ("sleep", "shutdown")
        e = latched.get(m.module_id)
        refused = browned = None
        if m.state == "shutdown":  # what the BMS said as it went off, or when a start was refused
            refused = _state_event(obs, m.module_id, "refused")
            browned = _state_event(obs, m.module_id, "state.shutdown")
            browned = browned if browned is not None and "too low" in browned.message else None
        if not (low or e is not None or (m.state == "shutdown" and (refused or browned))):
            continue
        evidence = list(_module_evidence(m))
        if m.voltage_v is not None:
            evidence.append(Evidence("module voltage against the BMS's start voltage", m.voltage_v, "V", th.restart_v))
        evidence += [Evidence("BMS", x.message, t_s=x.t_s) for x in (browned, refused) if x is not None]
        if e is not None:
            evidence.append(_event_evidence(e))
        since = min((x.t_s for x in (browned, refused, e) if x is not None), default=None)
        yield RULE_DEEP.finding(_where(m.module_id), tuple(evidence), module_id=m.module_id, since_s=since)


# ------------------------------------------------------------------------------------------------ the table
_A = FaultSeverity.ALARM
_W = FaultSeverity.WARNING
_C = FaultSeverity.CAUTION

RULE_NO_KEEPALIVE = Rule(
    "no_keepalive",
    "12-2.1",
    _A,
    "communication failure with the inverter: no keep-alive",
    "the inverter's keep-alive stopped, or never came (protocols/keepalive.py)",
    _no_keepalive,
)
RULE_WRONG_PROTOCOL = Rule(
    "wrong_protocol",
    "12-2.1",
    _A,
    "communication failure with the inverter: it speaks another protocol",
    "frames arrive on the port but none is the selected protocol's keep-alive or request",
    _wrong_protocol,
)
RULE_INVERTER_ADDRESS = Rule(
    "inverter_address",
    "12-2.1",
    _A,
    "communication failure with the inverter: it polls an ID the battery does not have",
    "requests in the selected protocol arrive, but none names a module of this bank (battery ID setting error)",
    _inverter_address,
)
RULE_ID_ERROR = Rule(
    "id_error",
    "12-2.1",
    _A,
    "communication failure: battery ID setting error",
    "the bank link found duplicate or invalid IDs, no master, or lost a module (6.3, 8.5)",
    _id_error,
)
RULE_PORT_LOST = Rule(
    "port_lost",
    "12-2.1",
    _A,
    "communication port connect error",
    "the CAN or RS485 device (or the bank link) is gone and being reopened",
    _port_lost,
)
RULE_BREAKER = Rule(
    "breaker_open",
    "12-2.2",
    _A,
    "no DC output: breaker open",
    "the module's DC breaker is open, so it carries no current",
    _breaker_open,
)
RULE_LOW_VOLTAGE = Rule(
    "low_voltage",
    "12-2.2",
    _A,
    "no DC output: low voltage",
    "cell or pack under-voltage protection holds the discharge path open",
    _low_voltage_output,
)
RULE_CAPACITY = Rule(
    "capacity_low",
    "12-2.3",
    _W,
    "power supply time too short: battery capacity lack",
    "the BMS's state of health is below its warning level",
    _capacity_low,
)
RULE_NOT_FULL = Rule(
    "not_full",
    "12-2.3",
    _C,
    "power supply time too short: not full power",
    "no full charge for longer than twice the BMS's full-charge request interval",
    _not_full,
)
RULE_CHARGE_VOLTAGE = Rule(
    "charge_voltage_low",
    "12-2.4",
    _W,
    "battery can't be charged fully",
    "the battery asks for a full charge; the charger holds a voltage below its CVL while the current tapers",
    _charge_voltage_low,
)
RULE_SHORT = Rule(
    "short_circuit",
    "12-2.5",
    _A,
    "ALM always on: short circuit",
    "the short-circuit protection is in force (or the LEDs show code 5)",
    _by_protection(("short_circuit",), 5),
)
RULE_CELLS = Rule(
    "cell_unbalance",
    "12-2.6",
    _A,
    "cell voltage unbalance",
    "the cell-imbalance row is in force (or the LEDs show code 6)",
    _by_protection(("cell_imbalance",), 6, ("alarm", "protection")),
)
RULE_TEMPS = Rule(
    "temperature_unbalance",
    "12-2.7",
    _A,
    "temperature unbalance: a temperature sensor",
    "the temperature-sensor plausibility row is in force (or the LEDs show code 7)",
    _by_protection(("temperature_sensor",), 7, ("alarm", "protection")),
)
RULE_BMS = Rule(
    "bms_damaged",
    "12-2.8",
    _A,
    "BMS damaged",
    "a voltage or current sensor of the BMS is implausible (latched; or the LEDs show code 8)",
    _by_protection(("voltage_sensor", "current_sensor"), 8),
)
RULE_SLEEP = Rule(
    "sleep",
    "12-2.9",
    _A,
    "low-voltage protection: the module sleeps",
    "the BMS went to sleep after its under-voltage protection held (no LED on)",
    _sleep,
)
RULE_DEEP = Rule(
    "deep_discharge",
    "12-2.10",
    _A,
    "deep discharged: voltage too low to start the BMS",
    "the module is below the BMS's start voltage (40 V), or the deep-discharge latch is set",
    _deep_discharge,
)
RULE_CHARGE_OC = Rule(
    "charge_overcurrent",
    "12-1.charge_overcurrent",
    _A,
    "charge over-current protection",
    "the charge over-current alarm or protection row is in force",
    _by_protection(("charge_overcurrent",), None, ("alarm", "protection")),
)
RULE_CHARGE_T = Rule(
    "charge_temperature",
    "12-1.charge_temperature",
    _A,
    "charge temperature protection",
    "a charge over- or under-temperature protection row is in force",
    _by_protection(("charge_overtemperature", "charge_undertemperature"), None, ("protection",)),
)
RULE_DISCHARGE_OC = Rule(
    "discharge_overcurrent",
    "12-1.discharge_overcurrent",
    _A,
    "discharge over-current protection",
    "the discharge over-current alarm or protection row is in force",
    _by_protection(("discharge_overcurrent",), None, ("alarm", "protection")),
)
RULE_DISCHARGE_T = Rule("discharge_temperature", "12-1.discharge_temperature", _A, "discharge temperature protection",
                        "a discharge over- or under-temperature protection row is in force",
                        _by_protection(("discharge_overtemperature", "discharge_undertemperature"), None,
                                       ("protection",)))  # fmt: skip

RULES: tuple[Rule, ...] = (
    RULE_NO_KEEPALIVE,
    RULE_WRONG_PROTOCOL,
    RULE_INVERTER_ADDRESS,
    RULE_ID_ERROR,
    RULE_PORT_LOST,
    RULE_BREAKER,
    RULE_LOW_VOLTAGE,
    RULE_CAPACITY,
    RULE_NOT_FULL,
    RULE_CHARGE_VOLTAGE,
    RULE_SHORT,
    RULE_CELLS,
    RULE_TEMPS,
    RULE_BMS,
    RULE_SLEEP,
    RULE_DEEP,
    RULE_CHARGE_OC,
    RULE_CHARGE_T,
    RULE_DISCHARGE_OC,
    RULE_DISCHARGE_T,
)
_RULE_OF_CHECK: dict[Check, Rule] = {r.check: r for r in RULES}
_BY_CODE = {r.code: r for r in RULES}


def rule(code: str) -> Rule:
    """The rule ``code``; KeyError naming the nearest code for a misspelt one."""
    try:
        return _BY_CODE[code]
    except KeyError:
        near = difflib.get_close_matches(code, list(_BY_CODE), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise KeyError(f"no diagnostic {code!r}{hint}; one of {', '.join(_BY_CODE)}") from None


def diagnose(obs: Observation, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[Finding, ...]:
    """Every finding of every rule on ``obs``: most severe first, then by module."""
    found = [f for r in RULES for f in r.check(obs, thresholds)]
    found.sort(key=lambda f: (-f.severity, f.module_id if f.module_id is not None else 0, f.code))
    return tuple(found)


def _check_table() -> None:
    codes = [r.code for r in RULES]
    if len(set(codes)) != len(codes):  # pragma: no cover - a programming error caught at import
        raise AssertionError("two rules share a code")
    for r in RULES:
        manual_row(r.manual)


_check_table()
