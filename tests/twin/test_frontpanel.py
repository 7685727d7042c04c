"""Front-panel hardware: FETs, breaker, buttons, DIP decoding and latching, LEDs, BMS supply."""

from __future__ import annotations

import pytest

from ml314.twin.frontpanel import (
    BMS_SUPPLY_DRAW_A,
    BmsSupply,
    Breaker,
    DipSwitches,
    FrontPanel,
    Leds,
    LedState,
    Mosfets,
    PushButton,
    ResetButton,
)

# --- MOSFETs and breaker ---


@pytest.mark.parametrize(
    ("charge_on", "discharge_on", "current_a", "conducts"),
    [
        (False, False, 10.0, False),
        (False, False, -10.0, False),
        (False, False, 0.0, True),
        (True, False, 10.0, True),
        (True, False, -10.0, False),
        (False, True, 10.0, False),
        (False, True, -10.0, True),
        (True, True, 10.0, True),
        (True, True, -10.0, True),
        (True, True, 0.0, True),
    ],
)
def test_mosfet_conduction_truth_table(charge_on: bool, discharge_on: bool, current_a: float, conducts: bool) -> None:
    fets = Mosfets()
    fets.command(charge_on=charge_on, discharge_on=discharge_on)
    assert fets.conducts(current_a) is conducts


def test_mosfets_start_off_and_off_clears_both() -> None:
    fets = Mosfets(charge_on=True, discharge_on=True)
    fets.off()
    assert (fets.charge_on, fets.discharge_on) == (False, False)
    assert not Mosfets().conducts(1.0)


def test_breaker_open_blocks_output() -> None:
    breaker = Breaker()
    assert not breaker.closed
    assert not breaker.conducts(-5.0) and breaker.conducts(0.0)
    breaker.close()
    assert breaker.conducts(-5.0) and breaker.conducts(5.0)
    breaker.open()
    assert not breaker.conducts(5.0)


def test_panel_conducts_needs_breaker_and_fet() -> None:
    panel = FrontPanel(breaker_closed=True)
    panel.mosfets.command(charge_on=False, discharge_on=True)
    assert panel.conducts(-50.0) and not panel.conducts(50.0)
    panel.breaker.open()
    assert not panel.conducts(-50.0)


# --- buttons ---


def test_push_button_short_and_long_press_events() -> None:
    button = PushButton(long_press_s=3.0)
    button.press(10.0)
    assert button.is_pressed
    assert button.held_s(11.0) == 1.0 and not button.is_long_press(11.0)
    short = button.release(11.0)
    assert short is not None and not short.long and short.duration_s == 1.0
    button.press(20.0)
    button.press(21.0)  # still held: ignored
    assert button.is_long_press(23.0) and not button.is_long_press(22.9)
    long = button.release(23.5)
    assert long is not None and long.long and long.pressed_s == 20.0
    assert button.release(24.0) is None
    assert button.take_events() == (short, long)
    assert button.take_events() == ()
    assert button.held_s(30.0) == 0.0


def test_long_press_threshold_is_a_parameter() -> None:
    button = PushButton(long_press_s=0.5)
    button.press(0.0)
    event = button.release(0.5)
    assert event is not None and event.long
    with pytest.raises(ValueError):
        PushButton(long_press_s=0.0)


# --- DIP switches ---

ID_WEIGHTS = (32, 16, 8, 4, 2, 1)  # switch 1 (leftmost) .. switch 6 (rightmost ID switch)


@pytest.mark.parametrize("termination", [False, True])
@pytest.mark.parametrize("code", range(64))
def test_dip_decoding_table(code: int, termination: bool) -> None:
    id_switches = tuple(bool(code & w) for w in ID_WEIGHTS)
    dip = DipSwitches.from_positions((*id_switches, False, termination))
    assert dip.module_id == code
    assert dip.termination_on is termination
    assert dip.id_valid is (code != 0)
    assert not dip.spare_on
    assert DipSwitches.from_id(code, termination) == dip


def test_dip_rightmost_id_switch_is_the_low_bit() -> None:
    assert DipSwitches.from_positions((False,) * 5 + (True, False, False)).module_id == 1
    assert DipSwitches.from_positions((True,) + (False,) * 7).module_id == 32
    # switch 7 and switch 8 never change the ID
    assert DipSwitches.from_positions((False,) * 5 + (True, True, True)).module_id == 1


