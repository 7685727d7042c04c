"""The front-panel LEDs: manual Table 6-4 and the fault codes of Table 12-2, as one table.

Each row of :data:`LED_ROWS` is one (BMS state, condition) of Table 6-4 plus the notes under it and the LED codes of
12.2 #5-#8; its id is a :class:`LedMode`. :data:`LED_RULES` pick the mode from the BMS state and the active
protection rows (:func:`led_mode`, first match wins, fault codes first because they own the LEDs while they last);
this module turns (mode, SOC, time) into what the six LEDs show. The same table is compiled into :data:`LED_TABLE`
for :func:`led_bits`, the numba twin of :func:`led_outputs` that the compiled closed loop calls; a test checks the
two agree.

Decisions where the manual is silent (each is one constant or one table cell):

* **Flashes.** Flash 1/2/3 = one flash every 1 s / 1.5 s / 2 s (6.4 notes), each flash lit for
  ``FLASH_ON_S`` = 0.25 s. Flashes are phased on the clock (``t_s`` modulo the period), so RUN and ALM of every
  module flash in step. ``EDGE_EPS_S`` (1 ns) is added before the modulo so a sample a rounding error short of an
  edge (``k * 0.05`` s) counts as on it.
* **SOC LEDs** ("each LED indicates 25 % SOC"): SOC (a fraction) is first rounded to a whole percent, half up,
  as the LCD shows it; then SOC1 is lit above 0 %, SOC2 above 25 %, SOC3 above 50 %, SOC4 above 75 %. So 25.4 %
  lights one LED and 25.5 % two; 0.4 % lights none. SOC outside 0..1 is clamped; NaN (unknown) lights none.
* **Where the SOC LEDs show.** Table 6-4 shows "Based on SOC indicator" for standby and discharge (merged cells);
  we show the bars in every row of a running BMS except shutdown/sleep, discharge end-off voltage ("go to sleep"),
  power-on (SOC not yet estimated), system failure and the fault codes, which own the SOC LEDs. While current
  flows into the pack (charge normal, alarm and current limiting) the LED of the band being filled flashes with
  Flash 1, in step with RUN, and the LEDs below it are solid (common practice, e.g. Pylontech; bms.md #66); at
  0 % the filling LED is SOC1. When charging has stopped (end-off voltage, over-temperature, over-current) the
  bars are solid.
* **Fault codes** (12.2 #6-#8, "ALM LED flash 20 times and SOCn LED on"): ALM flashes 20 times at Flash 1 from
  ``fault_started_s`` (20 s), stays dark for ``BURST_PAUSE_S`` = 5 s, and repeats while the fault persists, so a
  technician who arrives later still sees the code. The code's SOC LED(s) stay lit throughout; "SOC3/4" lights
  both SOC3 and SOC4. RUN is off. ``fault_started_s`` None (NaN in :func:`led_bits`) counts from t = 0.
* **Short circuit** (12.2 #5, "ALM LED always lights") and **system failure** (6.4 notes): ALM on, all else off.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

import numpy as np
from numba import njit

from ml314.bms.parameters import Level, ProtectionRow
from ml314.bms.states import BmsState
from ml314.domain.leds import BIT_ALM, BIT_RUN, BIT_SOC, LedOutputs, SocLeds

__all__ = [
    "BURST_CYCLE_S",
    "BURST_FLASHES",
    "BURST_PAUSE_S",
    "EDGE_EPS_S",
    "FAULT_BY_CODE",
    "FAULT_CODE_BY_PROTECTION",
    "FAULT_ROWS",
    "FLASH_ON_S",
    "FLASH_PERIOD_S",
    "LED_ROWS",
    "LED_ROW_BY_MODE",
    "LED_RULES",
    "LED_TABLE",
    "FaultCode",
    "FaultRow",
    "LedMode",
    "LedRow",
    "LedRule",
    "Pattern",
    "SocShow",
    "compile_led_table",
    "fault_led_mode",
    "led_bits",
    "led_bits_all",
    "led_mode",
    "led_outputs",
    "soc_percent",
]


class LedMode(IntEnum):
    """The row ids of :data:`LED_ROWS` (state x condition of Table 6-4, its notes, and 12.2 #5-#8)."""

    SHUTDOWN_SLEEP = 0
    POWER_ON = 1
    STANDBY = 2
    CHARGE_NORMAL = 3
    CHARGE_ALARM = 4
    CHARGE_END_OFF_VOLTAGE = 5
    CHARGE_OVER_TEMPERATURE = 6
    CHARGE_OVER_CURRENT = 7
    CHARGE_LIMIT_CURRENT = 8
    DISCHARGE_NORMAL = 9
    DISCHARGE_ALARM = 10
    DISCHARGE_END_OFF_VOLTAGE = 11
    DISCHARGE_PROTECTION = 12
    SYSTEM_FAILURE = 13
    FAULT_SHORT_CIRCUIT = 14
    FAULT_CELL_IMBALANCE = 15
    FAULT_TEMPERATURE_SENSOR = 16
    FAULT_BMS_DAMAGED = 17


class Pattern(IntEnum):
    """How RUN or ALM is driven."""

    OFF = 0
    ON = 1
    FLASH_1 = 2  # once every 1 s
    FLASH_2 = 3  # once every 1.5 s
    FLASH_3 = 4  # once every 2 s
    BURST_20 = 5  # 20 flashes at Flash 1 from the fault start, a pause, repeat


class SocShow(IntEnum):
    """What the four SOC LEDs show."""

    OFF = 0
    BARS = 1  # one LED per started 25 % band
    BARS_CHARGING = 2  # bars, the LED of the band being filled flashing (Flash 1)
    FIXED = 3  # the row's fixed pattern (fault codes)


FLASH_ON_S = 0.25
"""How long each flash is lit."""
FLASH_PERIOD_S = MappingProxyType({Pattern.FLASH_1: 1.0, Pattern.FLASH_2: 1.5, Pattern.FLASH_3: 2.0})
"""Manual 6.4 notes."""
BURST_FLASHES = 20
BURST_PAUSE_S = 5.0
BURST_CYCLE_S = BURST_FLASHES * FLASH_PERIOD_S[Pattern.FLASH_1] + BURST_PAUSE_S
EDGE_EPS_S = 1e-9

_NO_SOC: SocLeds = (False, False, False, False)


@dataclass(frozen=True, slots=True)
class LedRow:
    """One row of the LED table: in ``mode``, RUN and ALM follow their patterns and the SOC LEDs ``soc``."""

    mode: LedMode
    status: str
    condition: str
    run: Pattern
    alm: Pattern
    soc: SocShow
    source: str
    soc_fixed: SocLeds = _NO_SOC


_P = Pattern
_S = SocShow
LED_ROWS: tuple[LedRow, ...] = (
    LedRow(LedMode.SHUTDOWN_SLEEP, "Shutdown / Sleep", "", _P.OFF, _P.OFF, _S.OFF, "Table 6-4"),
    LedRow(LedMode.POWER_ON, "Power on", "", _P.ON, _P.OFF, _S.OFF, "6.4 notes"),
    LedRow(LedMode.STANDBY, "Stand by", "Normal", _P.ON, _P.OFF, _S.BARS, "Table 6-4"),
    LedRow(LedMode.CHARGE_NORMAL, "Charge", "Normal", _P.FLASH_1, _P.OFF, _S.BARS_CHARGING, "Table 6-4"),
    LedRow(LedMode.CHARGE_ALARM, "Charge", "Alarm", _P.FLASH_1, _P.FLASH_1, _S.BARS_CHARGING, "Table 6-4"),
    LedRow(LedMode.CHARGE_END_OFF_VOLTAGE, "Charge", "End-off voltage", _P.ON, _P.OFF, _S.BARS, "Table 6-4"),
    LedRow(LedMode.CHARGE_OVER_TEMPERATURE, "Charge", "Over-temp protection", _P.OFF, _P.ON, _S.BARS, "Table 6-4"),
    LedRow(LedMode.CHARGE_OVER_CURRENT, "Charge", "Over-current", _P.FLASH_1, _P.FLASH_3, _S.BARS, "Table 6-4"),
    LedRow(LedMode.CHARGE_LIMIT_CURRENT, "Charge", "Limit-current", _P.FLASH_1, _P.OFF, _S.BARS_CHARGING, "Table 6-4"),
    LedRow(LedMode.DISCHARGE_NORMAL, "Discharge", "Normal", _P.FLASH_2, _P.OFF, _S.BARS, "Table 6-4"),
    LedRow(LedMode.DISCHARGE_ALARM, "Discharge", "Alarm", _P.FLASH_2, _P.FLASH_3, _S.BARS, "Table 6-4"),
    LedRow(LedMode.DISCHARGE_END_OFF_VOLTAGE, "Discharge", "End-off voltage", _P.OFF, _P.OFF, _S.OFF, "Table 6-4"),
    LedRow(
        LedMode.DISCHARGE_PROTECTION,
        "Discharge",
        "Over-temp / over-current protection",
        _P.OFF,
        _P.ON,
        _S.BARS,
        "Table 6-4",
    ),
    LedRow(LedMode.SYSTEM_FAILURE, "System failure", "", _P.OFF, _P.ON, _S.OFF, "6.4 notes"),
    LedRow(LedMode.FAULT_SHORT_CIRCUIT, "Fault", "Short circuit", _P.OFF, _P.ON, _S.OFF, "Table 12-2 #5"),
    LedRow(
        LedMode.FAULT_CELL_IMBALANCE,
        "Fault",
        "Unbalanced cell voltage",
        _P.OFF,
        _P.BURST_20,
        _S.FIXED,
        "Table 12-2 #6",
        (True, False, False, False),
    ),
    LedRow(
        LedMode.FAULT_TEMPERATURE_SENSOR,
        "Fault",
        "Unbalanced temperature",
        _P.OFF,
        _P.BURST_20,
        _S.FIXED,
        "Table 12-2 #7",
        (False, True, False, False),
    ),
    LedRow(
        LedMode.FAULT_BMS_DAMAGED,
        "Fault",
        "BMS damaged",
        _P.OFF,
        _P.BURST_20,
        _S.FIXED,
        "Table 12-2 #8",
        (False, False, True, True),
    ),
)
LED_ROW_BY_MODE = MappingProxyType({r.mode: r for r in LED_ROWS})


class FaultCode(IntEnum):
    """The LED fault codes; the value is the row number of manual Table 12-2."""

    SHORT_CIRCUIT = 5
    CELL_IMBALANCE = 6
    TEMPERATURE_SENSOR = 7
    BMS_DAMAGED = 8


@dataclass(frozen=True, slots=True)
class FaultRow:
    """One LED fault code: its LED row, the manual's wording, and the protection rows (by name) that raise it."""

    code: FaultCode
    led_mode: LedMode
    phenomenon: str
    analysis: str
    solution: str
    protections: tuple[str, ...]


FAULT_ROWS: tuple[FaultRow, ...] = (
    FaultRow(
        FaultCode.SHORT_CIRCUIT,
        LedMode.FAULT_SHORT_CIRCUIT,
        "ALM LED always lights",
        "Power line connection short circuit",
        "Disconnect the power cable and check all cables",
        ("short_circuit",),
    ),
    FaultRow(
        FaultCode.CELL_IMBALANCE,
        LedMode.FAULT_CELL_IMBALANCE,
        "ALM LED flash 20 times and SOC1 LED on",
        "Unbalance voltage with cell",
        "Examine/balance the cell",
        ("cell_imbalance",),
    ),
    FaultRow(
        FaultCode.TEMPERATURE_SENSOR,
        LedMode.FAULT_TEMPERATURE_SENSOR,
        "ALM LED flash 20 times and SOC2 LED on",
        "Unbalance temperature",
        "Replace temperature sensor cable",
        ("temperature_sensor",),
    ),
    FaultRow(
        FaultCode.BMS_DAMAGED,
        LedMode.FAULT_BMS_DAMAGED,
        "ALM LED flash 20 times and SOC3/4 LED on",
        "BMS damaged (voltage or current sensor implausible)",
        "Replace BMS",
        ("voltage_sensor", "current_sensor"),
    ),
)
FAULT_BY_CODE = MappingProxyType({f.code: f for f in FAULT_ROWS})
FAULT_CODE_BY_PROTECTION = MappingProxyType({name: f.code for f in FAULT_ROWS for name in f.protections})
"""Protection row name (any level) -> the fault code its trip shows."""


def fault_led_mode(code: FaultCode) -> LedMode:
    """The LED row that shows ``code``."""
    return FAULT_BY_CODE[code].led_mode


# compiled table columns (float64, one row per LedMode id)
L_RUN = 0
L_ALM = 1
L_SOC = 2
L_SOC_MASK = 3  # SOC1 = bit 0 .. SOC4 = bit 3, for SocShow.FIXED
L_COLS = 4

# pattern timing, indexed by Pattern value: period (0 = not a periodic flash)
_PERIOD_S = np.zeros(len(Pattern))
for _p, _period in FLASH_PERIOD_S.items():
    _PERIOD_S[_p] = _period
P_OFF = int(Pattern.OFF)
P_ON = int(Pattern.ON)
P_FLASH_1 = int(Pattern.FLASH_1)
P_BURST_20 = int(Pattern.BURST_20)
S_OFF = int(SocShow.OFF)
S_BARS = int(SocShow.BARS)
S_BARS_CHARGING = int(SocShow.BARS_CHARGING)
S_FIXED = int(SocShow.FIXED)
_FLASH_1_PERIOD_S = FLASH_PERIOD_S[Pattern.FLASH_1]
_BURST_LIT_S = BURST_FLASHES * _FLASH_1_PERIOD_S


def compile_led_table(rows: tuple[LedRow, ...]) -> np.ndarray:
    """The rows as :func:`led_bits`' float array, indexed by mode id; every :class:`LedMode` needs one row."""
    if sorted(r.mode for r in rows) != list(LedMode):
        raise ValueError("the LED table needs exactly one row per LedMode")
    table = np.zeros((len(rows), L_COLS))
    for r in rows:
        table[r.mode, L_RUN] = r.run
        table[r.mode, L_ALM] = r.alm
        table[r.mode, L_SOC] = r.soc
        table[r.mode, L_SOC_MASK] = sum(1 << k for k, lit in enumerate(r.soc_fixed) if lit)
    return table


LED_TABLE = compile_led_table(LED_ROWS)
"""Frozen into :func:`led_bits` at compile time (numba treats global arrays as constants)."""


# ---------------------------------------------------------------------------------------------------------------
# Python reference: reads LED_ROWS


def soc_percent(soc: float) -> int:
    """SOC (fraction) as the whole percent the LEDs show: rounded half up, clamped to 0..100; -1 when NaN."""
    if math.isnan(soc):
        return -1
    return int(min(max(math.floor(soc * 100.0 + 0.5), 0.0), 100.0))


def _pattern_on(pattern: Pattern, t_s: float, start_s: float) -> bool:
    if pattern == Pattern.OFF:
        return False
    if pattern == Pattern.ON:
        return True
    if pattern == Pattern.BURST_20:
        phase = (max(t_s - start_s, 0.0) + EDGE_EPS_S) % BURST_CYCLE_S
        return phase < _BURST_LIT_S and phase % _FLASH_1_PERIOD_S < FLASH_ON_S
    return (t_s + EDGE_EPS_S) % FLASH_PERIOD_S[pattern] < FLASH_ON_S


def _soc_leds(row: LedRow, soc: float, t_s: float) -> SocLeds:
    if row.soc == SocShow.OFF:
        return _NO_SOC
    if row.soc == SocShow.FIXED:
        return row.soc_fixed
    pct = soc_percent(soc)
    if pct < 0:
        return _NO_SOC
    lit = [pct > 25 * k for k in range(4)]
    if row.soc == SocShow.BARS_CHARGING:
        filling = min(max((pct + 24) // 25, 1), 4) - 1
        lit[filling] = _pattern_on(Pattern.FLASH_1, t_s, 0.0)
    return lit[0], lit[1], lit[2], lit[3]


def led_outputs(mode: LedMode, soc: float, t_s: float, fault_started_s: float | None) -> LedOutputs:
    """What the LEDs show in ``mode`` at time ``t_s`` with SOC ``soc`` (fraction); ``fault_started_s`` is when a
    fault code started showing (used by the 20-flash codes only; None = 0)."""
    row = LED_ROW_BY_MODE[mode]
    start_s = 0.0 if fault_started_s is None else fault_started_s
    return LedOutputs(
        run=_pattern_on(row.run, t_s, start_s),
        alm=_pattern_on(row.alm, t_s, start_s),
        soc=_soc_leds(row, soc, t_s),
    )


# ---------------------------------------------------------------------------------------------------------------
# compiled twin: reads LED_TABLE


@njit(cache=True, error_model="numpy")
def _pattern_on_nb(pattern: int, t_s: float, start_s: float) -> bool:
    if pattern == P_OFF:
        return False
    if pattern == P_ON:
        return True
    if pattern == P_BURST_20:
        phase = (max(t_s - start_s, 0.0) + EDGE_EPS_S) % BURST_CYCLE_S
        return bool(phase < _BURST_LIT_S and phase % _FLASH_1_PERIOD_S < FLASH_ON_S)
    return bool((t_s + EDGE_EPS_S) % _PERIOD_S[pattern] < FLASH_ON_S)


@njit(cache=True, error_model="numpy")
def led_bits(mode_id: int, soc: float, t_s: float, fault_started_s: float) -> int:
    """:func:`led_outputs` as an integer (bit 0 RUN, bit 1 ALM, bits 2..5 SOC1..SOC4) for the compiled loop.

    ``mode_id`` is a :class:`LedMode` value; ``fault_started_s`` NaN stands for None. An unknown ``mode_id``
    shows all LEDs off."""
    if mode_id < 0 or mode_id >= LED_TABLE.shape[0]:
        return 0
    row = LED_TABLE[mode_id]
    start_s = 0.0 if math.isnan(fault_started_s) else fault_started_s
    bits = 0
    if _pattern_on_nb(int(row[L_RUN]), t_s, start_s):
        bits |= BIT_RUN
    if _pattern_on_nb(int(row[L_ALM]), t_s, start_s):
        bits |= BIT_ALM
    show = int(row[L_SOC])
    if show == S_FIXED:
        mask = int(row[L_SOC_MASK])
        for k in range(4):
            if mask & (1 << k):
                bits |= BIT_SOC[k]
    elif show != S_OFF and not math.isnan(soc):
        pct = int(min(max(math.floor(soc * 100.0 + 0.5), 0.0), 100.0))
        filling = -1
        if show == S_BARS_CHARGING:
            filling = min(max((pct + 24) // 25, 1), 4) - 1
        for k in range(4):
            lit = pct > 25 * k
            if k == filling:
                lit = _pattern_on_nb(P_FLASH_1, t_s, 0.0)
            if lit:
                bits |= BIT_SOC[k]
    return bits


@njit(cache=True, error_model="numpy")
def led_bits_all(
    mode_ids: np.ndarray, soc: np.ndarray, t_s: float, fault_started_s: np.ndarray, out: np.ndarray
) -> None:
    """:func:`led_bits` for every module: ``mode_ids``, ``soc``, ``fault_started_s`` (NaN = None) and ``out``
    (int64) have one entry per module."""
    for m in range(mode_ids.shape[0]):
        out[m] = led_bits(int(mode_ids[m]), soc[m], t_s, fault_started_s[m])


# ---- which row: the BMS state and the active protection rows, in priority order -----------------------------------
# The first rule that matches wins. A rule names the states it applies to and the protection rows (``name`` or
# ``name.level``) that must be active; ``None`` for either means "any".

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
