"""Commissioning as a guided procedure: the start-up checks of manual 8.6.1 and the wiring rules of 8.4.2 and 8.5,
each with its result, evidence and the manual's instruction (pure).

Two kinds of step:

* **On site** (:data:`SITE_STEPS`): what only the installer can see (8.6.1: cables, combiner box, no loose
  conductive parts; 8.4.2: the inverter on the first or last module). The installer confirms each; an unconfirmed
  step is a warning, never a pass.
* **Measured** (:data:`MEASURED`): what the system shows: unique IDs (6.3, 8.4.2), termination only at the ends
  (8.5), every module online and in normal operation (8.4.2 step 4), the protocol selected matches the inverter
  heard on the bus (10.1.5, the detective), the initial charge after transport or storage (8.6.3, 13.1 (12)), the
  cells' spread, and the cautions of 13.1 (:mod:`ml314.diagnostics.cautions`: modules alike, not hot, within the
  temperature range).

The levels come from the BMS parameter set (:class:`CommissionLimits`); the ID and termination rules are those of
:mod:`ml314.system.addressing` (one rule in one place).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ml314.bms.parameters import BmsParameters
from ml314.diagnostics.cautions import CautionLimits, cautions
from ml314.diagnostics.checks import Check, Installation, ModuleFacts, Result
from ml314.diagnostics.detective import Identification, VerdictKind, choice, judge
from ml314.protocols.base import Transport
from ml314.protocols.registry import Entry
from ml314.system.addressing import FaultKind, check_wiring, wiring_from_ids

__all__ = ["MEASURED", "SITE_STEPS", "CommissionLimits", "SiteStep", "commission", "measured_checks", "site_checks"]


@dataclass(frozen=True, slots=True)
class SiteStep:
    """A step only the installer can check: ``key`` to confirm it by, the manual's words, the section."""

    key: str
    title: str
    instruction: str
    manual_ref: str


SITE_STEPS: tuple[SiteStep, ...] = (
    SiteStep(
        "diagram",
        "Connections as the manual's diagrams",
        "All electrical connections must be made in accordance with the electrical diagrams in the manual",
        "8.6.1, 5.3",
    ),
    SiteStep("combiner", "DC combiner box open", "The DC combiner box must be open before starting up", "8.6.1"),
    SiteStep(
        "cables",
        "Cables undamaged and fastened",
        "The cables are properly distributed, without mechanical damage, and connected and fastened correctly",
        "8.6.1",
    ),
    SiteStep(
        "protection",
        "Protection devices installed",
        "The internal protection devices in the combiner box must be firmly installed",
        "8.6.1",
    ),
    SiteStep("clean", "No loose parts", "No excess parts or conductive material remains", "8.6.1"),
    SiteStep(
        "inverter_port",
        "Inverter on the first or last module",
        "Connect the RS485/CAN interface of either the first or last battery module to the inverter, "
        "with the pins of 6.5",
        "8.4.2, 8.5, 6.5",
    ),
)


@dataclass(frozen=True, slots=True)
class CommissionLimits:
    """The levels the measured checks use (from a parameter set; the defaults are the shipped set's)."""

    spread_warn_v: float = 0.080  # limits.bulk_spread_v: "unbalanced"
    spread_fail_v: float = 0.30  # cell_imbalance.alarm: Table 12-2 #6
    full_soc_pct: float = 97.0  # limits.full_charge_soc
    low_soc_pct: float = 20.0  # soc.low_warning
    cautions: CautionLimits = field(default_factory=CautionLimits)

    @classmethod
    def from_parameters(cls, params: BmsParameters) -> CommissionLimits:
        return cls(
            spread_warn_v=params.limits.bulk_spread_v,
            spread_fail_v=params.row("cell_imbalance.alarm").trip,
            full_soc_pct=100.0 * params.limits.full_charge_soc,
            low_soc_pct=100.0 * params.soc.low_warning,
            cautions=CautionLimits.from_parameters(params),
        )


def site_checks(confirmed: Iterable[str]) -> tuple[Check, ...]:
    """The on-site steps, PASS where the installer confirmed them, WARN where not (yet)."""
    done = set(confirmed)
    out = []
    for s in SITE_STEPS:
        if s.key in done:
            out.append(
                Check(
                    f"site_{s.key}", s.title, Result.PASS, ("confirmed by the installer",), s.instruction, s.manual_ref
                )
            )
        else:
            out.append(
                Check(
                    f"site_{s.key}", s.title, Result.WARN, ("not confirmed on site yet",), s.instruction, s.manual_ref
                )
            )
    return tuple(out)


