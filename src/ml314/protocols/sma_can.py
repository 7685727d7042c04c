"""SMA Sunny Island external-BMS CAN (P07-SMA): reference/protocols.md 1.4, SMA TI FSS-ConnectingBat-TI-en-10.

CAN 2.0A, 500 kbit/s, little-endian (``dbc/sma_sunny_island.dbc``). The battery sends 0x351, 0x355, 0x356, 0x35A,
0x35B, 0x35E and 0x35F every second (the document forbids faster than every 200 ms); SMA has no 0x359/0x35C. The
optional quick stop 0x00F is not sent. The Sunny Island sends 0x305-0x307 every second; it stops (F952, standby)
after 60 s without 0x355 and warns (W952) after 60 s without 0x351 (:data:`INVERTER_TIMEOUTS_S`).

Contracts:

* Clamping: values are clamped to the ranges the SMA document states, not only to the wire fields: CVL 41-63 V,
  discharge voltage 41-48 V, CCL 0-1200 A, and DCL 0-1200 A too (the reference lists the CCL range; Battery-Emulator
  SMA-LV-CAN quotes the same range for DCL). The DBC carries the ranges and ``encode_message`` applies them, so a
  bank of 8 or more modules announces 1200 A. A disabled direction is sent as a zero current limit. SOC/SOH 0-100.
* ``INVERTER_COMMUNICATION`` (the keep-alive stopped) is reported as the "General" item, which decodes back as
  ``SYSTEM_ERROR``.
* 16-bit fields never carry the document's "invalid" markers (0xFFFF unsigned, 0x8000 signed) by accident: their
  ranges stop one step short. A NaN or missing value is sent as the marker, and a received marker decodes as absent.
* 0x356 current is positive while charging; the inverter's 0x305 current is negative while charging.
* 0x35A: bytes 0-3 carry ``protections`` (SMA alarms), bytes 4-7 ``alarms`` (SMA warnings). Each item is two bits:
  "arrives" (01) while active, "leaves" (10) otherwise, for every item including the reserved ones (a battery with
  nothing to report sends ``AA`` x 8, as real batteries do, reference 1.3). 00 and 11 decode as inactive.
* 0x35F: battery type "LI", BMS version as two bytes (major, minor), installed capacity in Ah, manufacturer id 0
  (ml314 has no SMA-assigned id).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import cantools.database

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.errors import FrameError
from ml314.protocols.base import CanCodec, CanFrame, Description, ProtocolInfo, Transport
from ml314.protocols.fields import dbc, decode_signals, describe_frame, encode_message

__all__ = ["ALARM_ITEMS", "INFO", "INVERTER_TIMEOUTS_S", "ITEMS", "ITEM_ALARMS", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P07-SMA",
    brand="SMA",
    name="sma-can",
    document="SMA TI FSS-ConnectingBat-TI-en-10 (Sunny Island, external BMS over CAN)",
    note="limits clamped to the SMA ranges (CVL 41-63 V, DVL 41-48 V, CCL/DCL 0-1200 A)",
    period_s=1.0,
    keepalive_timeout_s=60.0,
)

ID_LIMITS, ID_SOC, ID_MEASUREMENTS, ID_ALARMS, ID_EVENTS, ID_NAME, ID_INFO = (
    0x351,
    0x355,
    0x356,
    0x35A,
    0x35B,
    0x35E,
    0x35F,
)
ID_INV_BATTERY, ID_INV_STATE, ID_INV_RELAYS = 0x305, 0x306, 0x307

#: how long the Sunny Island waits for a battery frame before it reacts (0x355: F952 standby, 0x351: W952 warning)
INVERTER_TIMEOUTS_S: Mapping[int, float] = {ID_SOC: 60.0, ID_LIMITS: 60.0}

#: the 16 two-bit items of 0x35A in wire order (alarm bytes 0-3, the same order again in warning bytes 4-7)
ITEMS: tuple[str, ...] = (
    "General",
    "HighVoltage",
    "LowVoltage",
    "HighTemp",
    "LowTemp",
    "HighTempCharge",
    "LowTempCharge",
    "HighCurrent",
    "HighChargeCurrent",
    "Contactor",
    "ShortCircuit",
    "BmsInternal",
    "CellImbalance",
    "Reserved1",
    "Reserved2",
    "Generator",
)

#: AlarmKind -> the 0x35A item that reports it
ALARM_ITEMS: Mapping[AlarmKind, str] = {
    AlarmKind.SYSTEM_ERROR: "General",
    AlarmKind.INVERTER_COMMUNICATION: "General",
    AlarmKind.MODULE_MIX: "General",
    AlarmKind.CELL_OVERVOLTAGE: "HighVoltage",
    AlarmKind.PACK_OVERVOLTAGE: "HighVoltage",
    AlarmKind.CELL_UNDERVOLTAGE: "LowVoltage",
    AlarmKind.PACK_UNDERVOLTAGE: "LowVoltage",
    AlarmKind.DISCHARGE_OVERTEMPERATURE: "HighTemp",
    AlarmKind.MOSFET_OVERTEMPERATURE: "HighTemp",
    AlarmKind.BOARD_OVERTEMPERATURE: "HighTemp",
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: "LowTemp",
    AlarmKind.CHARGE_OVERTEMPERATURE: "HighTempCharge",
    AlarmKind.CHARGE_UNDERTEMPERATURE: "LowTempCharge",
    AlarmKind.DISCHARGE_OVERCURRENT: "HighCurrent",
    AlarmKind.CHARGE_OVERCURRENT: "HighChargeCurrent",
    AlarmKind.SHORT_CIRCUIT: "ShortCircuit",
    AlarmKind.INTERNAL_COMMUNICATION: "BmsInternal",
    AlarmKind.SENSOR_FAULT: "BmsInternal",
    AlarmKind.CELL_IMBALANCE: "CellImbalance",
}

#: 0x35A item -> the AlarmKind it decodes to (items shared by several kinds decode to the first of them)
ITEM_ALARMS: Mapping[str, AlarmKind] = {
    "General": AlarmKind.SYSTEM_ERROR,
    "HighVoltage": AlarmKind.CELL_OVERVOLTAGE,
    "LowVoltage": AlarmKind.CELL_UNDERVOLTAGE,
    "HighTemp": AlarmKind.DISCHARGE_OVERTEMPERATURE,
    "LowTemp": AlarmKind.DISCHARGE_UNDERTEMPERATURE,
    "HighTempCharge": AlarmKind.CHARGE_OVERTEMPERATURE,
    "LowTempCharge": AlarmKind.CHARGE_UNDERTEMPERATURE,
    "HighCurrent": AlarmKind.DISCHARGE_OVERCURRENT,
    "HighChargeCurrent": AlarmKind.CHARGE_OVERCURRENT,
    "ShortCircuit": AlarmKind.SHORT_CIRCUIT,
    "BmsInternal": AlarmKind.INTERNAL_COMMUNICATION,
    "CellImbalance": AlarmKind.CELL_IMBALANCE,
}

ARRIVES, LEAVES = 1, 2
_ITEM_STATE = {0: "ignored", ARRIVES: "arrives", LEAVES: "leaves", 3: "ignored"}
_BATTERY_TYPE_LI = int.from_bytes(b"LI", "little")
_DB_NAME = "sma_sunny_island"


def _db() -> cantools.database.can.Database:
    return dbc(_DB_NAME)


def _invalid_raw(sig: cantools.database.can.Signal) -> int:
    """The document's "invalid" marker of a 16-bit field (0x8000 signed, 0xFFFF unsigned)."""
    return 0x8000 if sig.is_signed else 0xFFFF


