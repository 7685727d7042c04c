"""The twin and the BMS together: end of charge, a cold morning, sleep and wake, a sensor fault."""

from __future__ import annotations

import numpy as np

from ml314.bms.parameters import BmsParameters
from ml314.bms.states import BmsState
from ml314.twin import kernel as k
from ml314.twin.sensors import SensorFault

from .conftest import cell_max_v, make_system


def test_end_of_charge_stops_charging_before_any_cell_reaches_its_protection_level(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.8)
    protection = bms_params.row("cell_overvoltage.protection").trip
    highest = 0.0
    for _ in range(3 * 3600):
        system.step(150.0)  # the inverter asks for more than the BMS allows and obeys the limits it gets
        highest = max(highest, cell_max_v(system))
    assert highest < protection
    assert abs(system.bank.mod_state[k.MS_CURRENT_A, 0]) < 2.0  # charging has ended
    assert system.bank.module_socs()[0] > 0.97
    assert not [e for e in system.bms.events if e.kind in ("trip", "lockout", "latch") and e.level == "protection"]


def test_a_charger_that_ignores_the_limits_is_stopped_by_the_charge_mosfet(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.9)
    for _ in range(3 * 3600):
        system.step(100.0, obey_limits=False)
        if not system.bms.outputs.charge_fet_on[0]:  # type: ignore[union-attr]
            break
    else:
        raise AssertionError("the charge path was never opened")
    system.step(100.0, obey_limits=False)
    assert system.bank.mod_state[k.MS_CURRENT_A, 0] <= 0.0
    assert cell_max_v(system) < 3.72  # opened within the 2 s delay of the 3.65 V protection
    # the pack (terminal) or the cell over-voltage protection opened it, whichever came first
    keys = ("cell_overvoltage.protection", "pack_overvoltage.protection")
    trips = [e for e in system.bms.events if e.key in keys and e.kind == "trip"]
    assert trips and "charge path opened" in trips[0].action


def test_a_cold_morning_blocks_charging_below_0_c(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.4, temperature_c=-6.0)
    charged_cold = 0.0
    for _ in range(1800):
        r = system.step(100.0, ambient_c=-6.0)
        charged_cold += max(r.bus_current_a, 0.0)
    assert charged_cold < 1.0 * 1800 * 0.05  # no charge current worth the name while the cells are below 0 degC
    assert system.limits.ccl_a == 0.0
    # the sun comes up: the room and the cells warm, and charging resumes
    system.bank.cell_state[k.CS_TEMP_C] = 12.0
    system.bank.mod_state[[k.MS_ENCLOSURE_C, k.MS_BOARD_C, k.MS_MOSFET_C]] = 12.0
    currents = [system.step(100.0, ambient_c=15.0).bus_current_a for _ in range(600)]
    assert max(currents) > 50.0


def test_a_discharged_module_sleeps_and_charging_wakes_it(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.02)
    states = []
    for _ in range(1200):
        states.append(system.step(-60.0, obey_limits=False).outputs.states[0])
    assert BmsState.PROTECTION in states
    assert states[-1] == BmsState.SLEEP
    assert system.bms.leds(0, system.t_s).lit_count == 0 and not system.bms.leds(0, system.t_s).run
    assert system.bank.mod_state[k.MS_CURRENT_A, 0] == 0.0  # nothing is drawn from a sleeping module
    woke = None
    for i in range(600):
        r = system.step(20.0, obey_limits=False)  # a charger connected
        if r.outputs.states[0] in (BmsState.STANDBY, BmsState.CHARGE):
            woke = i
            break
    assert woke is not None
    assert any(e.message.endswith("charging wakes the module") for e in system.bms.events)


def test_an_open_ntc_leads_to_the_safe_state_and_an_event_naming_the_sensor(bms_params: BmsParameters) -> None:
    system = make_system(bms_params, soc=0.5)
    for _ in range(30):
        system.step(-40.0)
    system.sensors.inject(SensorFault(module_index=0, channel="temperature", index=2, kind="open_wire"), system.t_s)
    for _ in range(60):
        system.step(-40.0)
    out = system.bms.outputs
    assert out is not None
    assert not out.charge_fet_on[0] and not out.discharge_fet_on[0]
    assert abs(system.bank.mod_state[k.MS_CURRENT_A, 0]) < 1e-9
    events = [e for e in system.bms.events if e.key.startswith("temperature_sensor") and e.kind == "trip"]
    assert events
    assert "NTC 3" in events[-1].message
    assert np.isclose(events[-1].threshold, bms_params.row(events[-1].key).trip)
