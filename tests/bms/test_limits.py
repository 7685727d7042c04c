"""CVL, CCL, DCL and the request flags: every derating table, open paths, cut/hold/ramp, float switch, the CVL
controller, the full-charge and force-charge requests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml314.bms import limits
from ml314.bms.limits import (
    IN_CELL_MAX_V,
    IN_CELL_MIN_V,
    IN_CHARGE_ALLOWED,
    IN_COLS,
    IN_DISCHARGE_ALLOWED,
    IN_MOSFET_C,
    IN_PACK_V,
    IN_SOC,
    IN_TEMPERATURE_MAX_C,
    IN_TEMPERATURE_MIN_C,
    OUT_CCL_A,
    OUT_CCL_SOURCE,
    OUT_CHARGE_ENABLE,
    OUT_CVL_LIMITED,
    OUT_CVL_V,
    OUT_DCL_A,
    OUT_DCL_SOURCE,
    OUT_DISCHARGE_ENABLE,
    OUT_DVL_V,
    OUT_FLOAT_SWITCH,
    OUT_FORCE_CHARGE,
    OUT_FULL_CHARGE_REQUEST,
    OUT_MODE,
    OUT_SINCE_FULL_S,
    ChargeLimiter,
)
from ml314.bms.limits_control import MODE_ABSORPTION, MODE_BULK, MODE_FLOAT, MODE_FLOAT_TRANSITION
from ml314.bms.limits_derating import (
    DERATE_FACTOR,
    SRC_CELL_VOLTAGE,
    SRC_MAX,
    SRC_MOSFET,
    SRC_PROTECTION,
    SRC_TEMPERATURE,
    compile_limit_params,
    dcl_zero_voltage_v,
)
from ml314.bms.parameters import load_default_parameters

P = load_default_parameters().limits
MAX_C = P.max_charge_current_a
MAX_D = P.max_discharge_current_a
DAY_S = 86400.0
NOMINAL = {
    IN_CELL_MAX_V: 3.30,
    IN_CELL_MIN_V: 3.29,
    IN_PACK_V: 52.75,
    IN_TEMPERATURE_MAX_C: 25.0,
    IN_TEMPERATURE_MIN_C: 24.0,
    IN_MOSFET_C: 30.0,
    IN_SOC: 0.5,
    IN_CHARGE_ALLOWED: 1.0,
    IN_DISCHARGE_ALLOWED: 1.0,
}


def interp(x: float, table: tuple[tuple[float, ...], tuple[float, ...]]) -> float:
    return float(np.interp(x, table[0], table[1]))


class Module:
    """One module fed one sample per ``dt_s``."""

    def __init__(self, compiled: np.ndarray | None = None) -> None:
        self.lim = ChargeLimiter(P, 1, compiled=compiled)
        self.x = np.zeros((1, IN_COLS))
        for col, v in NOMINAL.items():
            self.x[0, col] = v
        self.t = 0.0

    def set(self, **values: float) -> None:
        for name, v in values.items():
            self.x[0, getattr(limits, f"IN_{name.upper()}")] = v

    def step(self, dt_s: float = 1.0, **values: float) -> np.ndarray:
        self.set(**values)
        self.t += dt_s
        return self.lim.step(self.x, self.t, dt_s)[0].copy()

    def run(self, seconds: int, **values: float) -> np.ndarray:
        """Step once a second; return the outputs of every step."""
        return np.array([self.step(**values) for _ in range(seconds)])


def first(**values: float) -> np.ndarray:
    """The outputs of a fresh module's first step: the targets, with no hold."""
    return Module().step(**values)


# --- parameters ---------------------------------------------------------------------------------------------------


def test_compiled_pack_values_and_dcl_zero_voltage() -> None:
    out = first()
    assert out[OUT_CVL_V] == pytest.approx(16 * 3.45)
    assert out[OUT_DVL_V] == pytest.approx(16 * 2.90)
    assert out[OUT_CCL_A] == MAX_C and out[OUT_DCL_A] == MAX_D
    assert out[OUT_CCL_SOURCE] == SRC_MAX and out[OUT_DCL_SOURCE] == SRC_MAX
    assert out[OUT_MODE] == MODE_BULK
    assert dcl_zero_voltage_v(P) == 2.80


# --- derating tables ----------------------------------------------------------------------------------------------


