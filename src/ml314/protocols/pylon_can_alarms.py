"""Alarm kinds on Pylon LV CAN: the 0x359 protection and warning bits and the 0x35A SMA-style items, one table each.

Split from :mod:`pylon_can` so the codec module holds the frames, variants and codec, and the mapping the reference
fixes bit by bit (V1.2 Tables 1-4, reference/protocols.md 1.4) is read in one place. Each table maps a kind to its
DBC signal (0x359) or item (0x35A); several kinds share a bit, and the ``*_KINDS`` tables give the decoding
direction: a bit reads as the first (canonical) kind listed for it. Kinds missing from a table are not sent in
that frame.
"""

from __future__ import annotations

from collections.abc import Mapping

from ml314.domain.battery_status import AlarmKind

__all__ = [
    "PROTECTION_KINDS",
    "PROTECTION_SIGNALS",
    "SMA_ACTIVE",
    "SMA_ITEMS",
    "SMA_KINDS",
    "SMA_OK",
    "SMA_UNSUPPORTED",
    "WARNING_KINDS",
    "WARNING_SIGNALS",
]

# 0x359 (V1.2 Tables 1-4): AlarmKind -> DBC signal. Protections -> bytes 0-1, alarms (warnings) -> bytes 2-3.
# BMS-internal faults have no own protection bit and raise "system error" (byte 1 bit 3).
PROTECTION_SIGNALS: dict[AlarmKind, str] = {
    AlarmKind.CELL_OVERVOLTAGE: "protection_cell_overvoltage",
    AlarmKind.PACK_OVERVOLTAGE: "protection_cell_overvoltage",
    AlarmKind.CELL_UNDERVOLTAGE: "protection_cell_undervoltage",
    AlarmKind.PACK_UNDERVOLTAGE: "protection_cell_undervoltage",
    AlarmKind.DISCHARGE_OVERTEMPERATURE: "protection_cell_overtemperature",
    AlarmKind.CHARGE_OVERTEMPERATURE: "protection_cell_overtemperature",
    AlarmKind.MOSFET_OVERTEMPERATURE: "protection_cell_overtemperature",
    AlarmKind.BOARD_OVERTEMPERATURE: "protection_cell_overtemperature",
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: "protection_cell_undertemperature",
    AlarmKind.CHARGE_UNDERTEMPERATURE: "protection_cell_undertemperature",
    AlarmKind.DISCHARGE_OVERCURRENT: "protection_discharge_overcurrent",
    AlarmKind.SHORT_CIRCUIT: "protection_discharge_overcurrent",
    AlarmKind.CHARGE_OVERCURRENT: "protection_charge_overcurrent",
    AlarmKind.SYSTEM_ERROR: "protection_system_error",
    AlarmKind.INTERNAL_COMMUNICATION: "protection_system_error",
    AlarmKind.SENSOR_FAULT: "protection_system_error",
    AlarmKind.CELL_IMBALANCE: "protection_system_error",
}
WARNING_SIGNALS: dict[AlarmKind, str] = {
    AlarmKind.CELL_OVERVOLTAGE: "alarm_cell_high_voltage",
    AlarmKind.PACK_OVERVOLTAGE: "alarm_cell_high_voltage",
    AlarmKind.CELL_UNDERVOLTAGE: "alarm_cell_low_voltage",
    AlarmKind.PACK_UNDERVOLTAGE: "alarm_cell_low_voltage",
    AlarmKind.DISCHARGE_OVERTEMPERATURE: "alarm_cell_high_temperature",
    AlarmKind.CHARGE_OVERTEMPERATURE: "alarm_cell_high_temperature",
    AlarmKind.MOSFET_OVERTEMPERATURE: "alarm_cell_high_temperature",
    AlarmKind.BOARD_OVERTEMPERATURE: "alarm_cell_high_temperature",
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: "alarm_cell_low_temperature",
    AlarmKind.CHARGE_UNDERTEMPERATURE: "alarm_cell_low_temperature",
    AlarmKind.DISCHARGE_OVERCURRENT: "alarm_discharge_high_current",
    AlarmKind.SHORT_CIRCUIT: "alarm_discharge_high_current",
    AlarmKind.CHARGE_OVERCURRENT: "alarm_charge_high_current",
    AlarmKind.INTERNAL_COMMUNICATION: "alarm_internal_communication_fail",
}
# 0x35A (SMA item order, reference 1.4): AlarmKind -> item; "alarm_<item>" from protections, "warning_<item>"
# from alarms. Items without a kind (contactor, reserved, generator) are sent as 00, "not supported".
SMA_ITEMS: dict[AlarmKind, str] = {
    AlarmKind.SYSTEM_ERROR: "general",
    AlarmKind.CELL_OVERVOLTAGE: "high_voltage",
    AlarmKind.PACK_OVERVOLTAGE: "high_voltage",
    AlarmKind.CELL_UNDERVOLTAGE: "low_voltage",
    AlarmKind.PACK_UNDERVOLTAGE: "low_voltage",
    AlarmKind.DISCHARGE_OVERTEMPERATURE: "high_temperature",
    AlarmKind.MOSFET_OVERTEMPERATURE: "high_temperature",
    AlarmKind.BOARD_OVERTEMPERATURE: "high_temperature",
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: "low_temperature",
    AlarmKind.CHARGE_OVERTEMPERATURE: "high_temperature_charge",
    AlarmKind.CHARGE_UNDERTEMPERATURE: "low_temperature_charge",
    AlarmKind.DISCHARGE_OVERCURRENT: "high_current",
    AlarmKind.CHARGE_OVERCURRENT: "high_charge_current",
    AlarmKind.SHORT_CIRCUIT: "short_circuit",
    AlarmKind.INTERNAL_COMMUNICATION: "bms_internal",
    AlarmKind.SENSOR_FAULT: "bms_internal",
    AlarmKind.CELL_IMBALANCE: "cell_imbalance",
}
SMA_ACTIVE, SMA_OK, SMA_UNSUPPORTED = 1, 2, 0


def _canonical(table: Mapping[AlarmKind, str]) -> dict[str, AlarmKind]:
    """signal -> the first kind that maps to it (the decoding direction)."""
    out: dict[str, AlarmKind] = {}
    for kind, sig in table.items():
        out.setdefault(sig, kind)
    return out


PROTECTION_KINDS = _canonical(PROTECTION_SIGNALS)
WARNING_KINDS = _canonical(WARNING_SIGNALS)
SMA_KINDS = _canonical(SMA_ITEMS)
