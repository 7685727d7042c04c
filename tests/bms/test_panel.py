"""State and active protection rows select the Table 6-4 row the LEDs show."""

from __future__ import annotations

import pytest

from ml314.bms.leds import LedMode
from ml314.bms.panel import led_mode
from ml314.bms.parameters import ProtectionRow, load_default_parameters
from ml314.bms.states import BmsState

P = load_default_parameters()
S = BmsState


def rows(*keys: str) -> tuple[ProtectionRow, ...]:
    return tuple(P.row(k) for k in keys)


@pytest.mark.parametrize(
    ("state", "active", "complete", "expected"),
    [
        (S.SHUTDOWN, (), False, LedMode.SHUTDOWN_SLEEP),
        (S.SLEEP, rows("cell_undervoltage.protection"), False, LedMode.SHUTDOWN_SLEEP),
        (S.STANDBY, (), False, LedMode.STANDBY),
        (S.CHARGE, (), False, LedMode.CHARGE_NORMAL),
        (S.CHARGE, rows("cell_overvoltage.warning"), False, LedMode.CHARGE_ALARM),
        (S.CHARGE, (), True, LedMode.CHARGE_END_OFF_VOLTAGE),
        (S.PROTECTION, rows("cell_overvoltage.protection"), False, LedMode.CHARGE_END_OFF_VOLTAGE),
        (S.PROTECTION, rows("charge_overtemperature.protection"), False, LedMode.CHARGE_OVER_TEMPERATURE),
        (S.PROTECTION, rows("charge_overcurrent.alarm"), False, LedMode.CHARGE_OVER_CURRENT),
        (S.CHARGE, rows("charge_overcurrent.warning"), False, LedMode.CHARGE_LIMIT_CURRENT),
        (S.DISCHARGE, (), False, LedMode.DISCHARGE_NORMAL),
        (S.DISCHARGE, rows("cell_undervoltage.warning"), False, LedMode.DISCHARGE_ALARM),
        (S.PROTECTION, rows("cell_undervoltage.protection"), False, LedMode.DISCHARGE_END_OFF_VOLTAGE),
        (S.PROTECTION, rows("discharge_overtemperature.protection"), False, LedMode.DISCHARGE_PROTECTION),
        (S.PROTECTION, rows("discharge_overcurrent.alarm"), False, LedMode.DISCHARGE_PROTECTION),
        (S.FAULT, rows("deep_discharge.protection"), False, LedMode.SYSTEM_FAILURE),
        (S.PROTECTION, rows("short_circuit.protection"), False, LedMode.FAULT_SHORT_CIRCUIT),
        (S.CHARGE, rows("cell_imbalance.alarm"), False, LedMode.FAULT_CELL_IMBALANCE),
        (S.STANDBY, rows("temperature_sensor.alarm"), False, LedMode.FAULT_TEMPERATURE_SENSOR),
        (S.FAULT, rows("current_sensor.protection"), False, LedMode.FAULT_BMS_DAMAGED),
    ],
)
def test_led_mode(state: BmsState, active: tuple[ProtectionRow, ...], complete: bool, expected: LedMode) -> None:
    assert led_mode(state, active, charge_complete=complete) == expected