def _points_and_between(x: tuple[float, ...]) -> list[float]:
    mids = [0.5 * (a + b) for a, b in itertools.pairwise(x)]
    return [x[0] - 0.05, *x, *mids, x[-1] + 0.05]


@pytest.mark.parametrize("v", _points_and_between(P.ccl_cell_voltage[0]))
def test_ccl_follows_the_highest_cell(v: float) -> None:
    out = first(cell_max_v=v, cell_min_v=min(v, 3.29))
    expected = MAX_C * interp(v, P.ccl_cell_voltage)
    assert out[OUT_CCL_A] == pytest.approx(expected, abs=1e-9)
    assert out[OUT_CCL_SOURCE] == (SRC_CELL_VOLTAGE if expected < MAX_C else SRC_MAX)
    assert out[OUT_DCL_A] == MAX_D  # the highest cell does not touch DCL


@pytest.mark.parametrize("v", _points_and_between(P.dcl_cell_voltage[0]))
def test_dcl_follows_the_lowest_cell(v: float) -> None:
    out = first(cell_min_v=v, cell_max_v=max(v, 3.30))
    expected = MAX_D * interp(v, P.dcl_cell_voltage)
    assert out[OUT_DCL_A] == pytest.approx(expected, abs=1e-9)
    assert out[OUT_DCL_SOURCE] == (SRC_CELL_VOLTAGE if expected < MAX_D else SRC_MAX)
    assert out[OUT_CCL_A] == MAX_C


@pytest.mark.parametrize("column", ["temperature_max_c", "temperature_min_c"])
@pytest.mark.parametrize("t", _points_and_between(P.ccl_temperature[0]))
def test_ccl_follows_temperature_at_both_ends(column: str, t: float) -> None:
    other = "temperature_min_c" if column == "temperature_max_c" else "temperature_max_c"
    out = first(**{column: t, other: 25.0})
    expected = MAX_C * interp(t, P.ccl_temperature)
    assert out[OUT_CCL_A] == pytest.approx(expected, abs=1e-9)
    assert out[OUT_CCL_SOURCE] == (SRC_TEMPERATURE if expected < MAX_C else SRC_MAX)


@pytest.mark.parametrize("column", ["temperature_max_c", "temperature_min_c"])
@pytest.mark.parametrize("t", _points_and_between(P.dcl_temperature[0]))
def test_dcl_follows_temperature_at_both_ends(column: str, t: float) -> None:
    other = "temperature_min_c" if column == "temperature_max_c" else "temperature_max_c"
    out = first(**{column: t, other: 25.0})
    expected = MAX_D * interp(t, P.dcl_temperature)
    assert out[OUT_DCL_A] == pytest.approx(expected, abs=1e-9)
    assert out[OUT_DCL_SOURCE] == (SRC_TEMPERATURE if expected < MAX_D else SRC_MAX)


def test_the_worse_of_warmest_and_coldest_cell_wins() -> None:
    out = first(temperature_min_c=3.0, temperature_max_c=47.0)  # CCL 0.333 cold, 0.4 warm
    assert out[OUT_CCL_A] == pytest.approx(MAX_C * min(interp(3.0, P.ccl_temperature), interp(47.0, P.ccl_temperature)))
    out = first(temperature_min_c=8.0, temperature_max_c=47.0)  # CCL 0.8 cold, 0.4 warm
    assert out[OUT_CCL_A] == pytest.approx(MAX_C * interp(47.0, P.ccl_temperature))


@pytest.mark.parametrize("t", _points_and_between(P.mosfet_temperature[0]))
def test_mosfet_temperature_derates_both(t: float) -> None:
    out = first(mosfet_c=t)
    f = interp(t, P.mosfet_temperature)
    assert out[OUT_CCL_A] == pytest.approx(MAX_C * f, abs=1e-9)
    assert out[OUT_DCL_A] == pytest.approx(MAX_D * f, abs=1e-9)
    if f < 1.0:
        assert out[OUT_CCL_SOURCE] == SRC_MOSFET and out[OUT_DCL_SOURCE] == SRC_MOSFET


def test_the_smallest_source_wins_and_is_named() -> None:
    m = Module()
    out = m.step(cell_max_v=3.39, temperature_max_c=44.0, mosfet_c=75.0)  # 0.55, 0.6, 0.625
    assert out[OUT_CCL_A] == pytest.approx(MAX_C * 0.55)
    assert out[OUT_CCL_SOURCE] == SRC_CELL_VOLTAGE
    assert m.lim.sources(0) == ("cell voltage", "mosfet")  # DCL: 44 degC is still 1.0


