"""The cautions of manual 13.1 that software can see, as checks the live system shows (pure).

* 13.1 (5) "DO NOT use batteries from different manufacturers or different types together, and do not mix old
  and new batteries": modules whose model or firmware differ, and the master's own mix cautions (type, capacity,
  firmware, manufacture date, SOH: ``system/bank_master.py``), which it raises on the bank link.
* 13.1 (11) "use the battery within the temperature range specified in the manual": a cell charging outside the
  charge range or discharging outside the discharge range of the product spec (6.1), or any cell outside the
  widest of them at rest.
* 13.1 (6), (9) "DO NOT use the battery when it is hot": a cell at or above the BMS's over-temperature warning
  level, or the MOSFET or board at or above theirs, whatever the battery does.

The levels come from the parameter set and the spec (:class:`CautionLimits`), not from numbers here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ml314.bms.parameters import BmsParameters
from ml314.diagnostics.checks import Check, Installation, ModuleFacts, Result
from ml314.domain.spec import ML314

__all__ = ["CAUTIONS", "CautionLimits", "cautions"]


@dataclass(frozen=True, slots=True)
class CautionLimits:
    """The levels the cautions use: the spec's temperature ranges, the BMS's warning levels, its rest current."""

    charge_min_c: float = ML314.charge_temperature_min_c
    charge_max_c: float = ML314.charge_temperature_max_c
    discharge_min_c: float = ML314.discharge_temperature_min_c
    discharge_max_c: float = ML314.discharge_temperature_max_c
    hot_cell_c: float = 50.0
    hot_electronics_c: float = 70.0
    rest_current_a: float = 1.0

    @classmethod
    def from_parameters(cls, params: BmsParameters) -> CautionLimits:
        return cls(
            hot_cell_c=params.row("charge_overtemperature.warning").trip,
            hot_electronics_c=min(
                params.row("mosfet_overtemperature.warning").trip, params.row("board_overtemperature.warning").trip
            ),
            rest_current_a=params.rest_current_a,
        )


def _ids(modules: list[ModuleFacts]) -> tuple[int, ...]:
    return tuple(m.module_id for m in modules)


def mixed_modules(inst: Installation, limits: CautionLimits) -> Check:
    del limits
    key, title, ref = "mixed_modules", "Modules of one type and age", "13.1 (5)"
    instruction = (
        "Do not use batteries from different manufacturers or of different types together, and do not mix old and "
        "new batteries (13.1 (5)): replace the module named, or update its firmware to the master's"
    )
    evidence: list[str] = []
    named: list[int] = []
    for attr, label in (("model", "model"), ("firmware", "firmware")):
        ref_value = getattr(inst, attr) or next((getattr(m, attr) for m in inst.modules if getattr(m, attr)), None)
        for m in inst.modules:
            value = getattr(m, attr)
            if value is not None and ref_value is not None and value != ref_value:
                evidence.append(f"module ID {m.module_id}: {label} {value}, the master's is {ref_value}")
                named.append(m.module_id)
    evidence += inst.faults_of("bank_mix")
    named += inst.fault_modules("bank_mix")
    if evidence:
        return Check(key, title, Result.FAIL, tuple(evidence), instruction, ref, tuple(sorted(set(named))))
    if inst.firmware is None and not any(m.firmware or m.model for m in inst.modules) and not inst.wiring_known:
        why = "the modules' identities (type, firmware, age) are known only on a running system (--url)"
        return Check(key, title, Result.SKIP, (why,), instruction, ref)
    firmware = inst.firmware or "the master's"
    model = inst.model or "the master's"
    seen = (
        f"{len(inst.modules)} module(s): model {model}, firmware {firmware}; the master compares every member's "
        "type, capacity, firmware, manufacture date and SOH on the bank link and reports none different"
    )
    return Check(key, title, Result.PASS, (seen,), instruction, ref)


def _range_for(m: ModuleFacts, limits: CautionLimits) -> tuple[str, float, float]:
    if m.current_a > limits.rest_current_a:
        return "charging", limits.charge_min_c, limits.charge_max_c
    if m.current_a < -limits.rest_current_a:
        return "discharging", limits.discharge_min_c, limits.discharge_max_c
    return "at rest", min(limits.charge_min_c, limits.discharge_min_c), max(limits.charge_max_c, limits.discharge_max_c)


def temperature_range(inst: Installation, limits: CautionLimits) -> Check:
    key, title, ref = "temperature_range", "Used within its temperature range", "13.1 (11), 6.1"
    instruction = (
        f"Use the battery within the temperature range of the manual: charge {limits.charge_min_c:g} to "
        f"{limits.charge_max_c:g} °C, discharge {limits.discharge_min_c:g} to {limits.discharge_max_c:g} °C "
        "(13.1 (11)); move the battery or condition the room"
    )
    out: list[ModuleFacts] = []
    evidence = []
    for m in inst.modules:
        cells = m.cell_temperatures_c
        if not cells:
            continue
        doing, lo, hi = _range_for(m, limits)
        if min(cells) < lo or max(cells) > hi:
            out.append(m)
            evidence.append(
                f"module ID {m.module_id} {doing} at {m.current_a:+.1f} A with cells {min(cells):.1f} to "
                f"{max(cells):.1f} °C, outside {lo:g} to {hi:g} °C"
            )
    if out:
        return Check(key, title, Result.FAIL, tuple(evidence), instruction, ref, _ids(out))
    temps = [t for m in inst.modules for t in m.cell_temperatures_c]
    if not temps:
        return Check(key, title, Result.SKIP, ("no cell temperature known",), instruction, ref)
    seen = f"cells {min(temps):.1f} to {max(temps):.1f} °C over {len(inst.modules)} module(s), within range"
    return Check(key, title, Result.PASS, (seen,), instruction, ref)


def hot_battery(inst: Installation, limits: CautionLimits) -> Check:
    key, title, ref = "hot_battery", "Not hot", "13.1 (6), (9)"
    instruction = (
        "Do not use the battery when it is hot (13.1 (6)); if it feels hot, bulges or smells, stop using it and "
        "report it to the after-sale department immediately (13.1 (9))"
    )
    hot: list[ModuleFacts] = []
    evidence = []
    for m in inst.modules:
        cells = m.cell_temperatures_c
        electronics = (m.temperatures_c[0], m.temperatures_c[-1]) if len(m.temperatures_c) > 2 else ()
        words = []
        if cells and max(cells) >= limits.hot_cell_c:
            words.append(f"cells up to {max(cells):.1f} °C (hot from {limits.hot_cell_c:g} °C)")
        if electronics and max(electronics) >= limits.hot_electronics_c:
            words.append(f"board/MOSFET {max(electronics):.1f} °C (hot from {limits.hot_electronics_c:g} °C)")
        if words:
            hot.append(m)
            evidence.append(f"module ID {m.module_id}: " + ", ".join(words))
    if hot:
        return Check(key, title, Result.FAIL, tuple(evidence), instruction, ref, _ids(hot))
    temps = [t for m in inst.modules for t in m.temperatures_c]
    if not temps:
        return Check(key, title, Result.SKIP, ("no temperature known",), instruction, ref)
    seen = (
        f"hottest sensor {max(temps):.1f} °C, below {limits.hot_cell_c:g} °C (cells) / {limits.hot_electronics_c:g} °C"
    )
    return Check(key, title, Result.PASS, (seen,), instruction, ref)


#: every caution, in the order of 13.1
CAUTIONS: tuple[Callable[[Installation, CautionLimits], Check], ...] = (mixed_modules, hot_battery, temperature_range)


def cautions(inst: Installation, limits: CautionLimits | None = None) -> tuple[Check, ...]:
    """Every caution of 13.1 software can see, for ``inst``."""
    lim = CautionLimits() if limits is None else limits
    return tuple(c(inst, lim) for c in CAUTIONS)
