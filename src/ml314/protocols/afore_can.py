"""Afore battery CAN (P10-AFO): reference/protocols.md 1.6.

No Afore document is public; this follows the layout of Battery-Emulator AFORE-CAN@62532e9 (which names its source
"Afore 2.3 CAN standard, 2023-08-07"). CAN 2.0A, 500 kbit/s, little-endian (``dbc/afore.dbc``). The inverter sends
0x305 every second (bytes 0-4 its brand in ASCII, byte 7 its status); the battery sends nothing on its own and
answers each 0x305 with 0x350-0x35A. These identifiers collide with Pylon's: a bus carries one set or the other.

Contracts:

* 0x350: voltage 0.1 V, current 0.1 A with raw offset +5000 (positive while charging), temperature 0.1 degC with
  raw offset +1000. Values are clamped to the wire fields: the current field spans -500.0..+6053.5 A, so a bank
  discharging harder than 500 A reads -500.0 A.
* 0x351: SOC, SOH, the SOC window 100 / 1 % Battery-Emulator sends, charge/discharge enable (b0/b1), BMS state
  (b5-7: 4 fault while a protection is active, 3 warning while an alarm is, 1 normal otherwise), the 16 cells in
  series.
* 0x352: CCL, DCL, and the charge and discharge voltage limits as the maximum and minimum battery voltage.
* 0x353/0x357: ``protections`` and ``alarms`` with the fault and warning bit names the Battery-Emulator source lists
  (:data:`FAULT_BITS`, :data:`WARNING_BITS`); kinds without a bit are not sent.
* 0x354/0x355: highest and lowest cell voltage and temperature (offset +1000) with their cell numbers.
* 0x356: the cell voltage protection limits of the product specification (3.65 V / 2.50 V); bytes 4-7 zero.
* 0x358-0x35A: the reference states no field; sent as zeros.
* The inverter peer sends brand "AFORE" and status 0 (the reference gives no status codes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cantools.database

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.domain.spec import ML314
from ml314.protocols.base import CanCodec, CanFrame, Description, ProtocolInfo, Transport
from ml314.protocols.fields import dbc, decode_signals, describe_frame, encode_message

__all__ = ["FAULT_BITS", "FAULT_KINDS", "INFO", "WARNING_BITS", "WARNING_KINDS", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P10-AFO",
    brand="Afore",
    name="afore-can",
    document="no Afore document is public; follows the layout of Battery-Emulator AFORE-CAN@62532e9",
    note="request-driven: the battery answers each inverter 0x305 with 0x350-0x35A (identifiers shared with Pylon)",
    period_s=0.0,
    keepalive_timeout_s=60.0,
)

ID_INVERTER = 0x305
ID_OPERATION, ID_INFO, ID_LIMITS, ID_FAULTS = 0x350, 0x351, 0x352, 0x353
ID_CELL_V, ID_CELL_T, ID_CELL_PROTECTION, ID_WARNINGS = 0x354, 0x355, 0x356, 0x357
ID_FURTHER = (0x358, 0x359, 0x35A)

INVERTER_BRAND = "AFORE"
SOC_MAX_PCT, SOC_MIN_PCT = 100, 1
BMS_INIT, BMS_NORMAL, BMS_STANDBY, BMS_WARNING, BMS_FAULT = 0, 1, 2, 3, 4

#: AlarmKind (a protection) -> the 0x353 fault bit reporting it ("Fault" + name)
FAULT_BITS: Mapping[AlarmKind, str] = {
    AlarmKind.CELL_OVERVOLTAGE: "CellOvervoltage",
    AlarmKind.CELL_UNDERVOLTAGE: "CellUndervoltage",
    AlarmKind.PACK_OVERVOLTAGE: "Overvoltage",
    AlarmKind.PACK_UNDERVOLTAGE: "Undervoltage",
    AlarmKind.MOSFET_OVERTEMPERATURE: "OverTemperature",
    AlarmKind.BOARD_OVERTEMPERATURE: "OverTemperature",
    AlarmKind.CHARGE_OVERCURRENT: "ChargeOvercurrent",
    AlarmKind.DISCHARGE_OVERCURRENT: "DischargeOvercurrent",
    AlarmKind.SHORT_CIRCUIT: "DischargeOvercurrent",
    AlarmKind.INTERNAL_COMMUNICATION: "InternalCommunication",
    AlarmKind.SYSTEM_ERROR: "SystemFailure",
    AlarmKind.SENSOR_FAULT: "SystemFailure",
    AlarmKind.CHARGE_OVERTEMPERATURE: "CellOverTemperature",
    AlarmKind.DISCHARGE_OVERTEMPERATURE: "CellOverTemperature",
    AlarmKind.CHARGE_UNDERTEMPERATURE: "CellUnderTemperature",
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: "CellUnderTemperature",
    AlarmKind.CELL_IMBALANCE: "CellImbalance",
}

#: 0x353 fault bit -> the AlarmKind it decodes to (cell temperature bits decode to the charge side, which trips
#: first on LFP); bits without an AlarmKind (isolation, relay, ...) are only described
FAULT_KINDS: Mapping[str, AlarmKind] = {
    "CellOvervoltage": AlarmKind.CELL_OVERVOLTAGE,
    "CellUndervoltage": AlarmKind.CELL_UNDERVOLTAGE,
    "Overvoltage": AlarmKind.PACK_OVERVOLTAGE,
    "Undervoltage": AlarmKind.PACK_UNDERVOLTAGE,
    "OverTemperature": AlarmKind.MOSFET_OVERTEMPERATURE,
    "ChargeOvercurrent": AlarmKind.CHARGE_OVERCURRENT,
    "DischargeOvercurrent": AlarmKind.DISCHARGE_OVERCURRENT,
    "InternalCommunication": AlarmKind.INTERNAL_COMMUNICATION,
    "SystemFailure": AlarmKind.SYSTEM_ERROR,
    "CellOverTemperature": AlarmKind.CHARGE_OVERTEMPERATURE,
    "CellUnderTemperature": AlarmKind.CHARGE_UNDERTEMPERATURE,
    "CellImbalance": AlarmKind.CELL_IMBALANCE,
}

#: AlarmKind (a warning) -> the 0x357 warning bit reporting it ("Warning" + name)
WARNING_BITS: Mapping[AlarmKind, str] = {
    AlarmKind.CELL_OVERVOLTAGE: "CellOvervoltage",
    AlarmKind.CELL_UNDERVOLTAGE: "CellUndervoltage",
    AlarmKind.PACK_OVERVOLTAGE: "Overvoltage",
    AlarmKind.PACK_UNDERVOLTAGE: "Undervoltage",
    AlarmKind.CHARGE_OVERTEMPERATURE: "CellOverTemperature",
    AlarmKind.DISCHARGE_OVERTEMPERATURE: "CellOverTemperature",
    AlarmKind.CHARGE_UNDERTEMPERATURE: "CellUnderTemperature",
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: "CellUnderTemperature",
    AlarmKind.MOSFET_OVERTEMPERATURE: "OverTemperature",
    AlarmKind.BOARD_OVERTEMPERATURE: "OverTemperature",
    AlarmKind.CHARGE_OVERCURRENT: "ChargeOvercurrent",
}

#: 0x357 warning bit -> the AlarmKind it decodes to
WARNING_KINDS: Mapping[str, AlarmKind] = {
    "CellOvervoltage": AlarmKind.CELL_OVERVOLTAGE,
    "CellUndervoltage": AlarmKind.CELL_UNDERVOLTAGE,
    "Overvoltage": AlarmKind.PACK_OVERVOLTAGE,
    "Undervoltage": AlarmKind.PACK_UNDERVOLTAGE,
    "CellOverTemperature": AlarmKind.CHARGE_OVERTEMPERATURE,
    "CellUnderTemperature": AlarmKind.CHARGE_UNDERTEMPERATURE,
    "OverTemperature": AlarmKind.MOSFET_OVERTEMPERATURE,
    "ChargeOvercurrent": AlarmKind.CHARGE_OVERCURRENT,
}

_DB_NAME = "afore"


def _db() -> cantools.database.can.Database:
    return dbc(_DB_NAME)


def _text(data: bytes) -> str:
    """Printable ASCII of ``data`` without trailing spaces and NULs; other bytes read as ``?``."""
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in data.rstrip(b" \x00"))


def _bits(prefix: str, table: Mapping[AlarmKind, str], kinds: frozenset[AlarmKind]) -> dict[str, float]:
    return {f"{prefix}{table[k]}": 1 for k in kinds if k in table}


def _kinds(prefix: str, table: Mapping[str, AlarmKind], values: Mapping[str, Any]) -> frozenset[AlarmKind]:
    return frozenset(kind for name, kind in table.items() if values.get(f"{prefix}{name}") == 1)


def _bms_state(status: BankStatus) -> int:
    if status.protections:
        return BMS_FAULT
    return BMS_WARNING if status.alarms else BMS_NORMAL


def _answer(status: BankStatus) -> tuple[CanFrame, ...]:
    db = _db()
    lim = status.limits
    return (
        encode_message(
            db,
            ID_OPERATION,
            {"Voltage": status.voltage_v, "Current": status.current_a, "Temperature": status.temperature_c},
        ),
        encode_message(
            db,
            ID_INFO,
            {
                "Soc": status.soc_pct,
                "Soh": status.soh_pct,
                "SocMax": SOC_MAX_PCT,
                "SocMin": SOC_MIN_PCT,
                "ChargeEnable": status.charge_enable,
                "DischargeEnable": status.discharge_enable,
                "BmsState": _bms_state(status),
                "CellCount": ML314.cells_in_series,
            },
        ),
        encode_message(
            db,
            ID_LIMITS,
            {
                "ChargeCurrentLimit": lim.ccl_a,
                "DischargeCurrentLimit": lim.dcl_a,
                "MaxVoltage": lim.cvl_v,
                "MinVoltage": lim.dvl_v,
            },
        ),
        encode_message(db, ID_FAULTS, _bits("Fault", FAULT_BITS, status.protections)),
        encode_message(
            db,
            ID_CELL_V,
            {
                "CellVoltageMax": status.cell_voltage_max_v,
                "CellVoltageMin": status.cell_voltage_min_v,
                "CellVoltageMaxId": status.cell_voltage_max_id,
                "CellVoltageMinId": status.cell_voltage_min_id,
            },
        ),
        encode_message(
            db,
            ID_CELL_T,
            {
                "CellTemperatureMax": status.cell_temperature_max_c,
                "CellTemperatureMin": status.cell_temperature_min_c,
                "CellTemperatureMaxId": status.cell_temperature_max_id,
                "CellTemperatureMinId": status.cell_temperature_min_id,
            },
        ),
        encode_message(
            db,
            ID_CELL_PROTECTION,
            {"CellVoltageMaxLimit": ML314.cell_voltage_max_v, "CellVoltageMinLimit": ML314.cell_voltage_min_v},
        ),
        encode_message(db, ID_WARNINGS, _bits("Warning", WARNING_BITS, status.alarms)),
        *(encode_message(db, frame_id, {}) for frame_id in ID_FURTHER),
    )


def _view_operation(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(voltage_v=v["Voltage"], current_a=v["Current"], temperature_c=v["Temperature"])


def _view_info(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(
        soc_pct=v["Soc"],
        soh_pct=v["Soh"],
        charge_enable=v["ChargeEnable"] == 1,
        discharge_enable=v["DischargeEnable"] == 1,
    )


def _view_limits(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(
        ccl_a=v["ChargeCurrentLimit"],
        dcl_a=v["DischargeCurrentLimit"],
        cvl_v=v["MaxVoltage"],
        dvl_v=v["MinVoltage"],
    )


def _view_faults(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(protections=_kinds("Fault", FAULT_KINDS, v))


def _view_cell_v(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(cell_voltage_max_v=v["CellVoltageMax"], cell_voltage_min_v=v["CellVoltageMin"])


def _view_cell_t(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(cell_temperature_max_c=v["CellTemperatureMax"], cell_temperature_min_c=v["CellTemperatureMin"])


def _view_warnings(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(alarms=_kinds("Warning", WARNING_KINDS, v))


#: battery frame -> the view fields it carries (0x356 and 0x358-0x35A carry none)
_DECODERS: Mapping[int, Callable[[Mapping[str, Any]], BatteryView]] = {
    ID_OPERATION: _view_operation,
    ID_INFO: _view_info,
    ID_LIMITS: _view_limits,
    ID_FAULTS: _view_faults,
    ID_CELL_V: _view_cell_v,
    ID_CELL_T: _view_cell_t,
    ID_WARNINGS: _view_warnings,
}


class Codec(CanCodec):
    """Afore CAN: the battery answers the inverter's 0x305; the inverter peer sends 0x305 every second."""

    carries = frozenset(
        {
            "voltage_v",
            "current_a",
            "temperature_c",
            "soc_pct",
            "soh_pct",
            "charge_enable",
            "discharge_enable",
            "ccl_a",
            "dcl_a",
            "cvl_v",
            "dvl_v",
            "protections",
            "alarms",
            "cell_voltage_max_v",
            "cell_voltage_min_v",
            "cell_temperature_max_c",
            "cell_temperature_min_c",
        }
    )

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        self.info = info

    def battery_cycle(self, status: BankStatus) -> tuple[CanFrame, ...]:
        """Nothing: the battery speaks only when the inverter's 0x305 arrives."""
        del status
        return ()

    def battery_answer(self, frame: CanFrame, status: BankStatus) -> tuple[CanFrame, ...]:
        """0x350-0x35A for every 0x305 (whatever its data), nothing for any other frame."""
        return _answer(status) if self.is_inverter_alive(frame) else ()

    def is_inverter_alive(self, frame: CanFrame) -> bool:
        return frame.arbitration_id == ID_INVERTER and not frame.is_extended_id

    def inverter_cycle(self, view: BatteryView) -> tuple[CanFrame, ...]:
        del view
        return (CanFrame(ID_INVERTER, INVERTER_BRAND.encode("ascii").ljust(7, b"\x00") + b"\x00"),)

    def decode(self, frame: CanFrame) -> BatteryView:
        values = decode_signals(_db(), frame)
        if values is None:
            return BatteryView()
        decoder = _DECODERS.get(frame.arbitration_id)
        if decoder is None:
            return BatteryView()
        return decoder({k: round(float(v), 6) for k, v in values.items()})

    def describe(self, frame: CanFrame) -> tuple[str, Description] | None:
        described = describe_frame(_db(), frame)
        if described is None:
            return None
        name, fields = described
        out: dict[str, float | int | str | bool] = dict(fields)
        if frame.arbitration_id == ID_INVERTER:
            out["Brand"] = _text(frame.data[:5])
        elif frame.arbitration_id in ID_FURTHER:
            out["Data"] = frame.data[:8].hex(" ").upper()
        return name, out
