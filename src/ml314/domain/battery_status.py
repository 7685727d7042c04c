"""What the battery tells its inverter, and what an inverter learned from the wire.

:class:`BankStatus` is the one snapshot every protocol codec encodes: the bank as its master module presents it
(voltages, current, SOC, limits, requests, alarms) plus the per-module detail some protocols carry.
:class:`BatteryView` is the other side: the fields an inverter decoded, each ``None`` until a frame carried it.

Units are SI with the unit in the name; ``current_a`` is positive while charging. Percentages are 0..100.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace

from ml314.domain.limits import ChargeLimits
from ml314.domain.spec import ML314

__all__ = [
    "AlarmKind",
    "BankCommand",
    "BankStatus",
    "BatteryView",
    "ModuleIdentity",
    "ModuleStatus",
    "ModuleView",
]


class AlarmKind(enum.Enum):
    """The alarm categories the inverter protocols can express (each codec maps them to its bits)."""

    CELL_OVERVOLTAGE = "cell_overvoltage"
    CELL_UNDERVOLTAGE = "cell_undervoltage"
    PACK_OVERVOLTAGE = "pack_overvoltage"
    PACK_UNDERVOLTAGE = "pack_undervoltage"
    CHARGE_OVERCURRENT = "charge_overcurrent"
    DISCHARGE_OVERCURRENT = "discharge_overcurrent"
    SHORT_CIRCUIT = "short_circuit"
    CHARGE_OVERTEMPERATURE = "charge_overtemperature"
    CHARGE_UNDERTEMPERATURE = "charge_undertemperature"
    DISCHARGE_OVERTEMPERATURE = "discharge_overtemperature"
    DISCHARGE_UNDERTEMPERATURE = "discharge_undertemperature"
    MOSFET_OVERTEMPERATURE = "mosfet_overtemperature"
    BOARD_OVERTEMPERATURE = "board_overtemperature"
    CELL_IMBALANCE = "cell_imbalance"
    SENSOR_FAULT = "sensor_fault"
    INTERNAL_COMMUNICATION = "internal_communication"  # between the bank's modules
    INVERTER_COMMUNICATION = "inverter_communication"  # the inverter's keep-alive stopped (manual 12.2 #1)
    MODULE_MIX = "module_mix"  # modules of different type, capacity, firmware or age in one bank (caution 13.1 (5))
    SYSTEM_ERROR = "system_error"

    @property
    def is_over_temperature(self) -> bool:
        return self in _OVER_T

    @property
    def is_under_temperature(self) -> bool:
        return self in _UNDER_T


_OVER_T = frozenset(
    {
        AlarmKind.CHARGE_OVERTEMPERATURE,
        AlarmKind.DISCHARGE_OVERTEMPERATURE,
        AlarmKind.MOSFET_OVERTEMPERATURE,
        AlarmKind.BOARD_OVERTEMPERATURE,
    }
)
_UNDER_T = frozenset({AlarmKind.CHARGE_UNDERTEMPERATURE, AlarmKind.DISCHARGE_UNDERTEMPERATURE})


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    """One module of the bank as the master knows it.

    ``temperatures_c`` follows the Pylon order: BMS board, cells 1-4, 5-8, 9-12, 13-16, MOSFET.
    ``address`` is the module's bank address (1 = master).
    """

    address: int
    voltage_v: float
    current_a: float
    soc_pct: float
    soh_pct: float
    cell_voltages_v: tuple[float, ...]
    temperatures_c: tuple[float, ...]
    remaining_capacity_ah: float
    full_capacity_ah: float
    design_capacity_ah: float
    cycles: int
    serial: str
    charge_mosfet_on: bool
    discharge_mosfet_on: bool
    limits: ChargeLimits
    alarms: frozenset[AlarmKind] = frozenset()
    protections: frozenset[AlarmKind] = frozenset()
    balancing: bool = False
    force_charge: bool = False
    full_charge_request: bool = False
    state: str = "standby"  # the BMS state machine's state, lower case (bms/states.py BmsState)
    resistance_mohm: float = 0.0  # the BMS's learned string resistance (0: not known); the bank's current share
    soc_bound_pct: float | None = None  # the BMS's bound on |SOC error|, percent points (None: not stated)

    @property
    def cell_temperatures_c(self) -> tuple[float, ...]:
        return self.temperatures_c[1:5]


@dataclass(frozen=True, slots=True)
class ModuleIdentity:
    """What a module says about itself when it joins a bank (the mix check of manual 13.1 (5) compares these).

    ``module_id`` is the DIP-switch ID (manual 6.3), ``termination_on`` the state of DIP switch 8 (8.5).
    """

    module_id: int
    serial: str
    model: str = "ML314-51.2-W08"
    manufacturer: str = "ML314"
    design_capacity_ah: float = 314.0
    firmware_version: tuple[int, int] = (1, 0)
    manufactured: tuple[int, int] = (2026, 1)  # year, month
    termination_on: bool = False


@dataclass(frozen=True, slots=True)
class BankCommand:
    """What the master tells one module: which directions the bank allows, and whether the module must stay
    off the bus (MOSFETs open: a module that dropped out waits to rejoin until its voltage matches the bus)."""

    charge_allowed: bool = True
    discharge_allowed: bool = True
    isolate: bool = False


@dataclass(frozen=True, slots=True)
class BankStatus:
    """The bank as the master module presents it to the inverter.

    ``alarms`` are warnings (the battery still works), ``protections`` are active protections (a path is open or
    about to be). ``force_charge_1``/``_2`` are Pylon's "request force charge I/II" (SOC low, charge before
    shutdown); ``full_charge_request`` asks the inverter for a full charge (SOC under 97 % for 30 days).
    """

    t_s: float
    voltage_v: float
    current_a: float
    temperature_c: float
    soc_pct: float
    soh_pct: float
    limits: ChargeLimits
    charge_enable: bool
    discharge_enable: bool
    force_charge_1: bool
    force_charge_2: bool
    full_charge_request: bool
    cycles: int
    remaining_capacity_ah: float
    full_capacity_ah: float
    installed_capacity_ah: float
    cell_voltage_max_v: float
    cell_voltage_min_v: float
    cell_voltage_max_id: int  # 1-based over the bank: (module - 1) * 16 + cell
    cell_voltage_min_id: int
    cell_temperature_max_c: float
    cell_temperature_min_c: float
    cell_temperature_max_id: int
    cell_temperature_min_id: int
    mosfet_temperature_c: float
    board_temperature_c: float
    modules: tuple[ModuleStatus, ...]
    alarms: frozenset[AlarmKind] = frozenset()
    protections: frozenset[AlarmKind] = frozenset()
    charged_energy_kwh: float = 0.0
    discharged_energy_kwh: float = 0.0
    soc_bound_pct: float | None = None  # bound on |bank SOC error|, percent points (None: not stated)
    manufacturer: str = "ML314"
    model: str = "ML314-51.2-W08"
    firmware_version: tuple[int, int] = (1, 0)

    @property
    def module_count(self) -> int:
        return len(self.modules)


@dataclass(frozen=True, slots=True)
class ModuleView:
    """One module's detail as a protocol carried it (Pylon RS485 0x42/0x44, ...)."""

    address: int
    voltage_v: float | None = None
    current_a: float | None = None
    cell_voltages_v: tuple[float, ...] | None = None
    temperatures_c: tuple[float, ...] | None = None
    remaining_capacity_ah: float | None = None
    full_capacity_ah: float | None = None
    cycles: int | None = None
    soc_pct: float | None = None
    serial: str | None = None
    alarms: frozenset[AlarmKind] | None = None
    protections: frozenset[AlarmKind] | None = None


