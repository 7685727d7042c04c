"""Growatt LV CAN (P01-GRW): reference/protocols.md 1.5, Growatt BMS CAN-Bus protocol low voltage V1.04.

CAN 2.0A, 500 kbit/s, **big-endian** (Motorola signals in ``dbc/growatt_lv.dbc``), **request-driven**: the battery
sends nothing on its own (``battery_cycle`` is empty, ``INFO.period_s`` 0) and answers every inverter 0x301 with
0x311-0x319 and the identity frame 0x320 (0x321, firmware-update status, is only described). The inverter sends
0x301 every second with the documented data ``11 22 33 44 55 66 77 88``.

Contracts:

* Values are clamped to their wire fields. 0x314 carries capacities in 10 mAh (u16), so at most 655.35 Ah: a bank
  of three or more 314 Ah modules reads 655.35 Ah there.
* 0x311 status: state from the current sign (|I| < 0.5 A standby, else charging/discharging), bit 2 set while any
  protection or alarm is active (the error bytes of 0x312 then matter), master box mode single for one module and
  parallel otherwise, bits 10-11 repeat the state as Battery-Emulator GROWATT-LV-CAN does; sleep and terminal-open
  are not modelled (0). 0x311 b5/b6 and 0x319 b6/b7 carry the same discharge/charge enables.
* 0x312: protections in bytes 0-1 and alarms in bytes 2-3 use the same bit table (:data:`ALARM_BITS`); the
  manufacturer code (bytes 5-6) is 0, its values are not in the reference; the cell count is the 16 cells in series.
* 0x313: the temperature is the highest cell temperature; the SOH unsafe-use flag (b7) is never set.
* 0x315-0x318 carry the master module's 16 cells (the protocol names them optional in parallel systems); they are
  described but not decoded into :class:`BatteryView`, which has no per-frame cell field.
* 0x319: faulty pack id is the address of the first module with an active protection (0 for none).
* 0x320: "ML", hardware version 1, software version = firmware major; the packed date/time is 0 (a pure codec has
  no calendar, and the reference does not give the packing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cantools.database

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.domain.spec import ML314
from ml314.protocols.base import CanCodec, CanFrame, Description, ProtocolInfo, Transport
from ml314.protocols.fields import dbc, decode_signals, describe_frame, encode_message

__all__ = ["ALARM_BITS", "BIT_ALARMS", "INFO", "INVERTER_REQUEST_DATA", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P01-GRW",
    brand="Growatt",
    name="growatt-can",
    document="Growatt BMS CAN-Bus protocol low voltage V1.04",
    note="request-driven: the battery answers each inverter 0x301 with 0x311-0x320 and sends nothing on its own",
    period_s=0.0,
    keepalive_timeout_s=60.0,
)

ID_REQUEST = 0x301
ID_LIMITS, ID_ALARMS, ID_MEASUREMENTS, ID_CAPACITY = 0x311, 0x312, 0x313, 0x314
ID_CELLS = (0x315, 0x316, 0x317, 0x318)
ID_EXTREMES, ID_IDENTITY, ID_UPDATE = 0x319, 0x320, 0x321

#: the data of the inverter's 0x301 as the document shows it
INVERTER_REQUEST_DATA = bytes.fromhex("1122334455667788")

#: AlarmKind -> the 0x312 bit reporting it ("Prot" + name in bytes 0-1, "Alarm" + name in bytes 2-3)
ALARM_BITS: Mapping[AlarmKind, str] = {
    AlarmKind.DISCHARGE_OVERCURRENT: "DischargeOvercurrent",
    AlarmKind.CHARGE_OVERCURRENT: "ChargeOvercurrent",
    AlarmKind.SHORT_CIRCUIT: "ShortCircuit",
    AlarmKind.CELL_OVERVOLTAGE: "CellOvervoltage",
    AlarmKind.CELL_UNDERVOLTAGE: "CellUndervoltage",
    AlarmKind.PACK_OVERVOLTAGE: "ModuleOvervoltage",
    AlarmKind.PACK_UNDERVOLTAGE: "ModuleUndervoltage",
    AlarmKind.DISCHARGE_OVERTEMPERATURE: "DischargeOvertemperature",
    AlarmKind.MOSFET_OVERTEMPERATURE: "DischargeOvertemperature",
    AlarmKind.BOARD_OVERTEMPERATURE: "DischargeOvertemperature",
    AlarmKind.CHARGE_OVERTEMPERATURE: "ChargeOvertemperature",
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: "DischargeUndertemperature",
    AlarmKind.CHARGE_UNDERTEMPERATURE: "ChargeUndertemperature",
    AlarmKind.SYSTEM_ERROR: "SystemError",
    AlarmKind.SENSOR_FAULT: "SystemError",
    AlarmKind.INTERNAL_COMMUNICATION: "SystemError",
    AlarmKind.CELL_IMBALANCE: "DeltaVoltageFail",
}

#: 0x312 bit -> the AlarmKind it decodes to (soft-start failure has no AlarmKind and is only described)
BIT_ALARMS: Mapping[str, AlarmKind] = {
    "DischargeOvercurrent": AlarmKind.DISCHARGE_OVERCURRENT,
    "ChargeOvercurrent": AlarmKind.CHARGE_OVERCURRENT,
    "ShortCircuit": AlarmKind.SHORT_CIRCUIT,
    "CellOvervoltage": AlarmKind.CELL_OVERVOLTAGE,
    "CellUndervoltage": AlarmKind.CELL_UNDERVOLTAGE,
    "ModuleOvervoltage": AlarmKind.PACK_OVERVOLTAGE,
    "ModuleUndervoltage": AlarmKind.PACK_UNDERVOLTAGE,
    "DischargeOvertemperature": AlarmKind.DISCHARGE_OVERTEMPERATURE,
    "ChargeOvertemperature": AlarmKind.CHARGE_OVERTEMPERATURE,
    "DischargeUndertemperature": AlarmKind.DISCHARGE_UNDERTEMPERATURE,
    "ChargeUndertemperature": AlarmKind.CHARGE_UNDERTEMPERATURE,
    "SystemError": AlarmKind.SYSTEM_ERROR,
    "DeltaVoltageFail": AlarmKind.CELL_IMBALANCE,
}

STATE_STANDBY, STATE_CHARGING, STATE_DISCHARGING = 1, 2, 3
IDLE_CURRENT_A = 0.5
_HARDWARE_VERSION = 1
_MANUFACTURER = "ML"
_DB_NAME = "growatt_lv"


def _db() -> cantools.database.can.Database:
    return dbc(_DB_NAME)


def _text(data: bytes) -> str:
    """Printable ASCII of ``data`` without trailing spaces and NULs; other bytes read as ``?``."""
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in data.rstrip(b" \x00"))


def _bits(prefix: str, kinds: frozenset[AlarmKind]) -> dict[str, float]:
    return {f"{prefix}{ALARM_BITS[k]}": 1 for k in kinds if k in ALARM_BITS}


def _kinds(prefix: str, values: Mapping[str, Any]) -> frozenset[AlarmKind]:
    return frozenset(kind for name, kind in BIT_ALARMS.items() if values.get(f"{prefix}{name}") == 1)


def _state(current_a: float) -> int:
    if current_a >= IDLE_CURRENT_A:
        return STATE_CHARGING
    if current_a <= -IDLE_CURRENT_A:
        return STATE_DISCHARGING
    return STATE_STANDBY


def _limits_status(status: BankStatus) -> CanFrame:
    state = _state(status.current_a)
    return encode_message(
        _db(),
        ID_LIMITS,
        {
            "ChargeVoltage": status.limits.cvl_v,
            "ChargeCurrentLimit": status.limits.ccl_a,
            "DischargeCurrentLimit": status.limits.dcl_a,
            "State": state,
            "ErrorValid": bool(status.protections or status.alarms),
            "Balancing": any(m.balancing for m in status.modules),
            "DischargeOutEnabled": status.discharge_enable,
            "ChargeOutEnabled": status.charge_enable,
            "MasterBoxMode": 0 if status.module_count <= 1 else 1,
            "InverterStatus": state,
        },
    )


def _alarms(status: BankStatus) -> CanFrame:
    return encode_message(
        _db(),
        ID_ALARMS,
        {
            **_bits("Prot", status.protections),
            **_bits("Alarm", status.alarms),
            "PackCount": status.module_count,
            "CellCount": ML314.cells_in_series,
        },
    )


def _measurements(status: BankStatus) -> CanFrame:
    return encode_message(
        _db(),
        ID_MEASUREMENTS,
        {
            "Voltage": status.voltage_v,
            "Current": status.current_a,
            "CellTemperatureMax": status.cell_temperature_max_c,
            "Soc": status.soc_pct,
            "Soh": status.soh_pct,
        },
    )


def _capacity(status: BankStatus) -> CanFrame:
    return encode_message(
        _db(),
        ID_CAPACITY,
        {
            "RemainingCapacity": status.remaining_capacity_ah,
            "FullCapacity": status.full_capacity_ah,
            "CellDeltaVoltage": status.cell_voltage_max_v - status.cell_voltage_min_v,
            "Cycles": status.cycles,
        },
    )


def _cells(status: BankStatus) -> tuple[CanFrame, ...]:
    cells = status.modules[0].cell_voltages_v if status.modules else ()
    padded = (tuple(cells) + (0.0,) * 16)[:16]
    return tuple(
        encode_message(_db(), frame_id, {f"Cell{4 * k + j + 1}": padded[4 * k + j] for j in range(4)})
        for k, frame_id in enumerate(ID_CELLS)
    )


def _extremes(status: BankStatus) -> CanFrame:
    faulty = next((m.address for m in status.modules if m.protections), 0)
    return encode_message(
        _db(),
        ID_EXTREMES,
        {
            "ChargeEnable": status.charge_enable,
            "DischargeEnable": status.discharge_enable,
            "ForceCharge1": status.force_charge_1,
            "ForceCharge2": status.force_charge_2,
            "Chemistry": 0,
            "CellVoltageMax": status.cell_voltage_max_v,
            "CellVoltageMin": status.cell_voltage_min_v,
            "CellVoltageMaxId": status.cell_voltage_max_id,
            "CellVoltageMinId": status.cell_voltage_min_id,
            "FaultyPackId": faulty,
        },
    )


def _identity(status: BankStatus) -> CanFrame:
    return encode_message(
        _db(),
        ID_IDENTITY,
        {
            "Manufacturer": int.from_bytes(_MANUFACTURER.encode("ascii"), "big"),
            "HardwareVersion": _HARDWARE_VERSION,
            "SoftwareVersion": status.firmware_version[0],
            "DateTime": 0,
        },
    )


def _view_limits(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(
        cvl_v=v["ChargeVoltage"],
        ccl_a=v["ChargeCurrentLimit"],
        dcl_a=v["DischargeCurrentLimit"],
        charge_enable=v["ChargeOutEnabled"] == 1,
        discharge_enable=v["DischargeOutEnabled"] == 1,
    )


def _view_alarms(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(protections=_kinds("Prot", v), alarms=_kinds("Alarm", v), module_count=int(v["PackCount"]))


def _view_measurements(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(
        voltage_v=v["Voltage"],
        current_a=v["Current"],
        cell_temperature_max_c=v["CellTemperatureMax"],
        soc_pct=v["Soc"],
        soh_pct=v["Soh"],
    )


def _view_capacity(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(
        remaining_capacity_ah=v["RemainingCapacity"], full_capacity_ah=v["FullCapacity"], cycles=int(v["Cycles"])
    )


def _view_extremes(v: Mapping[str, Any]) -> BatteryView:
    return BatteryView(
        charge_enable=v["ChargeEnable"] == 1,
        discharge_enable=v["DischargeEnable"] == 1,
        force_charge_1=v["ForceCharge1"] == 1,
        force_charge_2=v["ForceCharge2"] == 1,
        cell_voltage_max_v=v["CellVoltageMax"],
        cell_voltage_min_v=v["CellVoltageMin"],
    )


#: battery frame -> the view fields it carries (cells and identity text are handled apart)
_DECODERS: Mapping[int, Callable[[Mapping[str, Any]], BatteryView]] = {
    ID_LIMITS: _view_limits,
    ID_ALARMS: _view_alarms,
    ID_MEASUREMENTS: _view_measurements,
    ID_CAPACITY: _view_capacity,
    ID_EXTREMES: _view_extremes,
}

#: message -> signal shown as text (ASCII) or hex in ``describe``
_TEXT_SIGNALS: Mapping[int, tuple[str, int, int]] = {ID_IDENTITY: ("Manufacturer", 0, 2)}
_HEX_SIGNALS: Mapping[int, str] = {ID_REQUEST: "RequestData", ID_UPDATE: "UpdateStatus"}


class Codec(CanCodec):
    """Growatt LV CAN: answers to the inverter's 0x301; the inverter peer sends 0x301 every second."""

    carries = frozenset(
        {
            "cvl_v",
            "ccl_a",
            "dcl_a",
            "charge_enable",
            "discharge_enable",
            "force_charge_1",
            "force_charge_2",
            "protections",
            "alarms",
            "module_count",
            "voltage_v",
            "current_a",
            "cell_temperature_max_c",
            "soc_pct",
            "soh_pct",
            "remaining_capacity_ah",
            "full_capacity_ah",
            "cycles",
            "cell_voltage_max_v",
            "cell_voltage_min_v",
        }
    )

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        self.info = info

    def battery_cycle(self, status: BankStatus) -> tuple[CanFrame, ...]:
        """Nothing: the Growatt battery only answers requests."""
        del status
        return ()

    def battery_answer(self, frame: CanFrame, status: BankStatus) -> tuple[CanFrame, ...]:
        """0x311-0x319 and 0x320 for every 0x301 (whatever its data), nothing for any other frame."""
        if not self.is_inverter_alive(frame):
            return ()
        return (
            _limits_status(status),
            _alarms(status),
            _measurements(status),
            _capacity(status),
            *_cells(status),
            _extremes(status),
            _identity(status),
        )

    def is_inverter_alive(self, frame: CanFrame) -> bool:
        return frame.arbitration_id == ID_REQUEST and not frame.is_extended_id

    def inverter_cycle(self, view: BatteryView) -> tuple[CanFrame, ...]:
        del view
        return (CanFrame(ID_REQUEST, INVERTER_REQUEST_DATA),)

    def decode(self, frame: CanFrame) -> BatteryView:
        values = decode_signals(_db(), frame)
        if values is None:
            return BatteryView()
        if frame.arbitration_id == ID_IDENTITY:
            return BatteryView(manufacturer=_text(frame.data[:2]))
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
        if frame.arbitration_id in _TEXT_SIGNALS:
            key, start, end = _TEXT_SIGNALS[frame.arbitration_id]
            out[key] = _text(frame.data[start:end])
        if frame.arbitration_id in _HEX_SIGNALS:
            out[_HEX_SIGNALS[frame.arbitration_id]] = frame.data[:8].hex(" ").upper()
        return name, out
