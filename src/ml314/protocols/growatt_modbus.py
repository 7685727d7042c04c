"""Growatt RS485 (RS485 P01-GRW): standard Modbus RTU, 9600 8N1, slave address 1, the inverter reads holding registers.

Sources: Growatt "RS485 protocol 1xSxxP ESS V2.01" as summarised in reference/protocols.md section 3; its V2.02
extension block as current decoders read it (Project-Helianthus/helianthus-modbusreg ``growatt_bms_rs485.go``:
four FC03 slices 0x0001 x 7, 0x000D x 29, 0x0100 x 12, 0x010D x 2, and ``growatt_bms_rs485_typed.go`` for the
fields it names); the bit tables of rev 2.3 (0xAHA/Growatt_ModbusTCP ``docs/developer/protocol-ess.md``); a
capture of a real BMS in this mode (dnc392/rs485-bms-probe, ``docs/protocol_research/growatt_bms_rs485_1xsxxp.md``,
status block 0x0013-0x0018). The battery answers function 0x03 from :data:`TABLE` (0x0001-0x0029, 0x0070 pack id
and 0x0071-0x0080 the cells of the master module, 0x0100-0x010E the V2.02 extension), acknowledges the inverter's
0x10 "handshake" write (``01 10 00 13 00 01 02 0C 00``) as Modbus says, without storing it, and answers exception
02 for any address outside the table, 03 for a count outside 1..125 (1..123 for a write), 01 for any other
function; 0x11 "report server ID" and 0x2B/0x0E "read device identification" name the product (:mod:`modbus_rtu`).
The same register values feed the pymodbus server in ``adapters/modbus_server.py``.

Decisions where the sources are silent or disagree (docs/protocols.md, "Growatt Modbus", says why):

* current (0x0010, 0x0017, s16 10 mA) is positive while charging, as on an SPH3620 (protocol-ess.md);
* units: 0x0019 is the charge current limit and 0x0023 the discharge current limit, both u16 in **10 mA** (V2.01
  gives 10 mA for 0x0023; rev 2.3 names 0x0019 "max charge/discharge current" without a unit, and the twin
  registers share one unit here); 0x0018 temperature is s16 whole degC (rev 2.3: -127..127); 0x001D delta cell
  voltage in mV as in Growatt CAN 0x314;
* 0x0001 MCU firmware packs (major, minor) as high/low byte; 0x0020 SOH keeps its b7 flag clear;
* 0x0013 b0-1 follow the sign of the 10 mA current (0 standby, >0 charging, <0 discharging); b8-9 say "single"
  for one module and "parallel" otherwise; b10-11 (inverter "SP status") and b4 sleep, b7 terminal open stay 0
  (the captured BMS sets b10; helianthus' V2.02 decoder rejects a high byte, ml314 follows the documents' bits);
* 0x0014 error bits (:data:`ERROR_BITS`) come from the BMS's protection rows and 0x0022 warning bits from its
  warning/alarm rows with the same bit table (rev 2.3: "warning-level equivalents of the above"), b14-15 = 00
  LiFePO4;
* V2.02 extension: 0x0102 average cell voltage (mV, over the bank), 0x0104 the CV voltage in 0.1 V (the pack
  float voltage field; ML314 holds CVL, it has no separate float level), 0x0105/0x0106 cumulative charge /
  discharge in 0.1 Ah (from the energy counters over the nominal 51.2 V, clamped at 6553.5 Ah); every other word
  of the block (continuous charge time, this cycle's charge, undocumented words) reads 0;
* the "same set for a 2nd box" at 0x0031-0x0052 does not line up with 0x0001-0x0029 in the summary, so it is not
  served: a bank of up to 16 modules is reported as one box at 0x0001-0x0029.

Overflow for a bank of up to 16 modules: the capacities (u16 10 mAh) are scaled together when the full capacity
exceeds 655.35 Ah: full reads 655.35 Ah and remaining keeps the ratio, so remaining / full == 0x0015 SOC (the
field has no bigger unit). Limits beyond 655.35 A read 655.35 A (u16 10 mA, on the safe side). The current
(s16 10 mA) cannot say more than +-327.67 A: a bank current beyond that is clamped and an inverter's voltage x
current is then low; the protocol has no other unit for it (docs/protocols.md lists this limit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.errors import FrameError
from ml314.protocols import modbus_rtu as mb
from ml314.protocols.base import Description, ProtocolInfo, Rs485Codec, Transport
from ml314.protocols.fields import raw

__all__ = ["ERROR_BITS", "INFO", "STATUS_BITS", "TABLE", "Codec", "Register"]

INFO = ProtocolInfo(
    transport=Transport.RS485,
    code="P01-GRW",
    brand="Growatt",
    name="growatt-modbus",
    document="Growatt RS485 protocol 1xSxxP ESS V2.01 (Modbus RTU)",
    period_s=0.0,
    baud=9600,
    response_timeout_s=0.2,
)

SLAVE_ADDRESS = 1
STATUS_REGISTER = 0x0013
HANDSHAKE_VALUE = 0x0C00  # the reference's example write to 0x0013
INVERTER_READ = (0x0010, 0x0029 - 0x0010 + 1)
#: the V2.02 reads of helianthus-modbusreg (identity, status, extension, extension tail)
V202_READS = ((0x0001, 7), (0x000D, 29), (0x0100, 12), (0x010D, 2))
NOMINAL_V = 51.2

#: 0x0014 error bits; several kinds share a bit, the first listed is the one decoded.
ERROR_BITS: dict[AlarmKind, int] = {
    AlarmKind.DISCHARGE_OVERCURRENT: 0,
    AlarmKind.SHORT_CIRCUIT: 1,
    AlarmKind.CELL_OVERVOLTAGE: 2,
    AlarmKind.PACK_OVERVOLTAGE: 2,
    AlarmKind.CELL_UNDERVOLTAGE: 3,
    AlarmKind.PACK_UNDERVOLTAGE: 3,
    AlarmKind.DISCHARGE_OVERTEMPERATURE: 4,
    AlarmKind.CHARGE_OVERTEMPERATURE: 5,
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: 6,
    AlarmKind.CHARGE_UNDERTEMPERATURE: 7,
    AlarmKind.SYSTEM_ERROR: 9,  # permanent fault
    AlarmKind.CELL_IMBALANCE: 10,
    AlarmKind.CHARGE_OVERCURRENT: 11,
    AlarmKind.MOSFET_OVERTEMPERATURE: 12,
    AlarmKind.BOARD_OVERTEMPERATURE: 13,  # environment over-temperature
}
_ERROR_KIND: dict[int, AlarmKind] = {bit: kind for kind, bit in reversed(ERROR_BITS.items())}
_ERROR_NAMES = (
    "OCD", "SCD", "OV", "UV", "OTD", "OTC", "UTD", "UTC",
    "soft_start_fail", "permanent_fault", "delta_v", "OCC", "MOS_OT", "env_OT", "env_UT",
)  # fmt: skip

#: 0x0022 warning bits: the same table, for the warning/alarm levels (rev 2.3); b14-15 battery type 00 = LiFePO4
WARNING_BITS: dict[AlarmKind, int] = ERROR_BITS

#: 0x0013 single-bit flags (as CAN 0x311, plus b12 force charge): BatteryView field -> bit
STATUS_BITS: dict[str, int] = {"discharge_enable": 5, "charge_enable": 6, "force_charge_1": 12}

Encoder = Callable[[BankStatus], int]


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    encode: Encoder


def _zero(_: BankStatus) -> int:
    return 0


def _s16(value: float, scale: float) -> int:
    return raw(value, scale, 16, signed=True) & 0xFFFF


def _signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def _current(s: BankStatus) -> int:
    return _s16(s.current_a, 0.01)


def _status(s: BankStatus) -> int:
    amps = _signed(_current(s))
    word = 0b01 if amps == 0 else 0b10 if amps > 0 else 0b11
    word |= (_error(s) != 0) << 2
    word |= any(m.balancing for m in s.modules) << 3
    word |= s.discharge_enable << STATUS_BITS["discharge_enable"]
    word |= s.charge_enable << STATUS_BITS["charge_enable"]
    word |= (0b01 if s.module_count > 1 else 0b00) << 8
    word |= (s.force_charge_1 or s.force_charge_2) << STATUS_BITS["force_charge_1"]
    return word


def _bits(kinds: frozenset[AlarmKind], table: Mapping[AlarmKind, int]) -> int:
    return sum(1 << bit for bit in {table[k] for k in kinds if k in table})


def _error(s: BankStatus) -> int:
    return _bits(s.protections, ERROR_BITS)


def _warning(s: BankStatus) -> int:
    return _bits(s.alarms, WARNING_BITS)


_U16_10MAH_AH = 655.35


def _capacities(s: BankStatus) -> tuple[int, int]:
    """(remaining, full) in u16 10 mAh; above 655.35 Ah both shrink by one factor so remaining / full == SOC."""
    full, remaining = s.full_capacity_ah, min(s.remaining_capacity_ah, s.full_capacity_ah)
    if full <= _U16_10MAH_AH:
        return raw(remaining, 0.01), raw(full, 0.01)
    return raw(remaining / full * _U16_10MAH_AH, 0.01), 0xFFFF


def _average_cell_mv(s: BankStatus) -> int:
    cells = [v for m in s.modules for v in m.cell_voltages_v]
    return raw(sum(cells) / len(cells), 0.001) if cells else 0


def _master_cell_mv(index: int) -> Encoder:
    def encode(s: BankStatus) -> int:
        cells = s.modules[0].cell_voltages_v if s.modules else ()
        return raw(cells[index], 0.001) if index < len(cells) else 0

    return encode


def _cells_in_series(s: BankStatus) -> int:
    return len(s.modules[0].cell_voltages_v) if s.modules else 16


_NAMED: dict[int, Register] = {
    0x0001: Register("mcu_firmware", lambda s: (s.firmware_version[0] & 0xFF) << 8 | s.firmware_version[1] & 0xFF),
    0x0002: Register("gauge_version", _zero),
    0x0003: Register("gauge_fr_version_1", _zero),
    0x0004: Register("gauge_fr_version_2", _zero),
    **{0x0005 + i: Register(f"date_time_{i + 1}", _zero) for i in range(4)},
    **{0x0009 + i: Register(f"bar_code_{i + 1}", _zero) for i in range(4)},
    0x000D: Register("bms_company_version", _zero),
    0x000E: Register("pack_company_version", _zero),
    0x000F: Register("using_capacity", _zero),
    0x0010: Register("gauge_current_10ma", _current),
    0x0011: Register("date_1", _zero),
    0x0012: Register("date_2", _zero),
    0x0013: Register("status", _status),
    0x0014: Register("error", _error),
    0x0015: Register("soc_pct", lambda s: raw(s.soc_pct, 1.0)),
    0x0016: Register("voltage_10mv", lambda s: raw(s.voltage_v, 0.01)),
    0x0017: Register("current_10ma", _current),
    0x0018: Register("temperature_c", lambda s: _s16(s.temperature_c, 1.0)),
    0x0019: Register("max_charge_current_10ma", lambda s: raw(s.limits.ccl_a, 0.01)),
    0x001A: Register("remaining_capacity_10mah", lambda s: _capacities(s)[0]),
    0x001B: Register("full_capacity_10mah", lambda s: _capacities(s)[1]),
    0x001C: Register("hw_sw_version", _zero),
    0x001D: Register("delta_cell_mv", lambda s: raw(s.cell_voltage_max_v - s.cell_voltage_min_v, 0.001)),
    0x001E: Register("cycles", lambda s: raw(s.cycles, 1.0)),
    0x001F: Register("box_id", lambda s: SLAVE_ADDRESS),
    0x0020: Register("soh_pct", lambda s: raw(s.soh_pct, 1.0, 7)),
    0x0021: Register("cv_voltage_10mv", lambda s: raw(s.limits.cvl_v, 0.01)),
    0x0022: Register("warning", _warning),
    0x0023: Register("max_discharge_current_10ma", lambda s: raw(s.limits.dcl_a, 0.01)),
    0x0024: Register("ext_error", _zero),
    0x0025: Register("max_cell_mv", lambda s: raw(s.cell_voltage_max_v, 0.001)),
    0x0026: Register("min_cell_mv", lambda s: raw(s.cell_voltage_min_v, 0.001)),
    0x0027: Register("max_cell_number", lambda s: raw(s.cell_voltage_max_id, 1.0)),
    0x0028: Register("min_cell_number", lambda s: raw(s.cell_voltage_min_id, 1.0)),
    0x0029: Register("cells_in_series", _cells_in_series),
    0x0070: Register("pack_id", lambda s: s.modules[0].address if s.modules else SLAVE_ADDRESS),
    **{0x0071 + i: Register(f"cell_{i + 1}_mv", _master_cell_mv(i)) for i in range(16)},
    0x0100: Register("continuous_charge_s", _zero),
    0x0101: Register("cycle_charge_dah", _zero),
    0x0102: Register("average_cell_mv", _average_cell_mv),
    0x0103: Register("v202_0103", _zero),
    0x0104: Register("float_voltage_dv", lambda s: raw(s.limits.cvl_v, 0.1)),
    0x0105: Register("cumulative_charge_dah", lambda s: raw(s.charged_energy_kwh * 1000.0 / NOMINAL_V, 0.1)),
    0x0106: Register("cumulative_discharge_dah", lambda s: raw(s.discharged_energy_kwh * 1000.0 / NOMINAL_V, 0.1)),
    **{a: Register(f"v202_{a:04x}", _zero) for a in range(0x0107, 0x010F)},
}

#: register address -> (name, encoder from BankStatus); every address the battery serves
TABLE: Mapping[int, Register] = dict(sorted(_NAMED.items()))

Decoder = Callable[[tuple[int, ...]], object]


def _flag(bit: int) -> Decoder:
    return lambda r: bool(r[0] >> bit & 1)


def _scaled(scale: float, digits: int) -> Decoder:
    return lambda r: round(r[0] * scale, digits)


def _protections(r: tuple[int, ...]) -> frozenset[AlarmKind]:
    return frozenset(kind for bit, kind in _ERROR_KIND.items() if r[0] >> bit & 1)


#: BatteryView field -> (registers it needs, value from their words)
_DECODE: dict[str, tuple[tuple[int, ...], Decoder]] = {
    "current_a": ((0x0017,), lambda r: round(_signed(r[0]) * 0.01, 2)),
    "charge_enable": ((STATUS_REGISTER,), _flag(STATUS_BITS["charge_enable"])),
    "discharge_enable": ((STATUS_REGISTER,), _flag(STATUS_BITS["discharge_enable"])),
    "force_charge_1": ((STATUS_REGISTER,), _flag(STATUS_BITS["force_charge_1"])),
    "protections": ((0x0014,), _protections),
    "alarms": ((0x0022,), _protections),  # the same bit table
    "soc_pct": ((0x0015,), lambda r: float(r[0])),
    "voltage_v": ((0x0016,), _scaled(0.01, 2)),
    "temperature_c": ((0x0018,), lambda r: float(_signed(r[0]))),
    "ccl_a": ((0x0019,), _scaled(0.01, 2)),
    "remaining_capacity_ah": ((0x001A,), _scaled(0.01, 2)),
    "full_capacity_ah": ((0x001B,), _scaled(0.01, 2)),
    "cycles": ((0x001E,), lambda r: r[0]),
    "soh_pct": ((0x0020,), lambda r: float(r[0] & 0x7F)),
    "cvl_v": ((0x0021,), _scaled(0.01, 2)),
    "dcl_a": ((0x0023,), _scaled(0.01, 2)),
    "cell_voltage_max_v": ((0x0025,), _scaled(0.001, 3)),
    "cell_voltage_min_v": ((0x0026,), _scaled(0.001, 3)),
}


class Codec(Rs485Codec):
    """Growatt RS485 Modbus: the battery is slave 1; :meth:`registers` is the register image of a status."""

    carries = frozenset(_DECODE)
    slave_address = SLAVE_ADDRESS

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        self.info = info

    # battery side -----------------------------------------------------------------------------------------------
    def registers(self, status: BankStatus) -> dict[int, int]:
        """Every served register's u16 value for ``status``."""
        return {address: reg.encode(status) for address, reg in TABLE.items()}

    @property
    def register_addresses(self) -> tuple[int, ...]:
        return tuple(TABLE)

    def respond(self, request: bytes, status: BankStatus) -> bytes | None:
        req = mb.parse_request(request)
        if req.address != SLAVE_ADDRESS:
            return None  # another slave, or a broadcast (answered by nobody)
        if isinstance(req, mb.OtherRequest):
            if req.function == mb.REPORT_SERVER_ID and not req.data:
                return mb.build_report_server_id(SLAVE_ADDRESS, identity(status))
            if req.function == mb.ENCAPSULATED:
                return mb.build_device_identification(SLAVE_ADDRESS, req.data, identity(status))
            return mb.build_exception(SLAVE_ADDRESS, req.function, mb.ExceptionCode.ILLEGAL_FUNCTION)
        if isinstance(req, mb.ReadRequest):
            func, start, count, limit = mb.READ_HOLDING, req.start, req.count, mb.MAX_READ_COUNT
        else:
            func, start, count, limit = mb.WRITE_MULTIPLE, req.start, len(req.values), mb.MAX_WRITE_COUNT
        if not 1 <= count <= limit:
            return mb.build_exception(SLAVE_ADDRESS, func, mb.ExceptionCode.ILLEGAL_DATA_VALUE)
        if any(a not in TABLE for a in range(start, start + count)):
            return mb.build_exception(SLAVE_ADDRESS, func, mb.ExceptionCode.ILLEGAL_DATA_ADDRESS)
        if isinstance(req, mb.WriteRequest):
            return mb.build_write_response(SLAVE_ADDRESS, start, count)
        regs = self.registers(status)
        return mb.build_read_response(SLAVE_ADDRESS, [regs[a] for a in range(start, start + count)])

    def take_frame(self, buffer: bytearray, *, response: bool) -> bytes | None:
        return mb.take_response(buffer) if response else mb.take_request(buffer)

    # inverter side ----------------------------------------------------------------------------------------------
    def register_reads(self) -> tuple[tuple[int, int], ...]:
        """(start, count) of the reads an inverter does each cycle."""
        return (INVERTER_READ,)

    def inverter_requests(self) -> tuple[bytes, ...]:
        """The handshake write of the reference's example, then one read of 0x0010-0x0029."""
        handshake = mb.build_write_request(SLAVE_ADDRESS, STATUS_REGISTER, [HANDSHAKE_VALUE])
        reads = tuple(mb.build_read_request(SLAVE_ADDRESS, s, n) for s, n in self.register_reads())
        return (handshake, *reads)

    def decode_registers(self, regs: Mapping[int, int]) -> BatteryView:
        """The fields whose registers are all in ``regs`` (address -> u16 word)."""
        return mb.view_from_registers(regs, _DECODE)

    def decode_response(self, request: bytes, response: bytes) -> BatteryView:
        req = mb.parse_request(request)
        resp = mb.parse_response(response)
        if resp.address != req.address:
            raise FrameError(f"response from slave {resp.address} to a request for slave {req.address}")
        if isinstance(resp, mb.ExceptionResponse):
            func = req.function if isinstance(req, mb.OtherRequest) else _function(req)
            if resp.function != func:
                raise FrameError(f"exception for function 0x{resp.function:02X} to a 0x{func:02X} request")
            return BatteryView()
        if isinstance(req, mb.ReadRequest) and isinstance(resp, mb.ReadResponse):
            if len(resp.values) != req.count:
                raise FrameError(f"{len(resp.values)} registers in the response to a read of {req.count}")
            return self.decode_registers({req.start + i: v for i, v in enumerate(resp.values)})
        if isinstance(req, mb.WriteRequest) and isinstance(resp, mb.WriteResponse):
            if (resp.start, resp.count) != (req.start, len(req.values)):
                raise FrameError("write response does not echo the request's start and count")
            return BatteryView()
        raise FrameError(f"{type(resp).__name__} does not answer a {type(req).__name__}")

    def describe(self, frame: bytes) -> tuple[str, Description]:
        parsed = mb.parse_frame(frame)
        fields: dict[str, float | int | str | bool] = {"slave": parsed.address}
        if isinstance(parsed, mb.ReadRequest):
            fields |= {"start": f"0x{parsed.start:04X}", "count": parsed.count}
            return "read holding registers", fields
        if isinstance(parsed, mb.WriteRequest):
            fields["start"] = f"0x{parsed.start:04X}"
            fields |= {_reg_name(parsed.start + i): v for i, v in enumerate(parsed.values)}
            return "write multiple registers", fields
        if isinstance(parsed, mb.OtherRequest):
            fields |= {"function": f"0x{parsed.function:02X}", "data": parsed.data.hex(" ")}
            return "unsupported request", fields
        if isinstance(parsed, mb.ReadResponse):
            fields |= {"count": len(parsed.values), "words": " ".join(f"{v:04X}" for v in parsed.values)}
            return "read holding registers response", fields
        if isinstance(parsed, mb.WriteResponse):
            fields |= {"start": f"0x{parsed.start:04X}", "count": parsed.count}
            return "write multiple registers response", fields
        fields |= {"function": f"0x{parsed.function:02X}", "code": parsed.code, "meaning": _exception_name(parsed.code)}
        return "exception response", fields

    @staticmethod
    def describe_registers(regs: Mapping[int, int]) -> Description:
        """Readable register values (error bits spelt out) for ``ml314 decode`` of a known read."""
        out: dict[str, float | int | str | bool] = {_reg_name(a): v for a, v in sorted(regs.items())}
        for address, key in ((0x0014, "error_bits"), (0x0022, "warning_bits")):
            if address in regs:
                out[key] = ",".join(n for b, n in enumerate(_ERROR_NAMES) if regs[address] >> b & 1)
        return out


def identity(status: BankStatus) -> mb.DeviceIdentity:
    """The device identification of the battery: its maker and model, ml314's version as the revision."""
    return mb.DeviceIdentity(vendor_name=status.manufacturer, product_code=status.model, model_name=status.model)


def _function(req: mb.ReadRequest | mb.WriteRequest) -> int:
    return mb.READ_HOLDING if isinstance(req, mb.ReadRequest) else mb.WRITE_MULTIPLE


def _reg_name(address: int) -> str:
    reg = TABLE.get(address)
    return f"0x{address:04X}" + (f" {reg.name}" if reg else "")


def _exception_name(code: int) -> str:
    try:
        return mb.ExceptionCode(code).name.lower()
    except ValueError:
        return "unknown"
