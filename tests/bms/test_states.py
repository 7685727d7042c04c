"""The state machine: buttons, sleep on low voltage, wake on charge, deep discharge, protection and fault."""

from __future__ import annotations

from dataclasses import replace

from ml314.bms.parameters import load_default_parameters
from ml314.bms.states import BmsState, ModuleStateMachine, StateInputs

P = load_default_parameters().states
BASE = StateInputs(
    now_s=0.0,
    current_a=0.0,
    pack_voltage_v=52.0,
    open_charge=False,
    open_discharge=False,
    sleep_requested=False,
    latched=False,
)


def started() -> ModuleStateMachine:
    sm = ModuleStateMachine(P)
    out, why = sm.step(replace(BASE, power_pressed=True))
    assert sm.state.state == BmsState.STANDBY and out.read_dip and why == "ON/OFF starts the BMS"
    return sm


def test_shutdown_until_on_and_off_on_a_long_press() -> None:
    sm = ModuleStateMachine(P)
    out, _ = sm.step(BASE)
    assert sm.state.state == BmsState.SHUTDOWN and not out.charge_fet_on and out.power == "off"
    sm = started()
    out, _ = sm.step(replace(BASE, now_s=1.0))
    assert out.charge_fet_on and out.discharge_fet_on and not out.read_dip
    sm.step(replace(BASE, now_s=2.0, power_long_pressed=True))
    assert sm.state.state == BmsState.SHUTDOWN


def test_current_direction_selects_charge_discharge_standby() -> None:
    sm = started()
    sm.step(replace(BASE, now_s=1.0, current_a=30.0))
    assert sm.state.state == BmsState.CHARGE
    sm.step(replace(BASE, now_s=2.0, current_a=-30.0))
    assert sm.state.state == BmsState.DISCHARGE
    for t in range(3, 12):
        sm.step(replace(BASE, now_s=float(t), current_a=0.2))
        assert sm.state.state == BmsState.DISCHARGE  # rest must hold before the state changes
    sm.step(replace(BASE, now_s=13.0, current_a=0.2))
    assert sm.state.state == BmsState.STANDBY


def test_low_voltage_protection_sleeps_after_minutes_and_charging_wakes() -> None:
    sm = started()
    t = 1.0
    for _ in range(int(P.sleep_after_low_voltage_s) - 1):
        out, _ = sm.step(replace(BASE, now_s=t, open_discharge=True, sleep_requested=True))
        t += 1.0
        assert sm.state.state == BmsState.PROTECTION and not out.discharge_fet_on
    out, why = sm.step(replace(BASE, now_s=t + 1.0, open_discharge=True, sleep_requested=True))
    assert sm.state.state == BmsState.SLEEP and why == "low-voltage protection held: sleep"
    assert out.charge_fet_on and not out.discharge_fet_on and out.power == "sleep"
    sm.step(replace(BASE, now_s=t + 100.0, current_a=0.0, open_discharge=True, sleep_requested=True))
    assert sm.state.state == BmsState.SLEEP
    _, why = sm.step(replace(BASE, now_s=t + 200.0, current_a=20.0, open_discharge=True, sleep_requested=True))
    assert sm.state.state == BmsState.STANDBY and why == "charging wakes the module"


def test_a_charge_current_keeps_the_module_awake() -> None:
    sm = started()
    for t in range(1, 3 * int(P.sleep_after_low_voltage_s)):
        sm.step(replace(BASE, now_s=float(t), current_a=10.0, open_discharge=True, sleep_requested=True))
    assert sm.state.state != BmsState.SLEEP


def test_reset_restarts_and_reads_the_dip_switches_again() -> None:
    sm = started()
    sm.step(replace(BASE, now_s=1.0, current_a=-20.0))
    out, why = sm.step(replace(BASE, now_s=2.0, current_a=-20.0, reset_pressed=True))
    assert why == "RESET restarts the BMS" and out.read_dip
    assert sm.state.state == BmsState.STANDBY


def test_deep_discharged_module_cannot_start_below_40_v() -> None:
    sm = started()
    sm.step(replace(BASE, now_s=1.0, open_discharge=True, sleep_requested=True))
    sm.step(replace(BASE, now_s=1.0 + P.sleep_after_low_voltage_s + 1.0, open_discharge=True, sleep_requested=True))
    assert sm.state.state == BmsState.SLEEP
    _, why = sm.step(replace(BASE, now_s=1e6, pack_voltage_v=39.0))
    assert sm.state.state == BmsState.SHUTDOWN and why == "voltage too low to keep the BMS powered"
    for pressed in ({"power_pressed": True}, {"reset_pressed": True}):
        out, why = sm.step(replace(BASE, now_s=1e6 + 1, pack_voltage_v=39.0, **pressed))  # type: ignore[arg-type]
        assert sm.state.state == BmsState.SHUTDOWN and not out.charge_fet_on
        assert why is not None and "40 V" in why
    sm.step(replace(BASE, now_s=1e6 + 2, pack_voltage_v=40.5, power_pressed=True))
    assert sm.state.state == BmsState.STANDBY


def test_protection_opens_its_direction_and_the_guard_delays_reclosing() -> None:
    sm = started()
    out, _ = sm.step(replace(BASE, now_s=1.0, current_a=50.0, open_charge=True))
    assert sm.state.state == BmsState.PROTECTION and not out.charge_fet_on and out.discharge_fet_on
    out, _ = sm.step(replace(BASE, now_s=3.0))
    assert sm.state.state == BmsState.STANDBY and not out.charge_fet_on  # within the oscillation guard
    assert sm.state.state != BmsState.CHARGE
    out, _ = sm.step(replace(BASE, now_s=1.0 + P.oscillation_guard_s))
    assert out.charge_fet_on


def test_latched_fault_is_a_system_failure_until_service() -> None:
    sm = started()
    out, _ = sm.step(replace(BASE, now_s=1.0, latched=True, open_charge=True, open_discharge=True))
    assert sm.state.state == BmsState.FAULT and not out.charge_fet_on and not out.discharge_fet_on
    sm.step(replace(BASE, now_s=2.0, latched=True, reset_pressed=True))
    sm.step(replace(BASE, now_s=3.0, latched=True))
    assert sm.state.state == BmsState.FAULT
    sm.step(replace(BASE, now_s=4.0, latched=False))
    assert sm.state.state == BmsState.STANDBY
