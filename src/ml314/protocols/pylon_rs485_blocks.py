"""The INFO blocks of Pylon LV RS485 V3.3 (reference/protocols.md 1.2): field tables, encoders and decoders.

Split from :mod:`pylon_rs485` so that module reads as the protocol (commands, addressing, RTN answers, the codec)
while this one holds the byte layouts: each block's encoder (the battery's answer) beside its decoder (what the
inverter side and ``describe`` read), with the tables both directions share (0x92 status bits, 0x44 Status1 bits
and state bytes, the 0x47 system parameters). The two addresses the 0x42/0x44 "one or every pack" layout needs
(``MASTER_ADR``, ``ALL_PACKS``) live here too; :mod:`pylon_rs485` exports them.

Encoders clamp through :func:`fields.raw`; decoders raise :class:`FrameError` when INFO is too short or too long
or holds an item count the layout does not take. Nothing here dispatches on CID2, checks ADR or sets RTN: that is
:mod:`pylon_rs485`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleStatus
from ml314.domain.spec import ML314
from ml314.errors import FrameError
from ml314.protocols import pylon_ascii
from ml314.protocols.fields import raw

__all__ = [
    "ALARM_OF_STATE",
    "ALL_PACKS",
    "MANAGEMENT_BITS",
    "MASTER_ADR",
    "PROTECTION_OF_STATUS1_BIT",
    "STATE_OF_ALARM",
    "STATUS1_BIT",
    "SYSTEM_PARAMETERS",
    "TEMP_NAMES",
    "V28",
    "V33",
    "Alarm",
    "Analog",
    "Layout",
    "Reader",
    "alarm_block",
    "alarm_kinds",
    "analog_block",
    "ascii_field",
    "management_block",
    "management_flags",
    "packs_info",
    "read_alarm",
    "read_analog",
    "read_fixed",
    "read_management",
    "read_manufacturer",
    "read_packs",
    "read_serial",
    "system_parameters_block",
    "version_bytes",
]

MASTER_ADR = 0x02
ALL_PACKS = 0xFF


@dataclass(frozen=True, slots=True)
class Layout:
    """What differs between the protocol versions in the blocks ml314 sends (docs/protocols.md says why).

    ``capacity_extension``: a module above 65.535 Ah sends user-defined count 04 and two 3-byte mAh capacities
    (V3.x, as US5000 do); without it the count is 02 and the two 16-bit mAh capacities are scaled together so that
    remaining / full stays the module's SOC (V2.8 has no bigger unit). ``dcl_negative``: 0x92 sends the discharge
    current limit negative (real US5000 frames) or positive (the V2.8 senders an Axpert reads).
    """

    capacity_extension: bool
    dcl_negative: bool


V33 = Layout(capacity_extension=True, dcl_negative=True)
V28 = Layout(capacity_extension=False, dcl_negative=False)
_U16_AH = 65.535
_FLAG = 0x11  # INFOFLAG/DATAFLAG as US2000/US3000/US5000 send it (unread alarm + switch change)
_MAX_INFO_BYTES = pylon_ascii.MAX_LENID // 2

#: 0x92 status byte, V3.3 order (python-pylontech swaps b5/b4): flag -> bit
MANAGEMENT_BITS: dict[str, int] = {
    "charge_enable": 7,
    "discharge_enable": 6,
    "force_charge_1": 5,
    "force_charge_2": 4,
    "full_charge_request": 3,
}

#: 0x44 Status1 (protections): kind -> bit; short circuit has no bit of its own and shows as discharge OC
STATUS1_BIT: dict[AlarmKind, int] = {
    AlarmKind.PACK_UNDERVOLTAGE: 7,
    AlarmKind.CHARGE_OVERTEMPERATURE: 6,
    AlarmKind.DISCHARGE_OVERTEMPERATURE: 5,
    AlarmKind.DISCHARGE_OVERCURRENT: 4,
    AlarmKind.SHORT_CIRCUIT: 4,
    AlarmKind.CHARGE_OVERCURRENT: 2,
    AlarmKind.CELL_UNDERVOLTAGE: 1,
    AlarmKind.PACK_OVERVOLTAGE: 0,
}
PROTECTION_OF_STATUS1_BIT: dict[int, AlarmKind] = {
    7: AlarmKind.PACK_UNDERVOLTAGE,
    6: AlarmKind.CHARGE_OVERTEMPERATURE,
    5: AlarmKind.DISCHARGE_OVERTEMPERATURE,
    4: AlarmKind.DISCHARGE_OVERCURRENT,
    2: AlarmKind.CHARGE_OVERCURRENT,
    1: AlarmKind.CELL_UNDERVOLTAGE,
    0: AlarmKind.PACK_OVERVOLTAGE,
}

_BELOW, _ABOVE, _OTHER = 0x01, 0x02, 0xF0
#: 0x44 state bytes a warning or protection sets: kind -> (which byte, state); *_max/*_min = the extreme cell(s)
STATE_OF_ALARM: dict[AlarmKind, tuple[str, int]] = {
    AlarmKind.CELL_OVERVOLTAGE: ("cell_max", _ABOVE),
    AlarmKind.CELL_UNDERVOLTAGE: ("cell_min", _BELOW),
    AlarmKind.BOARD_OVERTEMPERATURE: ("board", _ABOVE),
    AlarmKind.CHARGE_OVERTEMPERATURE: ("cell_t_max", _ABOVE),
    AlarmKind.DISCHARGE_OVERTEMPERATURE: ("cell_t_max", _ABOVE),
    AlarmKind.CHARGE_UNDERTEMPERATURE: ("cell_t_min", _BELOW),
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: ("cell_t_min", _BELOW),
    AlarmKind.MOSFET_OVERTEMPERATURE: ("mosfet", _ABOVE),
    AlarmKind.CHARGE_OVERCURRENT: ("charge_current", _ABOVE),
    AlarmKind.PACK_OVERVOLTAGE: ("module_voltage", _ABOVE),
    AlarmKind.PACK_UNDERVOLTAGE: ("module_voltage", _BELOW),
    AlarmKind.DISCHARGE_OVERCURRENT: ("discharge_current", _ABOVE),
    AlarmKind.SHORT_CIRCUIT: ("discharge_current", _ABOVE),
}
#: and back: (byte group, state) -> kind. A cell temperature state cannot tell charge from discharge; the charge
#: kind is read (its limits are the tighter ones). "Other error" (F0) anywhere reads as a sensor fault.
ALARM_OF_STATE: dict[tuple[str, int], AlarmKind] = {
    ("cell", _ABOVE): AlarmKind.CELL_OVERVOLTAGE,
    ("cell", _BELOW): AlarmKind.CELL_UNDERVOLTAGE,
    ("board", _ABOVE): AlarmKind.BOARD_OVERTEMPERATURE,
    ("cell_t", _ABOVE): AlarmKind.CHARGE_OVERTEMPERATURE,
    ("cell_t", _BELOW): AlarmKind.CHARGE_UNDERTEMPERATURE,
    ("mosfet", _ABOVE): AlarmKind.MOSFET_OVERTEMPERATURE,
    ("charge_current", _ABOVE): AlarmKind.CHARGE_OVERCURRENT,
    ("module_voltage", _ABOVE): AlarmKind.PACK_OVERVOLTAGE,
    ("module_voltage", _BELOW): AlarmKind.PACK_UNDERVOLTAGE,
    ("discharge_current", _ABOVE): AlarmKind.DISCHARGE_OVERCURRENT,
}

#: (byte group, state) -> every kind that sets it, so a protection in Status1 explains its state byte
_SETTERS: dict[tuple[str, int], frozenset[AlarmKind]] = {
    g: frozenset(
        k for k, (slot, st) in STATE_OF_ALARM.items() if (slot.removesuffix("_max").removesuffix("_min"), st) == g
    )
    for g in ALARM_OF_STATE
}

_K = -273.1  # 0.1 K fields: raw = degC * 10 + 2731
#: 0x47 answer, official slot order: (name, value, scale, signed, offset). Product values of ML314 except the
#: alarm levels the spec sheet lacks: cell low alarm 2.90 V (reference/bms.md row 10), module high 16 x 3.60 V
#: (row 6/14) and module low alarm 16 x 2.90 V (row 15); the discharge limit is negative as in real frames.
SYSTEM_PARAMETERS: tuple[tuple[str, float, float, bool, float], ...] = (
    ("cell_high_voltage_limit_v", ML314.cell_voltage_max_v, 0.001, False, 0.0),
    ("cell_low_voltage_alarm_v", 2.90, 0.001, False, 0.0),
    ("cell_under_voltage_protect_v", ML314.cell_voltage_min_v, 0.001, False, 0.0),
    ("charge_high_temperature_limit_c", ML314.charge_temperature_max_c, 0.1, True, _K),
    ("charge_low_temperature_limit_c", ML314.charge_temperature_min_c, 0.1, True, _K),
    ("charge_current_limit_a", ML314.max_charge_current_a, 0.1, True, 0.0),
    ("module_high_voltage_limit_v", ML314.cells_in_series * 3.60, 0.001, False, 0.0),
    ("module_low_voltage_alarm_v", ML314.cells_in_series * 2.90, 0.001, False, 0.0),
    ("module_under_voltage_protect_v", ML314.discharge_cutoff_voltage_v, 0.001, False, 0.0),
    ("discharge_high_temperature_limit_c", ML314.discharge_temperature_max_c, 0.1, True, _K),
    ("discharge_low_temperature_limit_c", ML314.discharge_temperature_min_c, 0.1, True, _K),
    ("discharge_current_limit_a", -ML314.max_discharge_current_a, 0.1, True, 0.0),
)
TEMP_NAMES = ("board", "cells_1_4", "cells_5_8", "cells_9_12", "cells_13_16", "mosfet")


def _u(value: int, n: int = 2) -> bytes:
    return value.to_bytes(n, "big")


def _s(value: int) -> bytes:
    return value.to_bytes(2, "big", signed=True)


def ascii_field(text: str, n: int) -> bytes:
    return text.encode("ascii", "replace")[:n].ljust(n, b"\0")


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("ascii", "replace")


class Reader:
    """Big-endian fields from INFO; running out is a :class:`FrameError`."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FrameError(f"{self.what}: INFO ends after {len(self.data)} bytes, {n} more needed at {self.pos}")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def u(self, n: int = 1) -> int:
        return int.from_bytes(self.take(n), "big")

    def s16(self) -> int:
        return int.from_bytes(self.take(2), "big", signed=True)

    def done(self) -> None:
        if self.pos != len(self.data):
            raise FrameError(f"{self.what}: {len(self.data) - self.pos} bytes left over in INFO")


