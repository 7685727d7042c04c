"""Each row of manual Table 6-4, reached by driving the twin, shown on the LEDs over time."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.leds import LedMode
from ml314.bms.parameters import BmsParameters
from ml314.system.reference_system import ReferenceBankSystem
from ml314.twin import kernel as k

from .conftest import make_system


def pattern(system: ReferenceBankSystem, led: str, seconds: float = 8.0) -> tuple[str, float | None]:
    """'on', 'off' or 'flash' and the flash period of one LED of module 0, sampled every 50 ms."""
    t0 = system.t_s
    samples = [getattr(system.bms.leds(0, t0 + 0.05 * i), led) for i in range(int(seconds / 0.05))]
    if all(samples):
        return "on", None
    if not any(samples):
        return "off", None
    rises = [i for i in range(1, len(samples)) if samples[i] and not samples[i - 1]]
    return "flash", float(np.mean(np.diff(rises))) * 0.05 if len(rises) > 1 else None


def soc_leds(system: ReferenceBankSystem) -> int:
    return sum(system.bms.leds(0, system.t_s).soc)


def run(system: ReferenceBankSystem, request: float, seconds: int, **kw: object) -> None:
    for _ in range(seconds):
        system.step(request, **kw)  # type: ignore[arg-type]


@pytest.fixture
def system(bms_params: BmsParameters) -> ReferenceBankSystem:
    return make_system(bms_params, soc=0.6)


def test_shutdown_all_off(system: ReferenceBankSystem) -> None:
    system.press([0], long=True)
    run(system, 0.0, 2)
    assert system.bms.outputs.led_modes[0] == LedMode.SHUTDOWN_SLEEP  # type: ignore[union-attr]
    assert pattern(system, "run")[0] == pattern(system, "alm")[0] == "off" and soc_leds(system) == 0


def test_standby_run_on_and_soc_leds(system: ReferenceBankSystem) -> None:
    run(system, 0.0, 30)
    assert pattern(system, "run")[0] == "on" and pattern(system, "alm")[0] == "off"
    assert soc_leds(system) == 3  # 60 %: three LEDs of 25 %


def test_charge_normal_flash_1(system: ReferenceBankSystem) -> None:
    run(system, 50.0, 30)
    kind, period = pattern(system, "run")
    assert kind == "flash" and period == pytest.approx(1.0, abs=0.06)
    assert pattern(system, "alm")[0] == "off"


def test_charge_alarm_run_and_alm_flash_1(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.985)
    for _ in range(3600):
        system.step(40.0, obey_limits=False)
        if system.bms.outputs.led_modes[0] == LedMode.CHARGE_ALARM:  # type: ignore[union-attr]
            break
    assert system.bms.outputs.led_modes[0] == LedMode.CHARGE_ALARM  # type: ignore[union-attr]
    for led in ("run", "alm"):
        kind, period = pattern(system, led)
        assert kind == "flash" and period == pytest.approx(1.0, abs=0.06)


def test_charge_end_off_voltage_run_on(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.93)
    seen = False
    for _ in range(8 * 3600):
        system.step(60.0)
        if system.bms.outputs.led_modes[0] == LedMode.CHARGE_END_OFF_VOLTAGE:  # type: ignore[union-attr]
            seen = True
            break
    assert seen
    assert pattern(system, "run")[0] == "on" and pattern(system, "alm")[0] == "off"


def test_charge_over_temperature_protection_alm_on(system: ReferenceBankSystem) -> None:
    run(system, 50.0, 20)
    system.bank.cell_state[k.CS_TEMP_C] = 57.0
    run(system, 50.0, 150, obey_limits=False)
    assert system.bms.outputs.led_modes[0] == LedMode.CHARGE_OVER_TEMPERATURE  # type: ignore[union-attr]
    assert pattern(system, "run")[0] == "off" and pattern(system, "alm")[0] == "on"


def test_charge_over_current_alm_flash_3(system: ReferenceBankSystem) -> None:
    run(system, 200.0, 15, obey_limits=False)
    assert system.bms.outputs.led_modes[0] == LedMode.CHARGE_OVER_CURRENT  # type: ignore[union-attr]
    run_kind, run_period = pattern(system, "run")
    alm_kind, alm_period = pattern(system, "alm")
    assert run_kind == "flash" and run_period == pytest.approx(1.0, abs=0.06)
    assert alm_kind == "flash" and alm_period == pytest.approx(2.0, abs=0.06)


def test_discharge_normal_flash_2_and_soc_leds(system: ReferenceBankSystem) -> None:
    run(system, -50.0, 30)
    kind, period = pattern(system, "run")
    assert kind == "flash" and period == pytest.approx(1.5, abs=0.06)
    assert pattern(system, "alm")[0] == "off"
    assert soc_leds(system) == 3


def test_discharge_alarm_run_flash_2_alm_flash_3(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.03)
    for _ in range(3600):
        system.step(-30.0, obey_limits=False)
        if system.bms.outputs.led_modes[0] == LedMode.DISCHARGE_ALARM:  # type: ignore[union-attr]
            break
    assert system.bms.outputs.led_modes[0] == LedMode.DISCHARGE_ALARM  # type: ignore[union-attr]
    assert pattern(system, "run")[1] == pytest.approx(1.5, abs=0.06)
    assert pattern(system, "alm")[1] == pytest.approx(2.0, abs=0.06)


def test_discharge_end_off_voltage_goes_dark_and_sleeps(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.02)
    run(system, -60.0, 1200, obey_limits=False)
    assert system.bms.outputs.led_modes[0] == LedMode.SHUTDOWN_SLEEP  # type: ignore[union-attr]
    assert pattern(system, "run")[0] == "off" and pattern(system, "alm")[0] == "off" and soc_leds(system) == 0


def test_discharge_over_current_protection_alm_on(system: ReferenceBankSystem) -> None:
    run(system, -200.0, 15, obey_limits=False)
    assert system.bms.outputs.led_modes[0] == LedMode.DISCHARGE_PROTECTION  # type: ignore[union-attr]
    assert pattern(system, "run")[0] == "off" and pattern(system, "alm")[0] == "on"