@pytest.mark.parametrize("module_id", [0, -1, 64, 100])
def test_out_of_range_ids_flagged_invalid(module_id: int) -> None:
    assert not DipSwitches.is_valid_id(module_id)


@pytest.mark.parametrize("module_id", [-1, 64])
def test_unencodable_ids_rejected(module_id: int) -> None:
    with pytest.raises(ValueError):
        DipSwitches.from_id(module_id)


def test_dip_needs_eight_positions() -> None:
    with pytest.raises(ValueError):
        DipSwitches.from_positions((True,) * 7)


def test_with_switch_flips_one_switch() -> None:
    dip = DipSwitches.from_id(2).with_switch(6, True).with_switch(8, True)
    assert dip.module_id == 3 and dip.termination_on
    with pytest.raises(ValueError):
        dip.with_switch(9, True)


def test_dip_id_latched_only_at_power_on_and_reset() -> None:
    panel = FrontPanel(DipSwitches.from_id(5))
    assert panel.dip_latched_id is None
    panel.power_on()
    assert panel.dip_latched_id == 5
    panel.set_dip(DipSwitches.from_id(9, termination=True))
    assert panel.dip.module_id == 9
    assert panel.dip_latched_id == 5  # moving switches while running changes nothing
    assert panel.termination_on  # the resistor is hardware: immediate
    panel.reset()
    assert panel.dip_latched_id == 9
    panel.set_dip(DipSwitches.from_id(12))
    panel.power_off()
    assert panel.dip_latched_id is None
    panel.power_on()
    assert panel.dip_latched_id == 12


def test_reset_button_release_resets_and_drops_outputs() -> None:
    panel = FrontPanel(DipSwitches.from_id(1))
    panel.power_on()
    panel.mosfets.command(charge_on=True, discharge_on=True)
    panel.leds.set(run=True, alm=False, soc=(True, True, False, False))
    panel.set_dip(DipSwitches.from_id(2))
    panel.reset_button.press(5.0)
    assert panel.dip_latched_id == 1  # held in reset: not yet restarted
    event = panel.release_reset(5.2)
    assert event is not None and not event.long
    assert panel.dip_latched_id == 2
    assert not panel.mosfets.charge_on and panel.leds.state == LedState()
    assert isinstance(panel.reset_button, ResetButton)


def test_reset_without_power_does_nothing() -> None:
    panel = FrontPanel(DipSwitches.from_id(3))
    panel.reset()
    assert panel.dip_latched_id is None and not panel.powered


# --- LEDs, snapshot, supply ---


def test_leds_set_and_snapshot_is_frozen() -> None:
    leds = Leds()
    assert leds.state == LedState(False, False, (False, False, False, False))
    leds.set(run=True, alm=True, soc=(True, False, False, False))
    state = leds.state
    leds.off()
    assert state == LedState(True, True, (True, False, False, False))
    assert leds.state == LedState()


def test_power_off_darkens_leds_and_opens_fets() -> None:
    panel = FrontPanel(DipSwitches.from_id(4, termination=True), breaker_closed=True)
    panel.power_on()
    panel.mosfets.command(charge_on=True, discharge_on=True)
    panel.leds.set(run=True, alm=False, soc=(True, True, True, True))
    snap = panel.snapshot()
    assert snap.powered and snap.charge_fet_on and snap.breaker_closed
    assert snap.dip_latched_id == 4 and snap.termination_on and snap.leds.soc == (True,) * 4
    panel.power_off()
    snap = panel.snapshot()
    assert not snap.powered and not snap.discharge_fet_on and snap.leds == LedState()
    assert snap.breaker_closed  # the breaker is manual


@pytest.mark.parametrize(("state", "draw_a"), [("off", 0.0), ("sleep", 0.3e-3), ("standby", 25e-3), ("active", 60e-3)])
def test_bms_supply_table(state: str, draw_a: float) -> None:
    supply = BmsSupply()
    assert supply.draw_a(state) == pytest.approx(draw_a)  # type: ignore[arg-type]
    assert supply.current_a(state) == pytest.approx(-draw_a)  # type: ignore[arg-type]
    assert BMS_SUPPLY_DRAW_A[state] == pytest.approx(draw_a)  # type: ignore[index]


def test_bms_supply_custom_table() -> None:
    supply = BmsSupply({"off": 0.0, "sleep": 1e-3, "standby": 0.01, "active": 0.1})
    assert supply.current_a("active") == -0.1
    draws = [supply.draw_a(s) for s in ("off", "sleep", "standby", "active")]
    assert draws == sorted(draws)