def test_a_failed_reading_gives_zero() -> None:
    out = first(cell_max_v=float("nan"))
    assert out[OUT_CCL_A] == 0.0 and out[OUT_DCL_A] == MAX_D
    out = first(temperature_min_c=float("nan"))
    assert out[OUT_CCL_A] == 0.0 and out[OUT_DCL_A] == 0.0


# --- protection ----------------------------------------------------------------------------------------------------


def test_a_path_that_is_not_allowed_gives_zero_and_clears_its_enable() -> None:
    out = first(charge_allowed=0.0)
    assert out[OUT_CCL_A] == 0.0 and out[OUT_CCL_SOURCE] == SRC_PROTECTION and out[OUT_CHARGE_ENABLE] == 0.0
    assert out[OUT_DCL_A] == MAX_D and out[OUT_DISCHARGE_ENABLE] == 1.0
    out = first(discharge_allowed=0.0)
    assert out[OUT_DCL_A] == 0.0 and out[OUT_DCL_SOURCE] == SRC_PROTECTION and out[OUT_DISCHARGE_ENABLE] == 0.0
    assert out[OUT_CCL_A] == MAX_C and out[OUT_CHARGE_ENABLE] == 1.0


def test_derate_flag_caps_the_fraction_without_stacking() -> None:
    out = first(derate_charge=1.0, derate_discharge=1.0)
    assert out[OUT_CCL_A] == pytest.approx(MAX_C * DERATE_FACTOR) and out[OUT_CCL_SOURCE] == SRC_PROTECTION
    assert out[OUT_DCL_A] == pytest.approx(MAX_D * DERATE_FACTOR)
    out = first(derate_charge=1.0, temperature_max_c=50.0)  # the table (0.25) is already below the cap
    assert out[OUT_CCL_A] == pytest.approx(MAX_C * 0.25) and out[OUT_CCL_SOURCE] == SRC_TEMPERATURE
    assert first(derate_charge=1.0, derate_discharge=0.0)[OUT_DCL_A] == MAX_D


# --- cut, hold, ramp -----------------------------------------------------------------------------------------------


def test_cut_at_once_then_hold_then_ramp() -> None:
    m = Module()
    m.run(5)
    out = m.step(charge_allowed=0.0)
    assert out[OUT_CCL_A] == 0.0  # the cut is immediate
    ccl = m.run(200, charge_allowed=1.0)[:, OUT_CCL_A]
    hold = int(P.limit_hold_s)
    assert np.all(ccl[: hold - 1] == 0.0)  # held: the step of the cut counts as the first second
    rising = ccl[hold - 1 :]
    steps = np.diff(np.concatenate([[0.0], rising]))
    assert steps[0] == pytest.approx(P.limit_ramp_a_per_s)
    assert np.all(steps <= P.limit_ramp_a_per_s + 1e-9) and np.all(steps >= 0.0)
    assert ccl[-1] == MAX_C
    n_ramp = int(np.ceil(MAX_C / P.limit_ramp_a_per_s))
    assert ccl[hold - 1 + n_ramp - 2] < MAX_C and ccl[hold - 1 + n_ramp - 1] == MAX_C


def test_a_new_cut_restarts_the_hold() -> None:
    m = Module()
    m.step(temperature_max_c=50.0)  # 0.25
    m.run(20, temperature_max_c=40.0)
    m.step(temperature_max_c=50.0)
    ccl = m.run(40, temperature_max_c=40.0)[:, OUT_CCL_A]
    assert np.all(ccl[: int(P.limit_hold_s) - 1] == pytest.approx(MAX_C * 0.25))
    assert ccl[-1] > MAX_C * 0.25