# ---- 0x42 analog values ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Analog:
    cells_v: tuple[float, ...]
    temps_c: tuple[float, ...]
    current_a: float
    voltage_v: float
    remaining_ah: float
    full_ah: float
    cycles: int


def _scaled_capacities(remaining_ah: float, full_ah: float) -> tuple[int, int]:
    """(remaining, full) in 16-bit mAh; above 65.535 Ah both shrink by one factor so their ratio is kept."""
    if full_ah <= _U16_AH:
        return raw(remaining_ah, 0.001), raw(full_ah, 0.001)
    return raw(min(remaining_ah, full_ah) / full_ah * _U16_AH, 0.001), 0xFFFF


def analog_block(m: ModuleStatus, layout: Layout = V33) -> bytes:
    cells, temps = m.cell_voltages_v[:255], m.temperatures_c[:255]
    out = bytearray([len(cells)])
    for v in cells:
        out += _s(raw(v, 0.001, signed=True))
    out.append(len(temps))
    for t in temps:
        out += _s(raw(t, 0.1, signed=True, offset=_K))
    out += _s(raw(m.current_a, 0.1, signed=True)) + _u(raw(m.voltage_v, 0.001))
    cycles = _u(raw(m.cycles, 1))
    if layout.capacity_extension and m.full_capacity_ah > 65.0:  # 16-bit fields say 0xFFFF, two 24-bit ones follow
        rem, full = _u(raw(m.remaining_capacity_ah, 0.001, 24), 3), _u(raw(m.full_capacity_ah, 0.001, 24), 3)
        out += b"\xff\xff\x04\xff\xff" + cycles + rem + full
    else:
        rem16, full16 = _scaled_capacities(m.remaining_capacity_ah, m.full_capacity_ah)
        out += _u(rem16) + b"\x02" + _u(full16) + cycles
    return bytes(out)


