"""Pylon LV RS485 V3.3 (reference/protocols.md 1.2), battery and inverter side, over :mod:`pylon_ascii` frames.

Addressing is a real Pylon stack's: module k of the bank answers at ADR 2 + k - 1, the master (ADR 2) also
answers COMMAND 0xFF for 0x42/0x44 (every module) and gives the bank's limits in 0x92; 0x4F/0x51 are answered at
ADR 0 too (python-pylontech asks there). An address without a module stays silent. The request's VER is ignored;
answers carry the codec's ``ver`` (0x20 as US2000/US5000; 0x28 for V2.8, see :mod:`voltronic_pyl`) and RTN where
the request had CID2. Answers to wrong requests, as the specification's RTN table allows:
02/03 bad CHKSUM/LCHKSUM, 04 a CID2 not served (0x94 set and 0x95 turn-off included: a simulated battery takes no
remote orders), 05 INFO of a length the command does not take (or disagreeing with LENID), 06 COMMAND 0xFF where
only one pack can answer, 90 a COMMAND naming another pack than ADR.

The inverter peer polls 0x4F, 0x42 and 0x44 with COMMAND 0xFF, and 0x92, all at ADR 2: one cycle gives every
module (bank voltage = mean, current = sum, capacities summed, SOC = remaining / full as inverters compute it),
the alarms, and the bank limits and flags (DCL read as a magnitude: real US5000 frames send it negative).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView, ModuleStatus, ModuleView
from ml314.domain.spec import ML314
from ml314.errors import FrameError
from ml314.protocols import pylon_ascii
from ml314.protocols.base import Description, ProtocolInfo, Rs485Codec, Transport
from ml314.protocols.fields import raw
from ml314.protocols.pylon_ascii import RTN_TEXT, FrameCheckError, PylonFrame, Rtn

__all__ = [
    "ALARM_OF_STATE",
    "ALL_PACKS",
    "CID1",
    "COMMAND_NAMES",
    "INFO",
    "MANAGEMENT_BITS",
    "MASTER_ADR",
    "PROTECTION_OF_STATUS1_BIT",
    "STATE_OF_ALARM",
    "STATUS1_BIT",
    "SYSTEM_PARAMETERS",
    "Cid2",
    "Codec",
]

INFO = ProtocolInfo(
    transport=Transport.RS485,
    code="",
    brand="Pylon",
    name="pylon-rs485",
    document="Pylon LV RS485 V3.3 (2018-08-21)",
    note="9600 baud here; V3.3's default is 115200 (Pylon DIP 1 = 0), configurable",
    period_s=0.0,
    baud=9600,
    response_timeout_s=0.2,
)

CID1 = 0x46
MASTER_ADR = 0x02
ALL_PACKS = 0xFF
_FLAG = 0x11  # INFOFLAG/DATAFLAG as US2000/US3000/US5000 send it (unread alarm + switch change)
_MAX_INFO_BYTES = pylon_ascii.MAX_LENID // 2


class Cid2(enum.IntEnum):
    ANALOG = 0x42
    ALARM = 0x44
    SYSTEM_PARAMETERS = 0x47
    PROTOCOL_VERSION = 0x4F
    MANUFACTURER = 0x51
    MANAGEMENT = 0x92
    SERIAL = 0x93
    SET_MANAGEMENT = 0x94
    TURN_OFF = 0x95
    SOFTWARE_VERSION = 0x96


COMMAND_NAMES: dict[int, str] = {
    Cid2.ANALOG: "analog values",
    Cid2.ALARM: "alarm info",
    Cid2.SYSTEM_PARAMETERS: "system parameters",
    Cid2.PROTOCOL_VERSION: "protocol version",
    Cid2.MANUFACTURER: "manufacturer info",
    Cid2.MANAGEMENT: "charge/discharge management",
    Cid2.SERIAL: "serial number",
    Cid2.SET_MANAGEMENT: "set charge/discharge management",
    Cid2.TURN_OFF: "turn off",
    Cid2.SOFTWARE_VERSION: "software version",
}

_ADR0 = frozenset({Cid2.PROTOCOL_VERSION, Cid2.MANUFACTURER})

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
_TEMP_NAMES = ("board", "cells_1_4", "cells_5_8", "cells_9_12", "cells_13_16", "mosfet")


def _u(value: int, n: int = 2) -> bytes:
    return value.to_bytes(n, "big")


def _s(value: int) -> bytes:
    return value.to_bytes(2, "big", signed=True)


def _ascii(text: str, n: int) -> bytes:
    return text.encode("ascii", "replace")[:n].ljust(n, b"\0")


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("ascii", "replace")


class _Reader:
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
class _Analog:
    cells_v: tuple[float, ...]
    temps_c: tuple[float, ...]
    current_a: float
    voltage_v: float
    remaining_ah: float
    full_ah: float
    cycles: int


def _analog_block(m: ModuleStatus) -> bytes:
    cells, temps = m.cell_voltages_v[:255], m.temperatures_c[:255]
    out = bytearray([len(cells)])
    for v in cells:
        out += _s(raw(v, 0.001, signed=True))
    out.append(len(temps))
    for t in temps:
        out += _s(raw(t, 0.1, signed=True, offset=_K))
    out += _s(raw(m.current_a, 0.1, signed=True)) + _u(raw(m.voltage_v, 0.001))
    cycles = _u(raw(m.cycles, 1))
    if m.full_capacity_ah > 65.0:  # the 16-bit mAh fields say 0xFFFF, two 24-bit ones follow
        rem, full = _u(raw(m.remaining_capacity_ah, 0.001, 24), 3), _u(raw(m.full_capacity_ah, 0.001, 24), 3)
        out += b"\xff\xff\x04\xff\xff" + cycles + rem + full
    else:
        out += _u(raw(m.remaining_capacity_ah, 0.001)) + b"\x02" + _u(raw(m.full_capacity_ah, 0.001)) + cycles
    return bytes(out)


def _read_analog(r: _Reader) -> _Analog:
    cells = tuple(r.s16() / 1000 for _ in range(r.u()))
    temps = tuple(round((r.s16() - 2731) / 10, 1) for _ in range(r.u()))
    current, voltage, remaining = r.s16() / 10, r.u(2) / 1000, r.u(2) / 1000
    items = r.u()
    if items not in {2, 4}:
        raise FrameError(f"analog values: user-defined item count {items}, 2 or 4 expected")
    full, cycles = r.u(2) / 1000, r.u(2)
    if items == 4:
        remaining, full = r.u(3) / 1000, r.u(3) / 1000
    return _Analog(cells, temps, current, voltage, remaining, full, cycles)


# ---- 0x44 alarm info ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Alarm:
    cell_states: bytes
    temp_states: bytes
    charge_current: int
    module_voltage: int
    discharge_current: int
    status: bytes  # Status1..Status5


def _extremes(values: tuple[float, ...], pick: Callable[[Iterable[float]], float]) -> set[int]:
    return {i for i, v in enumerate(values) if v == pick(values)} if values else set()


def _alarm_block(m: ModuleStatus) -> bytes:
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


def _read_alarm(r: _Reader) -> _Alarm:
    cells = r.take(r.u())
    temps = r.take(r.u())
    return _Alarm(cells, temps, r.u(), r.u(), r.u(), r.take(5))


def _alarm_kinds(a: _Alarm) -> tuple[frozenset[AlarmKind], frozenset[AlarmKind]]:
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


def _packs_info(status: BankStatus, index: int, command: int, block: Callable[[ModuleStatus], bytes]) -> bytes:
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


def _packs(info: bytes, all_packs: bool | None, read: Callable[[_Reader], _T], what: str) -> list[tuple[int, _T]]:
    """[(pack ADR, block)] of a 0x42/0x44 answer; ``all_packs`` None tries the COMMAND 0xFF layout first."""
    if all_packs is None:
        try:
            return _packs(info, True, read, what)
        except FrameError:
            return _packs(info, False, read, what)
    r = _Reader(info, what)
    r.u()  # INFOFLAG / DATAFLAG
    first = r.u()
    blocks = [(MASTER_ADR + i, read(r)) for i in range(first)] if all_packs else [(first, read(r))]
    r.done()
    return blocks


# ---- the battery's answers: CID2 -> (INFO is COMMAND, 0xFF allowed at the master, INFO builder) ----------------


def _management(status: BankStatus, index: int, command: int) -> bytes:
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
        + _s(raw(-limits.dcl_a, 0.1, signed=True))
        + bytes([bits])
    )


def _system_parameters() -> bytes:
    fields = (
        _s(raw(v, sc, signed=True, offset=off)) if signed else _u(raw(v, sc, offset=off))
        for _, v, sc, signed, off in SYSTEM_PARAMETERS
    )
    return bytes([_FLAG]) + b"".join(fields)


def _version(status: BankStatus) -> bytes:
    return bytes(max(0, min(255, v)) for v in status.firmware_version[:2])


_Answer = Callable[[BankStatus, int, int], bytes]
_ANSWERS: dict[int, tuple[bool, bool, _Answer]] = {
    Cid2.ANALOG: (True, True, lambda s, i, c: _packs_info(s, i, c, _analog_block)),
    Cid2.ALARM: (True, True, lambda s, i, c: _packs_info(s, i, c, _alarm_block)),
    Cid2.SYSTEM_PARAMETERS: (False, False, lambda s, i, c: _system_parameters()),
    Cid2.PROTOCOL_VERSION: (False, False, lambda s, i, c: b""),
    Cid2.MANUFACTURER: (False, False, lambda s, i, c: _ascii(s.model, 10) + _version(s) + _ascii(s.manufacturer, 20)),
    Cid2.MANAGEMENT: (True, False, _management),
    Cid2.SERIAL: (True, False, lambda s, i, c: bytes([c]) + _ascii(s.modules[i].serial, 16)),
    Cid2.SOFTWARE_VERSION: (True, False, lambda s, i, c: bytes([c]) + _version(s) + _version(s) + b"\0"),
}


# ---- what an inverter reads --------------------------------------------------------------------------------------


def _module_view(adr: int, a: _Analog) -> ModuleView:
    return ModuleView(
        address=adr - MASTER_ADR + 1,
        voltage_v=a.voltage_v,
        current_a=a.current_a,
        cell_voltages_v=a.cells_v,
        temperatures_c=a.temps_c,
        remaining_capacity_ah=a.remaining_ah,
        full_capacity_ah=a.full_ah,
        cycles=a.cycles,
        soc_pct=round(100.0 * a.remaining_ah / a.full_ah, 3) if a.full_ah > 0 else None,
    )


def _view_analog(request: PylonFrame, info: bytes) -> BatteryView:
    all_packs = request.info[:1] == bytes([ALL_PACKS])
    blocks = _packs(info, all_packs, _read_analog, "analog values")
    modules = tuple(_module_view(adr, a) for adr, a in blocks)
    if not all_packs or not blocks:
        return BatteryView(modules=modules, module_count=0 if all_packs else None)
    packs = [a for _, a in blocks]
    remaining, full = sum(a.remaining_ah for a in packs), sum(a.full_ah for a in packs)
    cells = [v for a in packs for v in a.cells_v]
    cell_t = [t for a in packs for t in a.temps_c[1:5]]
    return BatteryView(
        voltage_v=round(sum(a.voltage_v for a in packs) / len(packs), 3),
        current_a=round(sum(a.current_a for a in packs), 1),
        soc_pct=round(100.0 * remaining / full, 3) if full > 0 else None,
        module_count=len(packs),
        cycles=max(a.cycles for a in packs),
        remaining_capacity_ah=round(remaining, 3),
        full_capacity_ah=round(full, 3),
        cell_voltage_max_v=max(cells, default=None),
        cell_voltage_min_v=min(cells, default=None),
        cell_temperature_max_c=max(cell_t, default=None),
        cell_temperature_min_c=min(cell_t, default=None),
        modules=modules,
    )


def _view_alarm(request: PylonFrame, info: bytes) -> BatteryView:
    all_packs = request.info[:1] == bytes([ALL_PACKS])
    blocks = [(adr, _alarm_kinds(a)) for adr, a in _packs(info, all_packs, _read_alarm, "alarm info")]
    modules = tuple(
        ModuleView(address=adr - MASTER_ADR + 1, alarms=alarms, protections=prots) for adr, (alarms, prots) in blocks
    )
    if not all_packs:
        return BatteryView(modules=modules)
    return BatteryView(
        alarms=frozenset().union(*(a for _, (a, _) in blocks)),
        protections=frozenset().union(*(p for _, (_, p) in blocks)),
        modules=modules,
    )


def _read_management(info: bytes) -> tuple[int, float, float, float, float, int]:
    """(COMMAND, CVL V, DVL V, CCL A, DCL A as sent, status byte)."""
    r = _Reader(info, "charge/discharge management")
    fields = (r.u(), r.u(2) / 1000, r.u(2) / 1000, r.s16() / 10, r.s16() / 10, r.u())
    r.done()
    return fields


def _view_management(request: PylonFrame, info: bytes) -> BatteryView:
    _, cvl, dvl, ccl, dcl, bits = _read_management(info)
    if request.adr != MASTER_ADR:  # one module's own limits: no bank field to put them in
        return BatteryView()
    flags = {name: bool(bits >> bit & 1) for name, bit in MANAGEMENT_BITS.items()}
    return BatteryView(
        cvl_v=cvl,
        dvl_v=dvl,
        ccl_a=abs(ccl),
        dcl_a=abs(dcl),
        charge_enable=flags["charge_enable"],
        discharge_enable=flags["discharge_enable"],
        force_charge_1=flags["force_charge_1"],
        force_charge_2=flags["force_charge_2"],
        full_charge_request=flags["full_charge_request"],
    )


def _read_manufacturer(info: bytes) -> tuple[str, str, str]:
    if not 12 <= len(info) <= 32:
        raise FrameError(f"manufacturer info: INFO has {len(info)} bytes, 12 to 32 expected")
    r = _Reader(info, "manufacturer info")
    name, version = _text(r.take(10)), r.take(2)
    return name, f"{version[0]}.{version[1]}", _text(r.take(len(info) - 12))


def _read_serial(info: bytes) -> tuple[int, str]:
    r = _Reader(info, "serial number")
    fields = r.u(), _text(r.take(16))
    r.done()
    return fields


def _view_serial(command: int, serial: str) -> BatteryView:
    return BatteryView(modules=(ModuleView(address=command - MASTER_ADR + 1, serial=serial),))


def _read_fixed(info: bytes, n: int, what: str) -> bytes:
    if len(info) != n:
        raise FrameError(f"{what}: INFO has {len(info)} bytes, {n} expected")
    return info


def _nothing(checked: bytes) -> BatteryView:
    del checked  # a well-formed answer without battery fields
    return BatteryView()


_VIEWS: dict[int, Callable[[PylonFrame, bytes], BatteryView]] = {
    Cid2.ANALOG: _view_analog,
    Cid2.ALARM: _view_alarm,
    Cid2.MANAGEMENT: _view_management,
    Cid2.MANUFACTURER: lambda q, info: BatteryView(manufacturer=_read_manufacturer(info)[2]),
    Cid2.SERIAL: lambda q, info: _view_serial(*_read_serial(info)),
    Cid2.SYSTEM_PARAMETERS: lambda q, info: _nothing(_read_fixed(info, 25, "system parameters")),
    Cid2.SOFTWARE_VERSION: lambda q, info: _nothing(_read_fixed(info, 6, "software version")),
}


# ---- descriptions ------------------------------------------------------------------------------------------------

_Fields = dict[str, float | int | str | bool]


def _describe_analog(info: bytes, all_packs: bool | None) -> _Fields:
    out: _Fields = {}
    for adr, a in _packs(info, all_packs, _read_analog, "analog values"):
        p = f"module{adr - MASTER_ADR + 1}_"
        out |= {f"{p}cell{i + 1}_voltage_v": v for i, v in enumerate(a.cells_v)}
        names = _TEMP_NAMES if len(a.temps_c) == 6 else tuple(f"t{i + 1}" for i in range(len(a.temps_c)))
        out |= {f"{p}{name}_temperature_c": t for name, t in zip(names, a.temps_c, strict=True)}
        out |= {f"{p}current_a": a.current_a, f"{p}voltage_v": a.voltage_v, f"{p}cycles": a.cycles}
        out |= {f"{p}remaining_capacity_ah": a.remaining_ah, f"{p}full_capacity_ah": a.full_ah}
    return out


def _describe_alarm(info: bytes, all_packs: bool | None) -> _Fields:
    out: _Fields = {}
    for adr, a in _packs(info, all_packs, _read_alarm, "alarm info"):
        p = f"module{adr - MASTER_ADR + 1}_"
        alarms, prots = _alarm_kinds(a)
        out[f"{p}cell_states"] = a.cell_states.hex(" ").upper()
        out[f"{p}temperature_states"] = a.temp_states.hex(" ").upper()
        out |= {f"{p}charge_current_state": a.charge_current, f"{p}module_voltage_state": a.module_voltage}
        out |= {f"{p}discharge_current_state": a.discharge_current}
        out |= {f"{p}status{i + 1}": s for i, s in enumerate(a.status)}
        out |= {f"{p}alarms": ",".join(sorted(k.value for k in alarms))}
        out[f"{p}protections"] = ",".join(sorted(k.value for k in prots))
    return out


def _describe_management(info: bytes, all_packs: bool | None) -> _Fields:
    command, cvl, dvl, ccl, dcl, bits = _read_management(info)
    out: _Fields = {"command": command, "cvl_v": cvl, "dvl_v": dvl, "ccl_a": ccl, "dcl_a": dcl}
    return out | {name: bool(bits >> bit & 1) for name, bit in MANAGEMENT_BITS.items()}


def _describe_parameters(info: bytes, all_packs: bool | None) -> _Fields:
    r = _Reader(_read_fixed(info, 25, "system parameters"), "system parameters")
    r.u()
    return {
        name: round((r.s16() if signed else r.u(2)) * scale + offset, 3)
        for name, _, scale, signed, offset in SYSTEM_PARAMETERS
    }


def _describe_manufacturer(info: bytes, all_packs: bool | None) -> _Fields:
    name, version, maker = _read_manufacturer(info)
    return {"device_name": name, "software_version": version, "manufacturer": maker}


def _describe_serial(info: bytes, all_packs: bool | None) -> _Fields:
    command, serial = _read_serial(info)
    return {"command": command, "serial": serial}


def _describe_software(info: bytes, all_packs: bool | None) -> _Fields:
    v = _read_fixed(info, 6, "software version")
    return {"command": v[0], "manufacturer_version": f"{v[1]}.{v[2]}", "mainline_version": f"{v[3]}.{v[4]}.{v[5]}"}


#: answers tried, in order, when describing a response without its request
_DESCRIBE: dict[int, Callable[[bytes, bool | None], _Fields]] = {
    Cid2.ANALOG: _describe_analog,
    Cid2.ALARM: _describe_alarm,
    Cid2.MANAGEMENT: _describe_management,
    Cid2.SERIAL: _describe_serial,
    Cid2.SYSTEM_PARAMETERS: _describe_parameters,
    Cid2.MANUFACTURER: _describe_manufacturer,
    Cid2.SOFTWARE_VERSION: _describe_software,
}
_RTNS = frozenset(int(r) for r in Rtn)


class Codec(Rs485Codec):
    """Pylon LV RS485: the battery's answers (``ver`` in every answer) and the inverter's poll of the master."""

    carries = frozenset(
        [
            "voltage_v",
            "current_a",
            "soc_pct",
            "module_count",
            "cycles",
            "remaining_capacity_ah",
            "full_capacity_ah",
            "cell_voltage_max_v",
            "cell_voltage_min_v",
            "cell_temperature_max_c",
            "cell_temperature_min_c",
            "cvl_v",
            "dvl_v",
            "ccl_a",
            "dcl_a",
            "charge_enable",
            "discharge_enable",
            "force_charge_1",
            "force_charge_2",
            "full_charge_request",
            "alarms",
            "protections",
        ]
    )
    #: one poll cycle, all at ADR 2: (CID2, INFO)
    poll: tuple[tuple[int, bytes], ...] = (
        (Cid2.PROTOCOL_VERSION, b""),
        (Cid2.ANALOG, bytes([ALL_PACKS])),
        (Cid2.ALARM, bytes([ALL_PACKS])),
        (Cid2.MANAGEMENT, bytes([MASTER_ADR])),
    )

    def __init__(self, info: ProtocolInfo = INFO, *, ver: int = 0x20) -> None:
        self.info = info
        self.ver = ver

    def take_frame(self, buffer: bytearray, *, response: bool) -> bytes | None:
        del response  # one grammar both ways
        return pylon_ascii.take_frame(buffer)

    def _answer(self, adr: int, rtn: int, info: bytes = b"") -> bytes:
        return pylon_ascii.build(PylonFrame(self.ver, adr, CID1, rtn, info))

    @staticmethod
    def _module_index(frame: PylonFrame, status: BankStatus) -> int | None:
        if frame.adr == 0 and frame.cid2 in _ADR0 and status.modules:
            return 0
        index = frame.adr - MASTER_ADR
        return index if 0 <= index < len(status.modules) else None

    def respond(self, request: bytes, status: BankStatus) -> bytes | None:
        try:
            frame = pylon_ascii.parse(request)
        except FrameCheckError as exc:
            if exc.frame.cid1 != CID1 or self._module_index(exc.frame, status) is None:
                return None
            return self._answer(exc.frame.adr, exc.rtn)
        if frame.cid1 != CID1:
            return None
        index = self._module_index(frame, status)
        if index is None:
            return None
        if frame.cid2 not in _ANSWERS:
            return self._answer(frame.adr, Rtn.CID2_INVALID)
        takes_command, all_allowed, answer = _ANSWERS[frame.cid2]
        if len(frame.info) > 2 or (takes_command and not frame.info):  # LENID 2, or 4 as PyPI pylontech sends
            return self._answer(frame.adr, Rtn.FORMAT_ERROR)
        command = frame.info[0] if takes_command else frame.adr
        if command == ALL_PACKS and takes_command and not (all_allowed and frame.adr == MASTER_ADR):
            return self._answer(frame.adr, Rtn.INVALID_DATA)
        if command not in {frame.adr, ALL_PACKS}:
            return self._answer(frame.adr, Rtn.ADR_ERROR)
        return self._answer(frame.adr, Rtn.NORMAL, answer(status, index, command))

    def inverter_requests(self) -> tuple[bytes, ...]:
        return tuple(pylon_ascii.build(PylonFrame(self.ver, MASTER_ADR, CID1, c, i)) for c, i in self.poll)

    def decode_response(self, request: bytes, response: bytes) -> BatteryView:
        """The fields of an answer; an error RTN or a command without battery fields gives an empty view."""
        req, resp = pylon_ascii.parse(request), pylon_ascii.parse(response)
        if req.cid1 != CID1 or resp.cid1 != CID1:
            raise FrameError(f"CID1 0x{req.cid1:02X}/0x{resp.cid1:02X} is not lithium battery data (0x46)")
        if resp.rtn != Rtn.NORMAL or req.cid2 not in _VIEWS:
            return BatteryView()
        return _VIEWS[req.cid2](req, resp.info)

    def describe(self, frame: bytes) -> tuple[str, Description]:
        """A request by its CID2; a response by RTN and, lacking the request, the first layout its INFO fits."""
        f = pylon_ascii.parse(frame)
        head: _Fields = {"ver": f.ver, "adr": f.adr, "cid1": f.cid1}
        if f.cid2 in COMMAND_NAMES:
            extra: _Fields = {"command": f.info[0]} if f.info else {}
            return f"{COMMAND_NAMES[f.cid2]} request", head | extra | {"info": f.info.hex().upper()}
        if f.cid2 not in _RTNS:
            return f"CID2 0x{f.cid2:02X}", head | {"cid2": f.cid2, "info": f.info.hex().upper()}
        head |= {"rtn": f.rtn, "rtn_text": RTN_TEXT[Rtn(f.rtn)]}
        if f.rtn != Rtn.NORMAL:
            return "error response", head
        if not f.info:
            return "response", head | {"version": f"{f.ver >> 4}.{f.ver & 0xF}"}
        for cid2, describe in _DESCRIBE.items():
            try:
                return f"{COMMAND_NAMES[cid2]} response", head | describe(f.info, None)
            except FrameError:
                continue
        return "response", head | {"info": f.info.hex().upper()}