@dataclass(frozen=True, slots=True)
class BatteryView:
    """What an inverter decoded from the battery's frames; ``None`` where no frame carried the field."""

    voltage_v: float | None = None
    current_a: float | None = None
    temperature_c: float | None = None
    soc_pct: float | None = None
    soh_pct: float | None = None
    cvl_v: float | None = None
    dvl_v: float | None = None
    ccl_a: float | None = None
    dcl_a: float | None = None
    charge_enable: bool | None = None
    discharge_enable: bool | None = None
    force_charge_1: bool | None = None
    force_charge_2: bool | None = None
    full_charge_request: bool | None = None
    module_count: int | None = None
    cycles: int | None = None
    remaining_capacity_ah: float | None = None
    full_capacity_ah: float | None = None
    installed_capacity_ah: float | None = None
    cell_voltage_max_v: float | None = None
    cell_voltage_min_v: float | None = None
    cell_temperature_max_c: float | None = None
    cell_temperature_min_c: float | None = None
    alarms: frozenset[AlarmKind] | None = None
    protections: frozenset[AlarmKind] | None = None
    manufacturer: str | None = None
    modules: tuple[ModuleView, ...] = field(default=())

    def merge(self, newer: BatteryView) -> BatteryView:
        """This view updated with every field ``newer`` carries; modules are merged by address."""
        changes: dict[str, object] = {}
        for f in fields(self):
            if f.name == "modules":
                continue
            value = getattr(newer, f.name)
            if value is not None:
                changes[f.name] = value
        if newer.modules:
            by_address = {m.address: m for m in self.modules}
            for m in newer.modules:
                old = by_address.get(m.address)
                by_address[m.address] = m if old is None else _merge_module(old, m)
            changes["modules"] = tuple(by_address[a] for a in sorted(by_address))
        return replace(self, **changes)  # type: ignore[arg-type]

    def limits(self) -> ChargeLimits | None:
        """The limits to obey, or ``None`` until CVL, CCL and DCL have arrived.

        A disabled direction (charge or discharge enable false) counts as a zero current limit. Without a
        discharge voltage limit on the wire, the product's discharge cut-off stands in.
        """
        if self.cvl_v is None or self.ccl_a is None or self.dcl_a is None:
            return None
        ccl = 0.0 if self.charge_enable is False else max(0.0, self.ccl_a)
        dcl = 0.0 if self.discharge_enable is False else max(0.0, self.dcl_a)
        cutoff = ML314.discharge_cutoff_voltage_v
        dvl = self.dvl_v if self.dvl_v is not None and self.dvl_v < self.cvl_v else min(cutoff, self.cvl_v - 0.1)
        return ChargeLimits(cvl_v=self.cvl_v, dvl_v=dvl, ccl_a=ccl, dcl_a=dcl)


def _merge_module(old: ModuleView, new: ModuleView) -> ModuleView:
    changes = {f.name: getattr(new, f.name) for f in fields(new) if getattr(new, f.name) is not None}
    return replace(old, **changes)