def test_recovery_from_zero_only_above_the_threshold() -> None:
    threshold_a = P.limit_recovery_fraction * MAX_C
    m = Module()
    m.step(cell_max_v=3.50)
    assert m.step()[OUT_CCL_A] == 0.0
    # a release target below 1.5 % of max (cell at 3.44 V, 10 mV band: f(3.45) = 0.005) keeps CCL at 0
    ccl = m.run(300, cell_max_v=3.44)[:, OUT_CCL_A]
    assert MAX_C * interp(3.45, P.ccl_cell_voltage) < threshold_a
    assert np.all(ccl == 0.0)
    ccl = m.run(40, cell_max_v=3.42)[:, OUT_CCL_A]  # release f(3.43) = 0.041 -> 6.4 A, held, then ramped
    hold = int(P.limit_hold_s)
    assert np.all(ccl[: hold - 1] == 0.0)
    assert ccl[hold - 1] == pytest.approx(P.limit_ramp_a_per_s)
    assert ccl[-1] == pytest.approx(MAX_C * interp(3.43, P.ccl_cell_voltage))


def test_the_limit_rises_only_to_the_release_level() -> None:
    m = Module()
    m.step(cell_max_v=3.40)  # 0.25
    ccl = m.run(120, cell_max_v=3.395)[:, OUT_CCL_A]  # cut target f(3.395) = 0.4, release f(3.405) = 0.21
    assert np.all(ccl == pytest.approx(MAX_C * 0.25))
    ccl = m.run(120, cell_max_v=3.385)[:, OUT_CCL_A]  # release f(3.395) = 0.4
    assert ccl[-1] == pytest.approx(MAX_C * interp(3.395, P.ccl_cell_voltage))


# --- charge mode ---------------------------------------------------------------------------------------------------

FULL = {"pack_v": 55.2, "cell_max_v": 3.455, "cell_min_v": 3.448, "soc": 0.99}  # balanced: spread 7 mV


def test_float_switch_after_900_s_balanced_then_ramp_to_float() -> None:
    m = Module()
    assert m.step(pack_v=54.0, soc=0.9)[OUT_MODE] == MODE_BULK
    out = m.run(int(P.float_after_s) + 1, **FULL)  # the first balanced sample starts the timer at 0
    assert np.all(out[:-1, OUT_MODE] == MODE_ABSORPTION)
    assert out[-1, OUT_MODE] == MODE_FLOAT_TRANSITION and out[-1, OUT_FLOAT_SWITCH] == 1.0
    assert np.sum(out[:, OUT_FLOAT_SWITCH]) == 1.0
    ramp_s = round(16 * (P.cell_voltage_target_v - P.cell_voltage_float_v) / P.cvl_ramp_v_per_s)
    out = m.run(ramp_s + 5, **FULL)
    cvl = out[:, OUT_CVL_V]
    assert np.diff(cvl)[: ramp_s - 2] == pytest.approx(-P.cvl_ramp_v_per_s)
    assert cvl[-1] == pytest.approx(16 * P.cell_voltage_float_v)
    assert out[-1, OUT_MODE] == MODE_FLOAT and out[-1, OUT_CVL_LIMITED] == 0.0


def test_float_timer_restarts_when_the_spread_opens() -> None:
    m = Module()
    m.run(600, **FULL)
    m.step(**{**FULL, "cell_max_v": 3.462})  # spread 14 mV > 13 mV: timer stops
    m.run(10, **{**FULL, "cell_max_v": 3.460})  # 12 mV: in the band, the stopped timer does not start
    out = m.run(int(P.float_after_s) + 1, **FULL)
    assert np.all(out[:-1, OUT_MODE] == MODE_ABSORPTION)
    assert out[-1, OUT_MODE] == MODE_FLOAT_TRANSITION


def test_a_spread_in_the_band_keeps_a_running_timer() -> None:
    m = Module()
    out = m.run(int(P.float_after_s) + 1, **{**FULL, "cell_max_v": 3.448 + 0.0105})
    assert np.all(out[:, OUT_MODE] == MODE_ABSORPTION)  # never balanced: never starts
    m = Module()
    m.step(**FULL)
    out = m.run(int(P.float_after_s), **{**FULL, "cell_max_v": 3.448 + 0.012})
    assert np.all(out[:-1, OUT_MODE] == MODE_ABSORPTION) and out[-1, OUT_MODE] == MODE_FLOAT_TRANSITION


def test_balancing_delays_the_switch_at_most_balancing_wait() -> None:
    m = Module()
    out = m.run(int(P.float_after_s) + 100, **FULL, balancing=1.0)
    assert np.all(out[:, OUT_MODE] == MODE_ABSORPTION)  # the timer ran out 100 s ago; the balancer still works
    assert m.step(**FULL, balancing=0.0)[OUT_MODE] == MODE_FLOAT_TRANSITION
    m = Module()
    out = m.run(int(P.float_after_s) * 2 + 1, **FULL, balancing=1.0)
    assert np.all(out[:-1, OUT_MODE] == MODE_ABSORPTION) and out[-1, OUT_MODE] == MODE_FLOAT_TRANSITION