# ------------------------------------------------------------------------------------------ measured checks
def _wiring_check(
    inst: Installation,
    *,
    kinds: set[FaultKind],
    key: str,
    title: str,
    ref: str,
    instruction: str,
    passed: Callable[[Installation], str],
) -> Check:
    if not inst.wiring_known:
        return Check(
            key, title, Result.SKIP, ("the DIP switches are known only on a running system (--url)",), instruction, ref
        )
    mods = inst.modules
    report = check_wiring(
        wiring_from_ids(
            [m.module_id for m in mods], [m.termination_on for m in mods], powered=[m.powered for m in mods]
        )
    )
    faults = [f for f in report.faults if f.kind in kinds]
    if faults:
        ids = tuple(sorted({i for f in faults for i in f.module_ids}))
        return Check(key, title, Result.FAIL, tuple(f.message for f in faults), instruction, ref, ids)
    return Check(key, title, Result.PASS, (passed(inst),), instruction, ref)


def unique_ids(inst: Installation, limits: CommissionLimits) -> Check:
    del limits

    def passed(i: Installation) -> str:
        ids = ", ".join(str(m.module_id) for m in i.modules)
        return (
            f"IDs in chain order: {ids}; each unique and within 1..63; master ID {min(m.module_id for m in i.modules)}"
        )

    return _wiring_check(
        inst,
        kinds={FaultKind.DUPLICATE_ID, FaultKind.INVALID_ID, FaultKind.TOO_MANY_MODULES, FaultKind.NO_MASTER},
        key="unique_ids",
        title="Unique module IDs",
        ref="6.3, 8.4.2",
        instruction="When parallelizing multiple battery modules, follow the ID arrangement table to assign unique IDs "
        "(8.4.2); set the code on DIP switches 1-6 and press RESET (6.3)",
        passed=passed,
    )


def termination(inst: Installation, limits: CommissionLimits) -> Check:
    del limits

    def passed(i: Installation) -> str:
        if len(i.modules) == 1:
            return "one module: no parallel link to terminate"
        on = [str(m.position) for m in i.modules if m.termination_on]
        return f"switch 8 ON at chain positions {' and '.join(on)} of {len(i.modules)}, OFF between"

    return _wiring_check(
        inst,
        kinds={FaultKind.TERMINATION_MISSING, FaultKind.TERMINATION_EXTRA},
        key="termination",
        title="Termination only at the ends",
        ref="8.5",
        instruction="Set DIP switch 8 to the ON position on the first and last modules to enable the termination "
        "resistor; for the middle modules, set it OFF (8.5)",
        passed=passed,
    )


def normal_operation(inst: Installation, limits: CommissionLimits) -> Check:
    del limits
    key, title, ref = "normal_operation", "Every module online, no alarm", "8.4.2 (4), 12.1"
    instruction = (
        "Check the battery data and ensure the battery is on normal operation (8.4.2 step 4); if the battery "
        "fails to start or ALM lights up, disconnect the power line for inspection and start up again (8.4.2)"
    )
    evidence = []
    named = []
    for m in inst.modules:
        why = []
        if not m.powered:
            why.append("off")
        elif not m.online:
            why.append("not answering the master")
        if m.protections:
            why.append("protection " + ", ".join(m.protections))
        if m.alarms:
            why.append("alarm " + ", ".join(m.alarms))
        if m.state in {"fault", "sleep", "off"}:
            why.append(f"state {m.state}")
        if why:
            named.append(m.module_id)
            evidence.append(f"module ID {m.module_id}: {'; '.join(why)}")
    for kind in ("wiring", "no_master", "module_lost"):
        evidence += inst.faults_of(kind)
        named += inst.fault_modules(kind)
    if evidence:
        return Check(key, title, Result.FAIL, tuple(evidence), instruction, ref, tuple(named))
    return Check(
        key, title, Result.PASS, (f"{len(inst.modules)} module(s) online, no alarm or protection",), instruction, ref
    )


def _protocol_check(transport: Transport, selected: Entry | None, heard: Identification | None) -> Check:
    t = transport.value
    key, title, ref = f"protocol_{t.lower()}", f"{t} protocol matches the inverter", "10.1.5, Table 10-3, 12.2 #1"
    instruction = (
        f"Select the inverter's protocol for {t}: on the LCD, Settings > {t}, password, pick the program of "
        "Table 10-3, then restart the battery (10.1.5)"
    )
    if heard is None:
        what = "nothing listened on this port" if selected is not None else "port not in use"
        return Check(key, title, Result.SKIP, (what,), instruction, ref)
    if selected is None and heard.heard == 0:
        return Check(key, title, Result.SKIP, (f"no {t} protocol selected and no inverter heard",), instruction, ref)
    verdict = judge(heard, selected)
    evidence = (verdict.message, *heard.evidence)
    if verdict.kind is VerdictKind.MATCH:
        result = Result.PASS if heard.complete and not heard.by_id_only else Result.WARN
        return Check(key, title, result, evidence, instruction, ref)
    if verdict.kind is VerdictKind.MISMATCH:
        pick = ", ".join(choice(e) for e in verdict.choose)
        return Check(key, title, Result.FAIL, evidence, f"{instruction}: choose {pick}", ref)
    if verdict.kind is VerdictKind.UNHEARD and selected is not None:
        return Check(key, title, Result.FAIL, evidence, instruction, ref)
    return Check(key, title, Result.WARN, evidence, instruction, ref)