def read_analog(r: Reader) -> Analog:
    cells = tuple(r.s16() / 1000 for _ in range(r.u()))
    temps = tuple(round((r.s16() - 2731) / 10, 1) for _ in range(r.u()))
    current, voltage, remaining = r.s16() / 10, r.u(2) / 1000, r.u(2) / 1000
    items = r.u()
    if items not in {2, 4}:
        raise FrameError(f"analog values: user-defined item count {items}, 2 or 4 expected")
    full, cycles = r.u(2) / 1000, r.u(2)
    if items == 4:
        remaining, full = r.u(3) / 1000, r.u(3) / 1000
    return Analog(cells, temps, current, voltage, remaining, full, cycles)


# ---- 0x44 alarm info ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alarm:
    cell_states: bytes
    temp_states: bytes
    charge_current: int
    module_voltage: int
    discharge_current: int
    status: bytes  # Status1..Status5


def _extremes(values: tuple[float, ...], pick: Callable[[Iterable[float]], float]) -> set[int]:
    return {i for i, v in enumerate(values) if v == pick(values)} if values else set()


def alarm_block(m: ModuleStatus) -> bytes:
    cells, temps = m.cell_voltages_v[:255], m.temperatures_c[:255]
    where: dict[str, int] = {}
    for kind in m.alarms | m.protections:
        if kind in STATE_OF_ALARM:
            slot, state = STATE_OF_ALARM[kind]
            where[slot] = state
    cell_states = bytearray(len(cells))
    for slot, pick in (("cell_max", max), ("cell_min", min)):
        for i in _extremes(cells, pick) if slot in where else ():
            cell_states[i] = where[slot]
    temp_states = bytearray(len(temps))
    cell_t = temps[1:5]
    for slot, pick in (("cell_t_max", max), ("cell_t_min", min)):
        for i in _extremes(cell_t, pick) if slot in where else ():
            temp_states[i + 1] = where[slot]
    for slot, i in (("board", 0), ("mosfet", 5)):
        if slot in where and i < len(temps):
            temp_states[i] = where[slot]
    status1 = sum(1 << bit for bit in {STATUS1_BIT[k] for k in m.protections if k in STATUS1_BIT})
    status2 = 0x08 | m.discharge_mosfet_on << 2 | m.charge_mosfet_on << 1  # b3: the module runs on its own cells
    status3 = (m.current_a > 0.1) << 7 | (m.current_a < -0.1) << 6 | (m.soc_pct >= 100.0) << 3
    errors = sum(1 << i for i, v in enumerate(cells[:16]) if v > 4.2 or v < 1.0)  # the spec's "cell error"
    return (
        bytes([len(cells)])
        + bytes(cell_states)
        + bytes([len(temps)])
        + bytes(temp_states)
        + bytes([where.get("charge_current", 0), where.get("module_voltage", 0), where.get("discharge_current", 0)])
        + bytes([status1, status2, status3, errors & 0xFF, errors >> 8])
    )


