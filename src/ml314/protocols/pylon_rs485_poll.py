"""Pylon LV RS485 V3.3 from the PC's side: what a monitor asks each pack of a stack, and what it reads back.

The inverter peer of :mod:`pylon_rs485` asks the master (ADR 2) for the whole bank with COMMAND 0xFF; a monitor
asks every pack at its own address (ADR 2 + k - 1 on a Pylon stack, as python-pylontech and Pylon's own BatteryView
do), because that is what every Pylon-protocol battery answers: 0x42 analog values, 0x44 alarm info, 0x92 the
pack's charge/discharge management, and once per pack 0x47 system parameters, 0x51 manufacturer info and 0x93 the
serial number. The byte layouts are :mod:`pylon_rs485_blocks`' (the same readers the inverter side uses); which
command carries COMMAND in INFO is :data:`pylon_rs485.TAKES_COMMAND`. Nothing here does I/O.

:func:`read_answer` turns one (request, response) pair into a :class:`PackReading` with the fields that answer
carries; an answer with an error RTN is a :class:`PackRefusal` (the pack is there, it does not serve that command);
a malformed one raises :class:`FrameError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace

from ml314.domain.battery_status import AlarmKind
from ml314.errors import FrameError
from ml314.protocols import pylon_ascii
from ml314.protocols.pylon_ascii import RTN_TEXT, PylonFrame, Rtn
from ml314.protocols.pylon_rs485 import CID1, COMMAND_NAMES, TAKES_COMMAND, Cid2
from ml314.protocols.pylon_rs485_blocks import (
    MASTER_ADR,
    Analog,
    alarm_kinds,
    management_flags,
    read_alarm,
    read_analog,
    read_management,
    read_manufacturer,
    read_packs,
    read_serial,
)
from ml314.protocols.pylon_rs485_describe import describe_parameters

__all__ = [
    "FIRST_ADR",
    "ONCE",
    "POLL",
    "Management",
    "PackReading",
    "PackRefusal",
    "adr_of",
    "module_of",
    "read_answer",
    "request",
]

#: the first pack's address on a Pylon stack (the master); pack k answers at FIRST_ADR + k - 1
FIRST_ADR = MASTER_ADR
#: asked of every pack on every cycle
POLL: tuple[Cid2, ...] = (Cid2.ANALOG, Cid2.ALARM, Cid2.MANAGEMENT)
#: asked of a pack once (when it is found, and again when it comes back)
ONCE: tuple[Cid2, ...] = (Cid2.MANUFACTURER, Cid2.SERIAL, Cid2.SYSTEM_PARAMETERS)


def adr_of(module: int) -> int:
    """The address of pack ``module`` (1 = the master) on a Pylon stack."""
    return FIRST_ADR + module - 1


def module_of(adr: int) -> int:
    """The pack number (1 = the master) of address ``adr``."""
    return adr - FIRST_ADR + 1


@dataclass(frozen=True, slots=True)
class Management:
    """A pack's 0x92 answer: its limits (DCL as a magnitude) and request flags."""

    cvl_v: float
    dvl_v: float
    ccl_a: float
    dcl_a: float
    charge_enable: bool
    discharge_enable: bool
    force_charge_1: bool
    force_charge_2: bool
    full_charge_request: bool


@dataclass(frozen=True, slots=True)
class PackReading:
    """What one or more answers told about the pack at ``adr``; ``None`` where no answer carried the field."""

    adr: int
    analog: Analog | None = None
    alarms: frozenset[AlarmKind] | None = None
    protections: frozenset[AlarmKind] | None = None
    management: Management | None = None
    parameters: Mapping[str, float] | None = None  # 0x47 by name (pylon_rs485_blocks.SYSTEM_PARAMETERS)
    serial: str | None = None
    model: str | None = None
    firmware: str | None = None
    manufacturer: str | None = None

    def merge(self, newer: PackReading) -> PackReading:
        """This reading with every field ``newer`` carries."""
        changes = {f.name: getattr(newer, f.name) for f in fields(newer) if getattr(newer, f.name) is not None}
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class PackRefusal:
    """The pack at ``adr`` answered ``cid2`` with an error RTN: it is there, but does not serve the command."""

    adr: int
    cid2: int
    rtn: int

    def __str__(self) -> str:
        name = COMMAND_NAMES.get(self.cid2, f"CID2 0x{self.cid2:02X}")
        text = _RTN_TEXT.get(self.rtn, "unknown")
        return f"ADR {self.adr}: {name} refused, RTN 0x{self.rtn:02X} ({text})"