def _encode(frame_id: int, values: Mapping[str, float | None]) -> CanFrame:
    """Encode with clamping; ``None`` or NaN in a 16-bit field becomes the invalid marker."""
    message = _db().get_message_by_frame_id(frame_id)
    missing = {k for k, v in values.items() if v is None or (isinstance(v, float) and math.isnan(v))}
    frame = encode_message(_db(), frame_id, {k: v for k, v in values.items() if k not in missing})
    data = bytearray(frame.data)
    for sig in message.signals:
        if sig.name in missing and sig.length == 16:
            data[sig.start // 8 : sig.start // 8 + 2] = _invalid_raw(sig).to_bytes(2, "little")
    return CanFrame(frame_id, bytes(data))


def _normalised(frame: CanFrame) -> CanFrame:
    """A 4-byte 0x355 (SOC and SOH without the optional high-resolution SOC) with the invalid marker appended."""
    if frame.arbitration_id == ID_SOC and not frame.is_extended_id and 4 <= len(frame.data) < 6:
        return CanFrame(ID_SOC, frame.data[:4] + b"\xff\xff")
    return frame


def _values(frame: CanFrame) -> dict[str, Any] | None:
    """Physical values of a frame this DBC defines (``None`` otherwise); invalid 16-bit markers become ``None``."""
    frame = _normalised(frame)
    values = decode_signals(_db(), frame)
    if values is None:
        return None
    message = _db().get_message_by_frame_id(frame.arbitration_id)
    out: dict[str, Any] = {k: round(float(v), 6) for k, v in values.items()}
    for sig in message.signals:
        if sig.length != 16:
            continue
        raw = int.from_bytes(frame.data[sig.start // 8 : sig.start // 8 + 2], "little")
        if raw == _invalid_raw(sig):
            out[sig.name] = None
    return out


def _text(data: bytes) -> str:
    """Printable ASCII of ``data`` without trailing spaces and NULs; other bytes read as ``?``."""
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in data.rstrip(b" \x00"))


def _ascii8(text: str) -> bytes:
    """``text`` as 8 ASCII bytes, space padded, truncated; non-ASCII characters become ``?``."""
    return text.encode("ascii", errors="replace")[:8].ljust(8, b" ")


def _item_signals(prefix: str, kinds: frozenset[AlarmKind]) -> dict[str, float | None]:
    active = {ALARM_ITEMS[k] for k in kinds if k in ALARM_ITEMS}
    return {f"{prefix}{item}": float(ARRIVES if item in active else LEAVES) for item in ITEMS}


def _item_kinds(prefix: str, values: Mapping[str, Any]) -> frozenset[AlarmKind]:
    return frozenset(kind for item, kind in ITEM_ALARMS.items() if values.get(f"{prefix}{item}") == ARRIVES)


def _view_limits(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(
        cvl_v=v["ChargeVoltage"],
        ccl_a=v["ChargeCurrentLimit"],
        dcl_a=v["DischargeCurrentLimit"],
        dvl_v=v["DischargeVoltage"],
    )


def _view_soc(v: Mapping[str, Any]) -> BatteryView:
    soc = v["SocHighRes"] if v["SocHighRes"] is not None else v["Soc"]
    return BatteryView(soc_pct=soc, soh_pct=v["Soh"])


def _view_measurements(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(voltage_v=v["Voltage"], current_a=v["Current"], temperature_c=v["Temperature"])


def _view_alarms(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(protections=_item_kinds("Alarm", v), alarms=_item_kinds("Warning", v))


def _view_info(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(installed_capacity_ah=v["Capacity"])


#: battery frame -> the view fields it carries (0x35E is text, decoded from the bytes)
_DECODERS: Mapping[int, Callable[[Mapping[str, Any]], BatteryView]] = {
    ID_LIMITS: _view_limits,
    ID_SOC: _view_soc,
    ID_MEASUREMENTS: _view_measurements,
    ID_ALARMS: _view_alarms,
    ID_INFO: _view_info,
}


class Codec(CanCodec):
    """SMA Sunny Island external BMS: cyclic battery frames, the Sunny Island's 0x305-0x307 as inverter peer."""

    carries = frozenset(
        {
            "cvl_v",
            "dvl_v",
            "ccl_a",
            "dcl_a",
            "soc_pct",
            "soh_pct",
            "voltage_v",
            "current_a",
            "temperature_c",
            "alarms",
            "protections",
            "manufacturer",
            "installed_capacity_ah",
        }
    )

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        self.info = info

    def battery_cycle(self, status: BankStatus) -> tuple[CanFrame, ...]:
        lim = status.limits
        major, minor = status.firmware_version
        return (
            _encode(
                ID_LIMITS,
                {
                    "ChargeVoltage": lim.cvl_v,
                    "ChargeCurrentLimit": lim.ccl_a if status.charge_enable else 0.0,
                    "DischargeCurrentLimit": lim.dcl_a if status.discharge_enable else 0.0,
                    "DischargeVoltage": lim.dvl_v,
                },
            ),
            _encode(ID_SOC, {"Soc": status.soc_pct, "Soh": status.soh_pct, "SocHighRes": status.soc_pct}),
            _encode(
                ID_MEASUREMENTS,
                {"Voltage": status.voltage_v, "Current": status.current_a, "Temperature": status.temperature_c},
            ),
            _encode(
                ID_ALARMS, {**_item_signals("Alarm", status.protections), **_item_signals("Warning", status.alarms)}
            ),
            _encode(ID_EVENTS, {}),
            CanFrame(ID_NAME, _ascii8(status.manufacturer)),
            _encode(
                ID_INFO,
                {
                    "BatteryType": _BATTERY_TYPE_LI,
                    "BmsVersionMajor": major,
                    "BmsVersionMinor": minor,
                    "Capacity": status.installed_capacity_ah,
                    "ManufacturerId": 0,
                },
            ),
        )

    def is_inverter_alive(self, frame: CanFrame) -> bool:
        return not frame.is_extended_id and frame.arbitration_id in (ID_INV_BATTERY, ID_INV_STATE, ID_INV_RELAYS)

    def inverter_cycle(self, view: BatteryView) -> tuple[CanFrame, ...]:
        """0x305 from the decoded view (current negated: SMA counts charging negative), 0x306, 0x307.

        Unknown values go out as the document's invalid markers; 0x306's charging procedure and operating state
        codes are not in the reference and go out as 0xFF, the active error as 0 (none), the relay state as 0.
        """
        return (
            _encode(
                ID_INV_BATTERY,
                {
                    "BatteryVoltage": view.voltage_v,
                    "BatteryCurrent": None if view.current_a is None else -view.current_a,
                    "BatteryTemperature": view.temperature_c,
                    "BatterySoc": view.soc_pct,
                },
            ),
            _encode(
                ID_INV_STATE,
                {
                    "BatterySoh": view.soh_pct,
                    "ChargingProcedure": 0xFF,
                    "OperatingState": 0xFF,
                    "ActiveError": 0,
                    "ChargeVoltageSetpoint": view.cvl_v,
                },
            ),
            _encode(ID_INV_RELAYS, {}),
        )

    def decode(self, frame: CanFrame) -> BatteryView:
        values = _values(frame)
        if values is None:
            return BatteryView()
        if frame.arbitration_id == ID_NAME:
            return BatteryView(manufacturer=_text(frame.data[:8]))
        decoder = _DECODERS.get(frame.arbitration_id)
        return BatteryView() if decoder is None else decoder(values)

    def describe(self, frame: CanFrame) -> tuple[str, Description] | None:
        values = _values(frame)
        if values is None:
            return None
        described = describe_frame(_db(), _normalised(frame))
        if described is None:  # pragma: no cover - _values already found the message
            raise FrameError(f"0x{frame.arbitration_id:X} has no description")
        name, fields = described
        out: dict[str, float | int | str | bool] = {}
        for key, value in fields.items():
            if values.get(key, value) is None:
                out[key] = "invalid"
            elif frame.arbitration_id == ID_ALARMS:
                out[key] = _ITEM_STATE[int(value)]
            else:
                out[key] = value
        if frame.arbitration_id == ID_NAME:
            out = {"Name": _text(frame.data[:8])}
        elif frame.arbitration_id == ID_INFO:
            out["BatteryType"] = _text(frame.data[:2])
        return name, out
