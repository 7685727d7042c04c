"""A battery read over its wire, as the project's snapshots: the modules ``ml314 monitor`` heard and the bank they
make (pure: what was decoded and the time in, :class:`ModuleStatus` / :class:`BankStatus` out).

The surfaces then show a monitored battery exactly as they show the twin. What the wire does not carry is NaN
(JSON ``null`` in the API): SOH, design capacity and learned resistance on Pylon RS485; every per-module value but
the bus voltage on CAN, whose protocols carry the bank only. A module's ``state`` and its LED row are read off what
it reports (the direction of its current, its alarms and protections, Table 6-4), not off its LEDs.

Rules:

* Pylon RS485: each pack's own 0x42 / 0x44 / 0x92 make its :class:`ModuleStatus`; the bank is
  :func:`~ml314.system.bank_aggregate.aggregate` of the packs that answer (the one rule for SOC, voltage, current,
  cells), with the limits and request flags the master (ADR 2) sends in its own 0x92 when it answered one: that
  is what the battery tells an inverter.
* CAN: the bank is what the frames carried (:class:`BatteryView`); the module count is the protocol's (Pylon
  0x359, Growatt PackCount), 1 when the protocol carries none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from ml314.bms.leds import LedMode
from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.protocols.pylon_rs485_poll import Management, PackReading, module_of
from ml314.system.bank_aggregate import aggregate

__all__ = [
    "OFFLINE",
    "STATE_CURRENT_A",
    "bank_from_view",
    "bank_of_packs",
    "led_mode_of",
    "module_of_pack",
    "modules_from_view",
    "state_of",
]

NAN = math.nan
#: a module carrying more than this (either way) is charging or discharging; less is standby
STATE_CURRENT_A = 0.5
#: the state of a module that stopped answering
OFFLINE = "offline"
_NO_LIMITS = ChargeLimits(cvl_v=NAN, dvl_v=NAN, ccl_a=NAN, dcl_a=NAN)

#: (state, alarmed) -> the Table 6-4 row a module in that state shows
_LED_OF_STATE: dict[tuple[str, bool], LedMode] = {
    (OFFLINE, False): LedMode.SHUTDOWN_SLEEP,
    (OFFLINE, True): LedMode.SHUTDOWN_SLEEP,
    ("standby", False): LedMode.STANDBY,
    ("standby", True): LedMode.STANDBY,
    ("charge", False): LedMode.CHARGE_NORMAL,
    ("charge", True): LedMode.CHARGE_ALARM,
    ("discharge", False): LedMode.DISCHARGE_NORMAL,
    ("discharge", True): LedMode.DISCHARGE_ALARM,
    ("protection", False): LedMode.DISCHARGE_PROTECTION,
    ("protection", True): LedMode.DISCHARGE_PROTECTION,
}


def state_of(current_a: float, protections: frozenset[AlarmKind], online: bool = True) -> str:
    """The state a module is in by what it reports (a name of ``bms.states.BmsState``, or :data:`OFFLINE`)."""
    if not online:
        return OFFLINE
    if protections:
        return "protection"
    if current_a > STATE_CURRENT_A:
        return "charge"
    if current_a < -STATE_CURRENT_A:
        return "discharge"
    return "standby"


def led_mode_of(state: str, alarmed: bool) -> LedMode:
    """The Table 6-4 row of a module in ``state`` (a state this table lacks shows standby)."""
    return _LED_OF_STATE.get((state, alarmed), LedMode.STANDBY)


def _limits(m: Management | None) -> ChargeLimits:
    if m is None:
        return _NO_LIMITS
    try:
        return ChargeLimits(cvl_v=m.cvl_v, dvl_v=m.dvl_v, ccl_a=m.ccl_a, dcl_a=m.dcl_a)
    except ValueError:  # a pack that sends DVL >= CVL: its limits are shown as not known
        return _NO_LIMITS


def module_of_pack(reading: PackReading, online: bool = True) -> ModuleStatus | None:
    """The module of one pack's readings (None until its analog values arrived)."""
    a = reading.analog
    if a is None:
        return None
    alarms = reading.alarms or frozenset()
    protections = reading.protections or frozenset()
    m = reading.management
    return ModuleStatus(
        address=module_of(reading.adr),
        voltage_v=a.voltage_v,
        current_a=a.current_a,
        soc_pct=round(100.0 * a.remaining_ah / a.full_ah, 3) if a.full_ah > 0 else NAN,
        soh_pct=NAN,
        cell_voltages_v=a.cells_v,
        temperatures_c=a.temps_c,
        remaining_capacity_ah=a.remaining_ah,
        full_capacity_ah=a.full_ah,
        design_capacity_ah=NAN,
        cycles=a.cycles,
        serial=reading.serial or "",
        charge_mosfet_on=True if m is None else m.charge_enable,
        discharge_mosfet_on=True if m is None else m.discharge_enable,
        limits=_limits(m),
        alarms=alarms,
        protections=protections,
        force_charge=m is not None and (m.force_charge_1 or m.force_charge_2),
        full_charge_request=m is not None and m.full_charge_request,
        state=state_of(a.current_a, protections, online),
        resistance_mohm=NAN,
    )


