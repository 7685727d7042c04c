"""Which row of manual Table 6-4 the LEDs show: the BMS state and the active protection rows, in priority order.

The first rule that matches wins. A rule names the states it applies to and the protection rows (``name`` or
``name.level``) that must be active; ``None`` for either means "any". Fault codes of Table 12-2 (#5-#8) come first
because they own the LEDs while they last.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from ml314.bms.leds import LedMode
from ml314.bms.parameters import Level, ProtectionRow
from ml314.bms.states import BmsState

_RUN = (BmsState.STANDBY, BmsState.CHARGE, BmsState.DISCHARGE, BmsState.PROTECTION, BmsState.FAULT)


@dataclass(frozen=True, slots=True)
class LedRule:
    """States and active rows that select a LED mode."""

    mode: LedMode
    states: tuple[BmsState, ...]
    rows: tuple[str, ...] | None = None
    min_level: Level = Level.WARNING


LED_RULES: tuple[LedRule, ...] = (
    LedRule(LedMode.SHUTDOWN_SLEEP, (BmsState.SHUTDOWN, BmsState.SLEEP)),
    # 12.2 #5-#8: fault codes
    LedRule(LedMode.FAULT_SHORT_CIRCUIT, _RUN, ("short_circuit",), Level.PROTECTION),
    LedRule(LedMode.FAULT_BMS_DAMAGED, _RUN, ("voltage_sensor", "current_sensor"), Level.PROTECTION),
    LedRule(LedMode.FAULT_TEMPERATURE_SENSOR, _RUN, ("temperature_sensor",), Level.ALARM),
    LedRule(LedMode.FAULT_CELL_IMBALANCE, _RUN, ("cell_imbalance",), Level.ALARM),
    LedRule(LedMode.SYSTEM_FAILURE, (BmsState.FAULT,)),
    # Table 6-4, charge side
    LedRule(
        LedMode.CHARGE_OVER_TEMPERATURE,
        (BmsState.PROTECTION, BmsState.CHARGE, BmsState.STANDBY),
        ("charge_overtemperature", "charge_undertemperature", "mosfet_overtemperature", "board_overtemperature"),
        Level.PROTECTION,
    ),
    LedRule(
        LedMode.CHARGE_OVER_CURRENT,
        (BmsState.PROTECTION, BmsState.CHARGE, BmsState.STANDBY),
        ("charge_overcurrent",),
        Level.ALARM,
    ),
    LedRule(
        LedMode.CHARGE_END_OFF_VOLTAGE,
        (BmsState.PROTECTION, BmsState.CHARGE, BmsState.STANDBY),
        ("cell_overvoltage", "pack_overvoltage"),
        Level.PROTECTION,
    ),
    # Table 6-4, discharge side
    LedRule(
        LedMode.DISCHARGE_END_OFF_VOLTAGE,
        (BmsState.PROTECTION, BmsState.DISCHARGE, BmsState.STANDBY),
        ("cell_undervoltage", "pack_undervoltage", "deep_discharge"),
        Level.PROTECTION,
    ),
    LedRule(
        LedMode.DISCHARGE_PROTECTION,
        (BmsState.PROTECTION, BmsState.DISCHARGE, BmsState.STANDBY),
        ("discharge_overtemperature", "discharge_undertemperature", "discharge_overcurrent"),
        Level.ALARM,
    ),
    LedRule(LedMode.CHARGE_LIMIT_CURRENT, (BmsState.CHARGE,), ("charge_overcurrent",), Level.WARNING),
    LedRule(LedMode.CHARGE_ALARM, (BmsState.CHARGE,), None, Level.WARNING),
    LedRule(LedMode.DISCHARGE_ALARM, (BmsState.DISCHARGE,), None, Level.WARNING),
    LedRule(LedMode.CHARGE_NORMAL, (BmsState.CHARGE,)),
    LedRule(LedMode.DISCHARGE_NORMAL, (BmsState.DISCHARGE,)),
    LedRule(LedMode.STANDBY, (BmsState.STANDBY, BmsState.PROTECTION)),
)


def _matches(rule: LedRule, state: BmsState, active: tuple[ProtectionRow, ...], charge_complete: bool) -> bool:
    if state not in rule.states:
        return False
    if rule.mode == LedMode.CHARGE_END_OFF_VOLTAGE and charge_complete and state in (BmsState.CHARGE, BmsState.STANDBY):
        return True
    if rule.rows is None:
        if rule.mode in (LedMode.CHARGE_ALARM, LedMode.DISCHARGE_ALARM):
            return any(r.level >= rule.min_level and r.level < Level.PROTECTION for r in active)
        return True
    return any(r.name in rule.rows and r.level >= rule.min_level for r in active)


def led_mode(state: BmsState, active: Iterable[ProtectionRow], *, charge_complete: bool = False) -> LedMode:
    """The Table 6-4 row for a module in ``state`` with the ``active`` protection rows.

    ``charge_complete`` (the limits switched to float, the pack is full) shows "Charge: End-off voltage".
    """
    return _led_mode(state, tuple(active), charge_complete)


@functools.lru_cache(maxsize=4096)
def _led_mode(state: BmsState, rows: tuple[ProtectionRow, ...], charge_complete: bool) -> LedMode:
    for rule in LED_RULES:
        if _matches(rule, state, rows, charge_complete):
            return rule.mode
    return LedMode.STANDBY