def read_alarm(r: Reader) -> Alarm:
    cells = r.take(r.u())
    temps = r.take(r.u())
    return Alarm(cells, temps, r.u(), r.u(), r.u(), r.take(5))


def alarm_kinds(a: Alarm) -> tuple[frozenset[AlarmKind], frozenset[AlarmKind]]:
    """(warnings from the state bytes, protections from Status1); a state a protection explains is not repeated."""
    groups = [("cell", s) for s in a.cell_states]
    groups += list(zip(("board", "cell_t", "cell_t", "cell_t", "cell_t", "mosfet"), a.temp_states, strict=False))
    groups += [("charge_current", a.charge_current), ("module_voltage", a.module_voltage)]
    groups += [("discharge_current", a.discharge_current)]
    prots = frozenset(kind for bit, kind in PROTECTION_OF_STATUS1_BIT.items() if a.status[0] >> bit & 1)
    found = {ALARM_OF_STATE[g] for g in groups if g in ALARM_OF_STATE and not _SETTERS[g] & prots}
    if any(state == _OTHER for _, state in groups):
        found.add(AlarmKind.SENSOR_FAULT)
    return frozenset(found), prots


# ---- one or every pack (0x42/0x44) -------------------------------------------------------------------------------


_T = TypeVar("_T")