def protocol_can(inst: Installation, limits: CommissionLimits) -> Check:
    del limits
    return _protocol_check(Transport.CAN, inst.can_protocol, inst.can_heard)


def protocol_rs485(inst: Installation, limits: CommissionLimits) -> Check:
    del limits
    return _protocol_check(Transport.RS485, inst.rs485_protocol, inst.rs485_heard)


def initial_charge(inst: Installation, limits: CommissionLimits) -> Check:
    key, title, ref = "initial_charge", "Charged fully before use", "8.6.3, 13.1 (12)"
    instruction = (
        "During transportation or long-term storage the battery loses charge by self-discharge: charge it after "
        "the normal start-up and before use (8.6.3); batteries leave the factory at 50 % (13.1 (12))"
    )
    socs = [m.soc_pct for m in inst.modules]
    now = f"SOC now {min(socs):.0f} to {max(socs):.0f} %" if socs else "SOC unknown"
    if inst.max_soc_pct is not None and inst.max_soc_pct >= limits.full_soc_pct:
        return Check(
            key, title, Result.PASS, (f"reached {inst.max_soc_pct:.0f} % since start-up; {now}",), instruction, ref
        )
    seen = "no history" if inst.max_soc_pct is None else f"highest since start-up {inst.max_soc_pct:.0f} %"
    low = [m for m in inst.modules if m.soc_pct <= limits.low_soc_pct]
    if low:
        return Check(
            key,
            title,
            Result.FAIL,
            (
                f"{now}, at or below {limits.low_soc_pct:.0f} % on module ID "
                f"{', '.join(str(m.module_id) for m in low)}; {seen}",
            ),
            instruction + ": charge it now",
            ref,
            tuple(m.module_id for m in low),
        )
    return Check(
        key,
        title,
        Result.WARN,
        (f"not fully charged yet (full from {limits.full_soc_pct:.0f} %); {now}; {seen}",),
        instruction,
        ref,
    )


def cell_spread(inst: Installation, limits: CommissionLimits) -> Check:
    key, title, ref = "cell_spread", "Cell voltages close together", "12.2 #6, 13.1 (5)"
    instruction = (
        "A spread that stays wide means unbalanced cells: examine/balance the cells (Table 12-2 #6); between "
        f"{limits.spread_warn_v * 1000:.0f} and {limits.spread_fail_v * 1000:.0f} mV the BMS balances it, check again "
        "after the first full charge"
    )
    rows: list[tuple[ModuleFacts, float]] = [(m, s) for m in inst.modules if (s := m.cell_spread_v) is not None]
    if not rows:
        return Check(key, title, Result.SKIP, ("no cell voltages known",), instruction, ref)
    worst_m, worst_v = max(rows, key=lambda r: r[1])
    cells = [v for m in inst.modules for v in m.cell_voltages_v]
    bank = max(cells) - min(cells)
    evidence = (
        f"widest in a module: {worst_v * 1000:.0f} mV (module ID {worst_m.module_id}); across the bank "
        f"{bank * 1000:.0f} mV ({min(cells):.3f} to {max(cells):.3f} V)",
    )
    bad = tuple(m.module_id for m, s in rows if s >= limits.spread_fail_v)
    if bad:
        return Check(key, title, Result.FAIL, evidence, instruction, ref, bad)
    wide = tuple(m.module_id for m, s in rows if s >= limits.spread_warn_v)
    if wide:
        return Check(key, title, Result.WARN, evidence, instruction, ref, wide)
    return Check(key, title, Result.PASS, evidence, instruction, ref)


#: the measured checks in procedure order (the cautions of 13.1 follow them)
MEASURED: tuple[Callable[[Installation, CommissionLimits], Check], ...] = (
    unique_ids,
    termination,
    normal_operation,
    protocol_can,
    protocol_rs485,
    initial_charge,
    cell_spread,
)


def measured_checks(inst: Installation, limits: CommissionLimits | None = None) -> tuple[Check, ...]:
    """The measured checks and the cautions of 13.1, in procedure order."""
    lim = CommissionLimits() if limits is None else limits
    return (*(c(inst, lim) for c in MEASURED), *cautions(inst, lim.cautions))


def commission(
    inst: Installation, confirmed: Iterable[str] = (), limits: CommissionLimits | None = None
) -> tuple[Check, ...]:
    """The whole procedure: the on-site steps (confirmed or not), then the measured checks and the cautions."""
    return (*site_checks(confirmed), *measured_checks(inst, limits))
