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
from collections.abc import Callable

from ml314.domain.battery_status import BankStatus, BatteryView, ModuleView
from ml314.errors import FrameError
from ml314.protocols import pylon_ascii
from ml314.protocols.base import Description, ProtocolInfo, Rs485Codec, Transport
from ml314.protocols.pylon_ascii import RTN_TEXT, FrameCheckError, PylonFrame, Rtn
from ml314.protocols.pylon_rs485_blocks import (
    ALL_PACKS,
    MASTER_ADR,
    V33,
    Analog,
    Layout,
    alarm_block,
    alarm_kinds,
    analog_block,
    ascii_field,
    management_block,
    management_flags,
    packs_info,
    read_alarm,
    read_analog,
    read_fixed,
    read_management,
    read_manufacturer,
    read_packs,
    read_serial,
    system_parameters_block,
    version_bytes,
)
from ml314.protocols.pylon_rs485_describe import (
    Fields,
    describe_alarm,
    describe_analog,
    describe_management,
    describe_manufacturer,
    describe_parameters,
    describe_serial,
    describe_software,
)

__all__ = [
    "ALL_PACKS",
    "CID1",
    "COMMAND_NAMES",
    "INFO",
    "MASTER_ADR",
    "TAKES_COMMAND",
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


# ---- the battery's answers: CID2 -> (INFO is COMMAND, 0xFF allowed at the master, INFO builder) ----------------

_Answer = Callable[[BankStatus, int, int, Layout], bytes]
_ANSWERS: dict[int, tuple[bool, bool, _Answer]] = {
    Cid2.ANALOG: (True, True, lambda s, i, c, v: packs_info(s, i, c, lambda m: analog_block(m, v))),
    Cid2.ALARM: (True, True, lambda s, i, c, v: packs_info(s, i, c, alarm_block)),
    Cid2.SYSTEM_PARAMETERS: (False, False, lambda s, i, c, v: system_parameters_block()),
    Cid2.PROTOCOL_VERSION: (False, False, lambda s, i, c, v: b""),
    Cid2.MANUFACTURER: (
        False,
        False,
        lambda s, i, c, v: ascii_field(s.model, 10) + version_bytes(s) + ascii_field(s.manufacturer, 20),
    ),
    Cid2.MANAGEMENT: (True, False, management_block),
    Cid2.SERIAL: (True, False, lambda s, i, c, v: bytes([c]) + ascii_field(s.modules[i].serial, 16)),
    Cid2.SOFTWARE_VERSION: (
        True,
        False,
        lambda s, i, c, v: bytes([c]) + version_bytes(s) + version_bytes(s) + b"\0",
    ),
}
#: the commands whose request INFO is COMMAND (the pack's ADR, or 0xFF): what the battery checks, what a poller sends
TAKES_COMMAND = frozenset(cid2 for cid2, (takes, _, _) in _ANSWERS.items() if takes)


# ---- what an inverter reads --------------------------------------------------------------------------------------


def _module_view(adr: int, a: Analog) -> ModuleView:
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
    blocks = read_packs(info, all_packs, read_analog, "analog values")
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
    blocks = [(adr, alarm_kinds(a)) for adr, a in read_packs(info, all_packs, read_alarm, "alarm info")]
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


def _view_management(request: PylonFrame, info: bytes) -> BatteryView:
    _, cvl, dvl, ccl, dcl, bits = read_management(info)
    if request.adr != MASTER_ADR:  # one module's own limits: no bank field to put them in
        return BatteryView()
    flags = management_flags(bits)
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


def _view_serial(command: int, serial: str) -> BatteryView:
    return BatteryView(modules=(ModuleView(address=command - MASTER_ADR + 1, serial=serial),))


def _nothing(checked: bytes) -> BatteryView:
    del checked  # a well-formed answer without battery fields
    return BatteryView()


_VIEWS: dict[int, Callable[[PylonFrame, bytes], BatteryView]] = {
    Cid2.ANALOG: _view_analog,
    Cid2.ALARM: _view_alarm,
    Cid2.MANAGEMENT: _view_management,
    Cid2.MANUFACTURER: lambda q, info: BatteryView(manufacturer=read_manufacturer(info)[2]),
    Cid2.SERIAL: lambda q, info: _view_serial(*read_serial(info)),
    Cid2.SYSTEM_PARAMETERS: lambda q, info: _nothing(read_fixed(info, 25, "system parameters")),
    Cid2.SOFTWARE_VERSION: lambda q, info: _nothing(read_fixed(info, 6, "software version")),
}


# ---- descriptions ------------------------------------------------------------------------------------------------

#: answers tried, in order, when describing a response without its request
_DESCRIBE: dict[int, Callable[[bytes, bool | None], Fields]] = {
    Cid2.ANALOG: describe_analog,
    Cid2.ALARM: describe_alarm,
    Cid2.MANAGEMENT: describe_management,
    Cid2.SERIAL: describe_serial,
    Cid2.SYSTEM_PARAMETERS: describe_parameters,
    Cid2.MANUFACTURER: describe_manufacturer,
    Cid2.SOFTWARE_VERSION: describe_software,
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

    #: the version-dependent blocks (user-defined count 04, negative 0x92 DCL: what US2000/US5000 send)
    layout: Layout = V33

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
        return self._answer(frame.adr, Rtn.NORMAL, answer(status, index, command, self.layout))

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
        head: Fields = {"ver": f.ver, "adr": f.adr, "cid1": f.cid1}
        if f.cid2 in COMMAND_NAMES:
            extra: Fields = {"command": f.info[0]} if f.info else {}
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