def bank_of_packs(
    modules: Sequence[ModuleStatus], online: Sequence[bool], t_s: float, master: Management | None
) -> BankStatus | None:
    """The bank of the packs that answer (``online``), with the master's own limits and flags when it sent them;
    with none answering, the last values of every pack and no module online; None before any pack was read."""
    if not modules:
        return None
    live = [m for m, on in zip(modules, online, strict=True) if on]
    try:
        bank = aggregate(live or modules, t_s)
    except ValueError:  # packs of different cell counts: the bank's cell figures are not comparable
        return None
    if master is not None:
        bank = replace(
            bank,
            limits=_limits(master),
            charge_enable=master.charge_enable,
            discharge_enable=master.discharge_enable,
            force_charge_1=master.force_charge_1,
            force_charge_2=master.force_charge_2,
            full_charge_request=master.full_charge_request,
        )
    return replace(bank, modules=tuple(live), soh_pct=NAN, installed_capacity_ah=NAN)


def _f(value: float | None) -> float:
    return NAN if value is None else float(value)


def bank_from_view(view: BatteryView, t_s: float) -> BankStatus | None:
    """The bank a CAN protocol's frames carried (None until voltage and SOC arrived); its modules are
    :func:`modules_from_view`'s."""
    if view.voltage_v is None or view.soc_pct is None:
        return None
    limits = view.limits() or _NO_LIMITS
    modules = modules_from_view(view)
    protections = view.protections or frozenset()
    return BankStatus(
        t_s=t_s,
        voltage_v=view.voltage_v,
        current_a=_f(view.current_a),
        temperature_c=_f(view.temperature_c),
        soc_pct=view.soc_pct,
        soh_pct=_f(view.soh_pct),
        limits=limits,
        charge_enable=view.charge_enable is not False,
        discharge_enable=view.discharge_enable is not False,
        force_charge_1=bool(view.force_charge_1),
        force_charge_2=bool(view.force_charge_2),
        full_charge_request=bool(view.full_charge_request),
        cycles=view.cycles or 0,
        remaining_capacity_ah=_f(view.remaining_capacity_ah),
        full_capacity_ah=_f(view.full_capacity_ah),
        installed_capacity_ah=_f(view.installed_capacity_ah),
        cell_voltage_max_v=_f(view.cell_voltage_max_v),
        cell_voltage_min_v=_f(view.cell_voltage_min_v),
        cell_voltage_max_id=0,
        cell_voltage_min_id=0,
        cell_temperature_max_c=_f(view.cell_temperature_max_c),
        cell_temperature_min_c=_f(view.cell_temperature_min_c),
        cell_temperature_max_id=0,
        cell_temperature_min_id=0,
        mosfet_temperature_c=NAN,
        board_temperature_c=NAN,
        modules=modules,
        alarms=view.alarms or frozenset(),
        protections=protections,
        manufacturer=view.manufacturer or "",
        model="",
    )


def modules_from_view(view: BatteryView) -> tuple[ModuleStatus, ...]:
    """One entry per module the CAN protocol counts: the bus voltage (the modules are in parallel), the rest not
    carried (NaN, no cells)."""
    count = view.module_count if view.module_count is not None and view.module_count > 0 else 1
    state = state_of(_f(view.current_a) / count, view.protections or frozenset())
    return tuple(
        ModuleStatus(
            address=i,
            voltage_v=_f(view.voltage_v),
            current_a=NAN,
            soc_pct=NAN,
            soh_pct=NAN,
            cell_voltages_v=(),
            temperatures_c=(),
            remaining_capacity_ah=NAN,
            full_capacity_ah=NAN,
            design_capacity_ah=NAN,
            cycles=0,
            serial="",
            charge_mosfet_on=view.charge_enable is not False,
            discharge_mosfet_on=view.discharge_enable is not False,
            limits=_NO_LIMITS,
            state=state,
            resistance_mohm=NAN,
        )
        for i in range(1, count + 1)
    )