def _in_float() -> Module:
    m = Module()
    m.run(int(P.float_after_s) + 1300, **FULL)
    assert m.step(**FULL)[OUT_MODE] == MODE_FLOAT
    return m


@pytest.mark.parametrize(
    "change", [{"soc": 0.79}, {"cell_max_v": 3.40, "cell_min_v": 3.32}], ids=["soc below bulk_soc", "spread 80 mV"]
)
def test_back_to_bulk_then_cvl_rises_at_the_ramp(change: dict[str, float]) -> None:
    m = _in_float()  # in float for over 60 s: no recent cut, so no hold
    out = m.run(300, **{**FULL, **change, "pack_v": 54.0})
    assert np.all(out[:, OUT_MODE] == MODE_BULK) and np.all(out[:, OUT_CVL_LIMITED] == 1.0)
    assert out[:, OUT_CVL_V] == pytest.approx(54.0 + P.cvl_ramp_v_per_s * np.arange(1, 301))


def test_float_holds_at_high_soc_and_small_spread() -> None:
    m = _in_float()
    out = m.run(100, **{**FULL, "soc": 0.85, "cell_max_v": 3.38, "cell_min_v": 3.33, "pack_v": 53.5})
    assert np.all(out[:, OUT_MODE] == MODE_FLOAT)


# --- CVL controller ------------------------------------------------------------------------------------------------


def test_cvl_controller_pulls_down_a_runaway_cell_and_recovers_with_hold_then_ramp() -> None:
    m = Module()
    m.step(pack_v=54.0)
    setpoint = P.cell_voltage_target_v + P.cvl_controller_margin_v
    out = m.run(10, pack_v=55.0, cell_max_v=setpoint + 0.05, cell_min_v=3.40)
    cvl = out[:, OUT_CVL_V]
    step = P.cvl_controller_gain * 0.05
    assert np.diff(cvl) == pytest.approx(-step)
    assert cvl[0] == pytest.approx(55.2 - step)
    assert np.all(out[:, OUT_CVL_LIMITED] == 1.0)
    low = cvl[-1]
    # the cell falls back below the setpoint: hold 60 s, then 1 mV/s up to 55.2 V
    cvl = m.run(800, pack_v=54.5, cell_max_v=3.40, cell_min_v=3.39)[:, OUT_CVL_V]
    assert np.all(cvl[:59] == pytest.approx(low))
    assert np.diff(cvl[59 : 59 + 100]) == pytest.approx(P.cvl_ramp_v_per_s)
    assert cvl[-1] == pytest.approx(55.2)


def test_cvl_controller_is_idle_while_the_highest_cell_is_below_the_setpoint() -> None:
    m = Module()
    out = m.run(100, pack_v=55.1, cell_max_v=P.cell_voltage_target_v + P.cvl_controller_margin_v - 0.001)
    assert np.all(out[:, OUT_CVL_V] == pytest.approx(55.2))


def test_cvl_controller_settles_the_cell_at_the_setpoint() -> None:
    """Closed loop with a crude cell: the runaway cell follows CVL minus the rest of the string."""
    m = Module()
    rest_v = 15 * 3.40
    cell = 3.60
    for _ in range(600):
        out = m.step(cell_max_v=cell, cell_min_v=3.40, pack_v=rest_v + cell)
        cell += 0.2 * (out[OUT_CVL_V] - rest_v - cell)  # the cell relaxes towards what CVL leaves it
    assert cell == pytest.approx(P.cell_voltage_target_v + P.cvl_controller_margin_v, abs=0.002)


# --- request flags -------------------------------------------------------------------------------------------------