def packs_info(status: BankStatus, index: int, command: int, block: Callable[[ModuleStatus], bytes]) -> bytes:
    """INFOFLAG + COMMAND + one block, or INFOFLAG + M + M blocks for COMMAND 0xFF (as many as LENID can hold)."""
    if command != ALL_PACKS:
        return bytes([_FLAG, command]) + block(status.modules[index])
    blocks = bytearray()
    count = 0
    for m in status.modules[:255]:
        b = block(m)
        if 2 + len(blocks) + len(b) > _MAX_INFO_BYTES:
            break
        blocks += b
        count += 1
    return bytes([_FLAG, count]) + bytes(blocks)


def read_packs(info: bytes, all_packs: bool | None, read: Callable[[Reader], _T], what: str) -> list[tuple[int, _T]]:
    """[(pack ADR, block)] of a 0x42/0x44 answer; ``all_packs`` None tries the COMMAND 0xFF layout first."""
    if all_packs is None:
        try:
            return read_packs(info, True, read, what)
        except FrameError:
            return read_packs(info, False, read, what)
    r = Reader(info, what)
    r.u()  # INFOFLAG / DATAFLAG
    first = r.u()
    blocks = [(MASTER_ADR + i, read(r)) for i in range(first)] if all_packs else [(first, read(r))]
    r.done()
    return blocks


# ---- the other answers: 0x92 charge/discharge management, 0x47 system parameters, versions -----------------------


def management_block(status: BankStatus, index: int, command: int, layout: Layout = V33) -> bytes:
    """Bank limits and requests at the master's ADR; a module's own limits and MOSFETs at its ADR."""
    m = status.modules[index]
    limits = status.limits if index == 0 else m.limits
    flags = {
        "charge_enable": status.charge_enable if index == 0 else m.charge_mosfet_on,
        "discharge_enable": status.discharge_enable if index == 0 else m.discharge_mosfet_on,
        "force_charge_1": status.force_charge_1,
        "force_charge_2": status.force_charge_2,
        "full_charge_request": status.full_charge_request,
    }
    bits = sum(1 << MANAGEMENT_BITS[name] for name, on in flags.items() if on)
    return (
        bytes([command])
        + _u(raw(limits.cvl_v, 0.001))
        + _u(raw(limits.dvl_v, 0.001))
        + _s(raw(limits.ccl_a, 0.1, signed=True))
        + _s(raw(-limits.dcl_a if layout.dcl_negative else limits.dcl_a, 0.1, signed=True))
        + bytes([bits])
    )


def management_flags(bits: int) -> dict[str, bool]:
    """The 0x92 status byte read: flag name (:data:`MANAGEMENT_BITS`) -> set."""
    return {name: bool(bits >> bit & 1) for name, bit in MANAGEMENT_BITS.items()}


def system_parameters_block() -> bytes:
    fields = (
        _s(raw(v, sc, signed=True, offset=off)) if signed else _u(raw(v, sc, offset=off))
        for _, v, sc, signed, off in SYSTEM_PARAMETERS
    )
    return bytes([_FLAG]) + b"".join(fields)


def version_bytes(status: BankStatus) -> bytes:
    return bytes(max(0, min(255, v)) for v in status.firmware_version[:2])


# ---- reading the other answers -----------------------------------------------------------------------------------


def read_management(info: bytes) -> tuple[int, float, float, float, float, int]:
    """(COMMAND, CVL V, DVL V, CCL A, DCL A as sent, status byte)."""
    r = Reader(info, "charge/discharge management")
    fields = (r.u(), r.u(2) / 1000, r.u(2) / 1000, r.s16() / 10, r.s16() / 10, r.u())
    r.done()
    return fields


def read_manufacturer(info: bytes) -> tuple[str, str, str]:
    if not 12 <= len(info) <= 32:
        raise FrameError(f"manufacturer info: INFO has {len(info)} bytes, 12 to 32 expected")
    r = Reader(info, "manufacturer info")
    name, version = _text(r.take(10)), r.take(2)
    return name, f"{version[0]}.{version[1]}", _text(r.take(len(info) - 12))


def read_serial(info: bytes) -> tuple[int, str]:
    r = Reader(info, "serial number")
    fields = r.u(), _text(r.take(16))
    r.done()
    return fields


def read_fixed(info: bytes, n: int, what: str) -> bytes:
    if len(info) != n:
        raise FrameError(f"{what}: INFO has {len(info)} bytes, {n} expected")
    return info
