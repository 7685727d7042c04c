"""The LED table against manual Table 6-4 and 12.2 #5-#8, sampled over time; the numba twin agrees."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.bms.leds import (
    BURST_PAUSE_S,
    FAULT_BY_CODE,
    FAULT_CODE_BY_PROTECTION,
    FLASH_ON_S,
    LED_ROWS,
    FaultCode,
    LedMode,
    compile_led_table,
    fault_led_mode,
    led_bits,
    led_bits_all,
    led_mode,
    led_outputs,
    soc_percent,
)
from ml314.bms.parameters import ProtectionRow, load_default_parameters
from ml314.bms.states import BmsState
from ml314.domain.leds import LedOutputs

STEP_S = 0.05
SAMPLES = 200  # 10 s

# What the manual says (Table 6-4, its notes and 12.2 #5), written out independently of LED_ROWS:
# "on", "off", or the flash period in seconds (Flash 1 = 1 s, Flash 2 = 1.5 s, Flash 3 = 2 s).
MANUAL = {
    LedMode.SHUTDOWN_SLEEP: ("off", "off"),
    LedMode.POWER_ON: ("on", "off"),
    LedMode.STANDBY: ("on", "off"),
    LedMode.CHARGE_NORMAL: (1.0, "off"),
    LedMode.CHARGE_ALARM: (1.0, 1.0),
    LedMode.CHARGE_END_OFF_VOLTAGE: ("on", "off"),
    LedMode.CHARGE_OVER_TEMPERATURE: ("off", "on"),
    LedMode.CHARGE_OVER_CURRENT: (1.0, 2.0),
    LedMode.CHARGE_LIMIT_CURRENT: (1.0, "off"),
    LedMode.DISCHARGE_NORMAL: (1.5, "off"),
    LedMode.DISCHARGE_ALARM: (1.5, 2.0),
    LedMode.DISCHARGE_END_OFF_VOLTAGE: ("off", "off"),
    LedMode.DISCHARGE_PROTECTION: ("off", "on"),
    LedMode.SYSTEM_FAILURE: ("off", "on"),
    LedMode.FAULT_SHORT_CIRCUIT: ("off", "on"),
}
FAULT_SOC = {
    FaultCode.CELL_IMBALANCE: (True, False, False, False),
    FaultCode.TEMPERATURE_SENSOR: (False, True, False, False),
    FaultCode.BMS_DAMAGED: (False, False, True, True),
}


def trace(mode: LedMode, soc: float, start_s: float = 0.0, n: int = SAMPLES, fault_s: float | None = None):
    times = start_s + np.arange(n) * STEP_S
    return times, [led_outputs(mode, soc, float(t), fault_s) for t in times]


def rising_edges(times: np.ndarray, lit: list[bool]) -> list[float]:
    return [float(times[i]) for i in range(1, len(lit)) if lit[i] and not lit[i - 1]] + (
        [float(times[0])] if lit[0] else []
    )


def check_channel(times: np.ndarray, lit: list[bool], expected: str | float) -> None:
    if expected == "on":
        assert all(lit)
    elif expected == "off":
        assert not any(lit)
    else:
        assert isinstance(expected, float)
        edges = sorted(rising_edges(times, lit))
        periods = np.diff(edges)
        assert len(edges) == math.ceil(10.0 / expected)
        assert periods == pytest.approx(np.full(len(periods), expected), abs=1e-9)
        # each flash is lit FLASH_ON_S: 5 samples of 50 ms
        assert sum(lit) == len(edges) * round(FLASH_ON_S / STEP_S)


@pytest.mark.parametrize("mode", list(MANUAL), ids=lambda m: m.name)
def test_run_and_alm_follow_table_6_4(mode: LedMode) -> None:
    times, out = trace(mode, 0.6)
    run_expected, alm_expected = MANUAL[mode]
    check_channel(times, [o.run for o in out], run_expected)
    check_channel(times, [o.alm for o in out], alm_expected)


def test_every_row_is_covered() -> None:
    assert {r.mode for r in LED_ROWS} == set(LedMode)
    assert set(MANUAL) | {f.led_mode for f in FAULT_BY_CODE.values()} == set(LedMode)


@pytest.mark.parametrize(
    ("soc", "lit"),
    [
        (0.0, 0),
        (0.004, 0),  # 0.4 % rounds to 0 %
        (0.005, 1),
        (0.10, 1),
        (0.25, 1),
        (0.254, 1),  # 25.4 % -> 25 %, not above 25 %
        (0.255, 2),
        (0.50, 2),
        (0.51, 3),
        (0.75, 3),
        (0.76, 4),
        (1.0, 4),
        (1.2, 4),
        (-0.1, 0),
        (float("nan"), 0),
    ],
)
@pytest.mark.parametrize("mode", [LedMode.STANDBY, LedMode.DISCHARGE_NORMAL, LedMode.DISCHARGE_PROTECTION])
def test_soc_bands(mode: LedMode, soc: float, lit: int) -> None:
    _, out = trace(mode, soc)
    for o in out:
        assert o.soc == tuple(k < lit for k in range(4))


@pytest.mark.parametrize(
    "mode", [LedMode.SHUTDOWN_SLEEP, LedMode.DISCHARGE_END_OFF_VOLTAGE, LedMode.POWER_ON, LedMode.SYSTEM_FAILURE]
)
def test_soc_leds_dark_where_decided(mode: LedMode) -> None:
    _, out = trace(mode, 0.9)
    assert all(o.soc == (False, False, False, False) for o in out)


@pytest.mark.parametrize(("soc", "filling"), [(0.0, 0), (0.10, 0), (0.25, 0), (0.6, 2), (0.76, 3), (1.0, 3)])
@pytest.mark.parametrize("mode", [LedMode.CHARGE_NORMAL, LedMode.CHARGE_ALARM, LedMode.CHARGE_LIMIT_CURRENT])
def test_charging_flashes_the_band_being_filled(mode: LedMode, soc: float, filling: int) -> None:
    times, out = trace(mode, soc)
    for k in range(4):
        lit = [o.soc[k] for o in out]
        if k < filling:
            assert all(lit)
        elif k > filling:
            assert not any(lit)
        else:
            check_channel(times, lit, 1.0)
            assert lit == [o.run for o in out]  # in step with RUN (Flash 1)


@pytest.mark.parametrize(
    "mode", [LedMode.CHARGE_END_OFF_VOLTAGE, LedMode.CHARGE_OVER_TEMPERATURE, LedMode.CHARGE_OVER_CURRENT]
)
def test_stopped_charge_shows_solid_bars(mode: LedMode) -> None:
    _, out = trace(mode, 0.6)
    assert all(o.soc == (True, True, True, False) for o in out)


@pytest.mark.parametrize("code", list(FAULT_SOC), ids=lambda c: c.name)
def test_fault_code_flashes_alm_20_times_with_its_soc_led(code: FaultCode) -> None:
    start = 3.3
    cycle_s = 20.0 + BURST_PAUSE_S
    n = round(2 * cycle_s / STEP_S)
    times, out = trace(fault_led_mode(code), 0.6, start_s=start, n=n, fault_s=start)
    edges = np.array(sorted(rising_edges(times, [o.alm for o in out]))) - start
    first = edges[edges < cycle_s - 1e-6]
    assert len(first) == 20
    assert first == pytest.approx(np.arange(20.0), abs=1e-9)  # Flash 1 from the fault start
    second = edges[edges >= cycle_s - 1e-6]
    assert second == pytest.approx(cycle_s + np.arange(20.0), abs=1e-9)  # repeated after the pause
    pause = [o.alm for t, o in zip(times, out, strict=True) if 20.0 <= t - start < cycle_s - 1e-6]
    assert pause and not any(pause)
    assert all(o.soc == FAULT_SOC[code] and not o.run for o in out)


def test_short_circuit_code_is_alm_always_on() -> None:
    _, out = trace(fault_led_mode(FaultCode.SHORT_CIRCUIT), 0.6)
    assert all(o == LedOutputs(run=False, alm=True) for o in out)


def test_fault_codes_name_real_protection_rows() -> None:
    names = {r.name for r in load_default_parameters().protection}
    assert set(FAULT_CODE_BY_PROTECTION) <= names
    assert FAULT_CODE_BY_PROTECTION["cell_imbalance"] == FaultCode.CELL_IMBALANCE == 6
    assert FAULT_CODE_BY_PROTECTION["temperature_sensor"] == FaultCode.TEMPERATURE_SENSOR == 7
    assert FAULT_CODE_BY_PROTECTION["voltage_sensor"] == FAULT_CODE_BY_PROTECTION["current_sensor"] == 8


def test_compile_rejects_a_table_missing_a_mode() -> None:
    with pytest.raises(ValueError, match="one row per LedMode"):
        compile_led_table(LED_ROWS[:-1])


@pytest.mark.parametrize("soc", [float("nan"), -0.2, 0.0, 0.004, 0.005, 0.249, 0.25, 0.255, 0.5, 0.74, 0.99, 1.0, 1.3])
@pytest.mark.parametrize("fault_s", [None, 0.0, 2.7, 40.0])
def test_numba_twin_agrees_on_a_grid(soc: float, fault_s: float | None) -> None:
    times = np.concatenate([np.arange(-40, 1200) * 0.0625, np.array([1e6 + 0.1, 3.15e7 + 0.2])])
    nb_fault = math.nan if fault_s is None else fault_s
    for mode in LedMode:
        for t in times:
            expected = led_outputs(mode, soc, float(t), fault_s).to_bits()
            assert led_bits(int(mode), soc, float(t), nb_fault) == expected, (mode, soc, t, fault_s)


@given(
    mode=st.sampled_from(list(LedMode)),
    soc=st.floats(-0.5, 1.5) | st.just(float("nan")),
    t=st.floats(-100.0, 1e7),
    fault_s=st.none() | st.floats(0.0, 1e7),
)
def test_numba_twin_agrees_everywhere(mode: LedMode, soc: float, t: float, fault_s: float | None) -> None:
    nb_fault = math.nan if fault_s is None else fault_s
    assert led_bits(int(mode), soc, t, nb_fault) == led_outputs(mode, soc, t, fault_s).to_bits()


@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_bars_grow_with_soc_and_stay_contiguous(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    s_lo = led_outputs(LedMode.STANDBY, lo, 0.0, None).soc
    s_hi = led_outputs(LedMode.STANDBY, hi, 0.0, None).soc
    assert sum(s_lo) <= sum(s_hi)
    for s in (s_lo, s_hi):
        assert list(s) == sorted(s, reverse=True)  # lit from SOC1 up, no gaps
    assert sum(s_hi) == min(max(math.ceil(soc_percent(hi) / 25), 0), 4)


def test_vector_form_matches_per_module() -> None:
    modes = np.array([float(m) for m in LedMode])
    soc = np.linspace(0.0, 1.0, len(modes))
    fault = np.full(len(modes), 1.5)
    out = np.zeros(len(modes), dtype=np.int64)
    led_bits_all(modes, soc, 7.1, fault, out)
    for i, m in enumerate(LedMode):
        assert out[i] == led_outputs(m, float(soc[i]), 7.1, 1.5).to_bits()


def test_unknown_mode_id_is_dark() -> None:
    assert led_bits(99, 0.5, 0.0, math.nan) == 0
    assert led_bits(-1, 0.5, 0.0, math.nan) == 0


# ---- LED_RULES: state and active protection rows select the Table 6-4 row
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