_RTN_TEXT = {int(k): v for k, v in RTN_TEXT.items()}


def request(adr: int, cid2: int, *, ver: int = 0x20) -> bytes:
    """The frame asking pack ``adr`` for ``cid2`` (INFO = COMMAND = ``adr`` where the command takes one)."""
    info = bytes([adr]) if cid2 in TAKES_COMMAND else b""
    return pylon_ascii.build(PylonFrame(ver, adr, CID1, cid2, info))


def _analog(adr: int, info: bytes) -> PackReading:
    (at, analog), *_ = read_packs(info, False, read_analog, "analog values")
    return PackReading(at, analog=analog)


def _alarm(adr: int, info: bytes) -> PackReading:
    (at, alarm), *_ = read_packs(info, False, read_alarm, "alarm info")
    alarms, protections = alarm_kinds(alarm)
    return PackReading(at, alarms=alarms, protections=protections)


def _management(adr: int, info: bytes) -> PackReading:
    command, cvl, dvl, ccl, dcl, bits = read_management(info)
    flags = management_flags(bits)
    return PackReading(command, management=Management(cvl, dvl, abs(ccl), abs(dcl), **flags))


def _manufacturer(adr: int, info: bytes) -> PackReading:
    model, firmware, maker = read_manufacturer(info)
    return PackReading(adr, model=model, firmware=firmware, manufacturer=maker)


def _serial(adr: int, info: bytes) -> PackReading:
    command, serial = read_serial(info)
    return PackReading(command, serial=serial)


def _parameters(adr: int, info: bytes) -> PackReading:
    values = describe_parameters(info, None)
    return PackReading(adr, parameters={k: float(v) for k, v in values.items() if isinstance(v, int | float)})


#: CID2 -> the reader of its answer's INFO
_READERS: dict[int, Callable[[int, bytes], PackReading]] = {
    Cid2.ANALOG: _analog,
    Cid2.ALARM: _alarm,
    Cid2.MANAGEMENT: _management,
    Cid2.MANUFACTURER: _manufacturer,
    Cid2.SERIAL: _serial,
    Cid2.SYSTEM_PARAMETERS: _parameters,
    Cid2.PROTOCOL_VERSION: lambda adr, info: PackReading(adr),
}


def read_answer(req: bytes, response: bytes) -> PackReading | PackRefusal:
    """The reading of ``response`` to ``req`` (built by :func:`request`); FrameError when it is malformed, answers
    another address or carries another pack's block."""
    q, a = pylon_ascii.parse(req), pylon_ascii.parse(response)
    if a.cid1 != CID1:
        raise FrameError(f"CID1 0x{a.cid1:02X} is not lithium battery data (0x46)")
    if a.adr != q.adr:
        raise FrameError(f"answer from ADR {a.adr}, ADR {q.adr} was asked")
    if a.rtn != Rtn.NORMAL:
        return PackRefusal(q.adr, q.cid2, a.rtn)
    reader = _READERS.get(q.cid2)
    if reader is None:
        raise FrameError(f"CID2 0x{q.cid2:02X}: no reader on the PC side")
    reading = reader(q.adr, a.info)
    if reading.adr != q.adr:
        raise FrameError(f"{COMMAND_NAMES.get(q.cid2, 'answer')}: block of pack {reading.adr}, ADR {q.adr} was asked")
    return reading