def test_full_charge_request_after_the_interval_without_a_full_charge() -> None:
    days = P.full_charge_interval_days
    m = Module()
    m.step(soc=0.6)
    out = m.step(dt_s=(days - 1) * DAY_S, soc=0.96)
    assert out[OUT_FULL_CHARGE_REQUEST] == 0.0
    out = m.step(dt_s=DAY_S, soc=0.96)
    assert out[OUT_FULL_CHARGE_REQUEST] == 1.0 and out[OUT_SINCE_FULL_S] == pytest.approx(days * DAY_S)
    out = m.step(soc=P.full_charge_soc)
    assert out[OUT_FULL_CHARGE_REQUEST] == 0.0 and out[OUT_SINCE_FULL_S] == 0.0
    assert m.step(dt_s=(days - 1) * DAY_S, soc=0.5)[OUT_FULL_CHARGE_REQUEST] == 0.0
    assert m.step(dt_s=DAY_S, soc=0.5)[OUT_FULL_CHARGE_REQUEST] == 1.0


def test_full_charge_request_when_the_soc_bound_passes_its_level_held_until_a_sure_full_charge() -> None:
    level = 0.02
    m = Module(compile_limit_params(P, full_charge_request_bound=level))
    assert m.step(soc=0.5, soc_bound=0.015)[OUT_FULL_CHARGE_REQUEST] == 0.0
    assert m.step(soc=0.5, soc_bound=level)[OUT_FULL_CHARGE_REQUEST] == 1.0
    # held while the bound dips (a rest point) and while SOC reads full but the estimator is not yet sure of it
    assert m.step(soc=0.5, soc_bound=0.012)[OUT_FULL_CHARGE_REQUEST] == 1.0
    assert m.step(soc=0.99, soc_bound=0.015)[OUT_FULL_CHARGE_REQUEST] == 1.0
    # the full sync: SOC full and the bound under half the level
    out = m.step(soc=0.99, soc_bound=0.005)
    assert out[OUT_FULL_CHARGE_REQUEST] == 0.0 and out[OUT_SINCE_FULL_S] == 0.0
    assert m.step(soc=0.8, soc_bound=0.012)[OUT_FULL_CHARGE_REQUEST] == 0.0


def test_full_charge_request_sends_float_back_to_bulk() -> None:
    m = _in_float()
    out = m.step(dt_s=31 * DAY_S, **{**FULL, "soc": 0.96})
    assert out[OUT_FULL_CHARGE_REQUEST] == 1.0 and out[OUT_MODE] == MODE_BULK


def test_force_charge_at_very_low_soc_with_hysteresis() -> None:
    m = Module()
    assert m.step(soc=0.10)[OUT_FORCE_CHARGE] == 0.0
    assert m.step(soc=P.force_charge_soc - 0.001)[OUT_FORCE_CHARGE] == 1.0
    assert m.step(soc=P.force_charge_soc + 0.01)[OUT_FORCE_CHARGE] == 1.0  # inside the hysteresis
    assert m.step(soc=P.force_charge_soc + 0.03)[OUT_FORCE_CHARGE] == 0.0


def test_force_charge_when_the_lowest_cell_reaches_the_dcl_zero_voltage() -> None:
    m = Module()
    out = m.step(soc=0.3, cell_min_v=2.80)
    assert out[OUT_FORCE_CHARGE] == 1.0 and out[OUT_DCL_A] == 0.0 and out[OUT_DISCHARGE_ENABLE] == 0.0
    assert m.step(soc=0.3, cell_min_v=2.85)[OUT_FORCE_CHARGE] == 1.0
    assert m.step(soc=0.3, cell_min_v=2.95)[OUT_FORCE_CHARGE] == 0.0


def test_no_force_charge_while_charge_is_not_allowed() -> None:
    out = first(soc=0.01, charge_allowed=0.0)
    assert out[OUT_FORCE_CHARGE] == 0.0 and out[OUT_CHARGE_ENABLE] == 0.0


def test_modules_are_independent() -> None:
    lim = ChargeLimiter(P, 3)
    x = np.zeros((3, IN_COLS))
    for col, v in NOMINAL.items():
        x[:, col] = v
    x[1, IN_CELL_MAX_V] = 3.40
    x[2, IN_DISCHARGE_ALLOWED] = 0.0
    out = lim.step(x, 1.0, 1.0)
    assert list(out[:, OUT_CCL_A]) == pytest.approx([MAX_C, MAX_C * 0.25, MAX_C])
    assert list(out[:, OUT_DCL_A]) == pytest.approx([MAX_D, MAX_D, 0.0])
    assert lim.limits(1).ccl_a == pytest.approx(MAX_C * 0.25)
    assert lim.mode(0) == "bulk"
    with pytest.raises(ValueError, match="shape"):
        lim.step(x[:2], 2.0, 1.0)
