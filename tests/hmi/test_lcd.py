"""The LCD page model (manual 10.1): every page, navigation, the PIN flow, wake and dim, the transition table."""

from __future__ import annotations

import calendar
from dataclasses import replace

import pytest

from ml314.domain.battery_status import AlarmKind
from ml314.domain.snapshot_json import from_jsonable, to_jsonable
from ml314.hmi.lcd import (
    DIM_AFTER_S,
    PIN_MAX_DIGITS,
    PROTOCOLS_PER_PAGE,
    TOUCH,
    TRANSITIONS,
    LcdPage,
    LcdScreen,
    LcdState,
    PortProtocols,
    ProtocolReply,
    options,
    render,
    step,
)
from ml314.protocols.base import Transport
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import entries

BANK = worked_example(2)
T0 = float(calendar.timegm((2024, 3, 15, 15, 37, 0)))  # the manual's example clock, UTC
RUNNING = PortProtocols(can="pylon-can", rs485="pylon-rs485")


def press(state: LcdState, *keys: str, t: float = T0) -> LcdState:
    for k in keys:
        state, _ = step(state, k, t)
    return state


def woken(module_id: int = 1) -> LcdState:
    state, why = step(LcdState(module_id=module_id), TOUCH, T0)
    assert why == "a touch wakes the screen" and state.page is LcdPage.MAIN
    return state


def screen(state: LcdState, t: float = T0) -> LcdScreen:
    return render(state, BANK, None, t, running=RUNNING)


def values(s: LcdScreen) -> dict[str, str]:
    return {r.label: r.value for r in s.rows}


def keys(s: LcdScreen) -> list[str]:
    return [b.key for b in s.buttons]


def test_dark_at_power_on_and_a_touch_wakes_on_the_main_page() -> None:
    dark = screen(LcdState())
    assert dark.dimmed and keys(dark) == [TOUCH] and values(dark)["Battery SOC"] == "SOC: 50%"
    lit = screen(woken())
    assert not lit.dimmed and lit.page is LcdPage.MAIN and keys(lit) == ["settings"]


def test_main_page_has_the_fields_of_table_10_1() -> None:
    v = values(screen(woken()))
    assert v["Battery ID"] == "1"
    assert v["Battery status"] == "Standby"
    assert v["Battery SOC"] == "SOC: 50%"
    assert v["Battery module voltage"] == "52.80V"
    assert v["Current"] == "-12.3A"
    assert v["CAPACITY"] == "314Ah"
    assert v["PROTOCOL"] == "CAN: P14-PYL"
    assert v[""] == "RS485: pylon-rs485"  # the default RS485 protocol has no P-code: shown by name
    assert v["System time"] == "2024-03-15 15:37"
    assert values(render(woken(), BANK, None, T0, utc_offset_s=3600.0))["System time"] == "2024-03-15 16:37"
    assert values(render(woken(), BANK, None, T0, running=PortProtocols(can="pylon-can")))[""] == "RS485: off"


def test_main_page_of_an_offline_or_alarmed_module() -> None:
    off = values(render(woken(), None, None, T0, online=False))
    assert off["Battery status"] == "offline" and off["Battery module voltage"] == "--" and off["PROTOCOL"] == "CAN: --"
    m = replace(BANK.modules[1], protections=frozenset({AlarmKind.CELL_OVERVOLTAGE}), state="protection")
    s = render(woken(2), None, m, T0)
    assert values(s)["Battery ID"] == "2" and values(s)["Battery status"] == "Protection"
    assert any(r.label == "Alarm" and r.value == "cell overvoltage" and r.mark == "alarm" for r in s.rows)


def test_settings_cells_and_temperature_pages() -> None:
    settings = press(woken(), "settings")
    s = screen(settings)
    assert s.page is LcdPage.SETTINGS and keys(s) == ["voltage", "temperature", "rs485", "can", "back"]
    assert values(s)["Serial"] == "ML314W0800000001" and values(s)["Cycles"] == "42"
    cells = screen(press(settings, "voltage"))
    assert cells.page is LcdPage.CELLS and len([r for r in cells.rows if r.label.startswith("Cell")]) == 16
    marks = {r.mark: r.label for r in cells.rows if r.mark}
    assert marks == {"max": "Cell 16", "min": "Cell 01"}
    assert values(cells)["Cell 01"] == "3.300V" and values(cells)["Max - Min"] == "15 mV"
    temps = screen(press(settings, "temperature"))
    assert temps.page is LcdPage.TEMPERATURES
    assert values(temps) == {
        "BMS board": "25.0 °C",
        "Cells 1-4": "24.0 °C",
        "Cells 5-8": "24.1 °C",
        "Cells 9-12": "24.2 °C",
        "Cells 13-16": "24.3 °C",
        "MOSFET": "26.0 °C",
    }
    assert press(settings, "voltage", "back").page is LcdPage.SETTINGS
    assert press(settings, "temperature", "back", "back").page is LcdPage.MAIN


def test_pin_entry_digits_delete_and_confirm() -> None:
    pin = press(woken(), "settings", "can")
    assert pin.page is LcdPage.PIN and pin.port is Transport.CAN
    s = screen(pin)
    assert {str(d) for d in range(10)} <= set(keys(s)) and "ok" in keys(s)
    assert not next(b for b in s.buttons if b.key == "ok").enabled  # nothing typed yet
    typed = press(pin, *"1234567", "del", "8")
    assert typed.digits == "1234568" and values(screen(typed))["PIN"] == "*******"
    full = press(typed, "9", "0")
    assert full.digits == "12345689"[:PIN_MAX_DIGITS]  # no ninth digit
    short = press(pin, "1", "2", "ok")
    assert short.page is LcdPage.PIN and "digits" in short.notice
    chosen = press(full, "ok")
    assert chosen.page is LcdPage.PROTOCOLS and chosen.pin == "12345689" and chosen.digits == ""
    assert press(pin, "back").page is LcdPage.SETTINGS


def test_protocol_list_is_the_registry_column_with_pages() -> None:
    for port, n in ((Transport.CAN, 15), (Transport.RS485, 8)):
        assert {e.name for e in options(port)} == {e.name for e in entries() if e.transport is port}
        assert len([e for e in options(port) if e.code]) == n  # Table 10-3's column
        state = press(woken(), "settings", port.value.lower(), *"12345678", "ok")
        first = screen(state)
        picks = [b for b in first.buttons if b.key.startswith("pick:")]
        assert len(picks) == PROTOCOLS_PER_PAGE and picks[0].label.startswith("P01-GRW Growatt")
        second = screen(press(state, "down"))
        rest = [b for b in second.buttons if b.key.startswith("pick:")]
        assert len(rest) == len(options(port)) - PROTOCOLS_PER_PAGE
        assert press(state, "down", "down").offset == PROTOCOLS_PER_PAGE  # no page beyond the last
        assert press(state, "up").offset == 0


def test_pick_emits_the_request_and_an_accepted_reply_says_restart_required() -> None:
    state = press(woken(), "settings", "can", *"12345678", "ok", "pick:victron-can")
    s = screen(state)
    assert s.action is not None and s.action.protocol == "victron-can" and s.action.pin == "12345678"
    assert s.action.port is Transport.CAN and "victron-can" in s.action.describe() and "1234" not in s.action.describe()
    assert all(not b.enabled for b in s.buttons if b.key.startswith("pick:"))
    again, why = step(state, "pick:sma-can", T0 + 1)
    assert why == "a change is already being sent" and again.pending == state.pending
    done, why = step(state, ProtocolReply(s.action.seq, True, can="victron-can", rs485="pylon-rs485"), T0 + 2)
    assert why == "the device accepted" and done.pending is None and done.pin == "12345678"
    after = screen(done, T0 + 2)
    assert after.restart_required and "restart required" in after.notice and after.action is None
    assert values(after)["Next start"] == "P05-VCT"
    home = press(done, "back", t=T0 + 3)
    main = values(screen(home, T0 + 3))
    assert home.page is LcdPage.MAIN and home.pin == ""
    assert main["PROTOCOL"] == "CAN: P14-PYL -> P05-VCT (restart required)"
    restarted = render(home, BANK, None, T0 + 3, running=PortProtocols("victron-can", "pylon-rs485"))
    assert not restarted.restart_required and values(restarted)["PROTOCOL"] == "CAN: P05-VCT"


def test_a_refused_pin_goes_back_to_the_pin_entry_with_the_devices_words() -> None:
    state = press(woken(), "settings", "rs485", *"00000000", "ok", "pick:voltronic-rs485")
    assert state.pending is not None and state.pending.port is Transport.RS485
    stale, why = step(state, ProtocolReply(state.pending.seq + 7, False, "nope"), T0)
    assert stale == state and why is None
    refused, why = step(state, ProtocolReply(state.pending.seq, False, "wrong technician PIN (4 tries left)"), T0)
    assert why == "the device refused the PIN"
    assert refused.page is LcdPage.PIN and refused.pin == "" and refused.digits == "" and refused.pending is None
    assert screen(refused).notice == "wrong technician PIN (4 tries left)" and not screen(refused).restart_required


def test_a_lockout_answer_keeps_the_pin_check_closed_until_retry_after() -> None:
    state = press(woken(), "settings", "can", *"00000000", "ok", "pick:sma-can")
    assert state.pending is not None
    reply = ProtocolReply(state.pending.seq, False, "too many wrong PINs", retry_after_s=30.0)
    locked, why = step(state, reply, T0)
    assert why == "the device's PIN check is locked" and locked.locked_until_s == T0 + 30.0
    typed = press(locked, *"12345678", t=T0 + 10)
    s = screen(typed, T0 + 10)
    assert values(s)["Locked"] == "20 s" and not next(b for b in s.buttons if b.key == "ok").enabled
    still, why = step(typed, "ok", T0 + 10)
    assert why == "the device's PIN check is locked" and still.page is LcdPage.PIN and "20 s" in still.notice
    open_, why = step(typed, "ok", T0 + 30)
    assert why == "√ confirms the PIN: choose the protocol" and open_.page is LcdPage.PROTOCOLS


def test_dims_after_the_idle_time_and_the_first_touch_only_wakes() -> None:
    state = press(woken(), "settings", "can", "1", "2", t=T0 + 5)
    assert not screen(state, T0 + 5 + DIM_AFTER_S - 0.1).dimmed
    dim = screen(state, T0 + 5 + DIM_AFTER_S)
    assert dim.dimmed and dim.page is LcdPage.PIN and keys(dim) == [TOUCH] and "PIN" not in values(dim)
    woke, why = step(state, "3", T0 + 5 + DIM_AFTER_S)
    assert why == "a touch wakes the screen" and woke.page is LcdPage.MAIN and woke.digits == "" and woke.port is None
    assert not screen(woke, T0 + 5 + DIM_AFTER_S).dimmed
    kept, why = step(woke, TOUCH, T0 + 5 + 2 * DIM_AFTER_S - 1)
    assert why is None and kept.last_touch_s == T0 + 5 + 2 * DIM_AFTER_S - 1  # a touch keeps it lit


def test_an_answer_arriving_after_the_screen_dimmed_still_counts() -> None:
    state = press(woken(), "settings", "can", *"12345678", "ok", "pick:deye-can")
    assert state.pending is not None
    later = T0 + 10 * DIM_AFTER_S
    done, _ = step(state, ProtocolReply(state.pending.seq, True, can="deye-can"), later)
    woke, _ = step(done, TOUCH, later + 1)
    assert values(screen(woke, later + 1))["PROTOCOL"] == "CAN: P14-PYL -> P03-DY (restart required)"


def test_transition_table_reasons_and_unknown_keys() -> None:
    """Every page has rules; every rule's reason is unique on its page; a key no rule takes changes nothing."""
    assert set(TRANSITIONS) == set(LcdPage)
    for page, rules in TRANSITIONS.items():
        reasons = [why for why, _, _ in rules]
        assert len(reasons) == len(set(reasons)), page
    state = woken()
    for page, key, reason, target in (
        (LcdPage.MAIN, "settings", "Settings opens the settings page", LcdPage.SETTINGS),
        (LcdPage.SETTINGS, "voltage", "Voltage shows the cell voltages (10.1.3)", LcdPage.CELLS),
        (LcdPage.SETTINGS, "temperature", "Temperature shows the temperatures (10.1.4)", LcdPage.TEMPERATURES),
        (LcdPage.SETTINGS, "rs485", "RS485 asks for the PIN (10.1.5)", LcdPage.PIN),
        (LcdPage.SETTINGS, "back", "Back to the main page", LcdPage.MAIN),
        (LcdPage.CELLS, "back", "Back to Settings", LcdPage.SETTINGS),
        (LcdPage.TEMPERATURES, "back", "Back to Settings", LcdPage.SETTINGS),
        (LcdPage.PIN, "back", "Back to Settings", LcdPage.SETTINGS),
    ):
        new, why = step(replace(state, page=page, port=Transport.CAN), key, T0)
        assert (why, new.page) == (reason, target)
    for page in LcdPage:
        start = replace(state, page=page, port=Transport.CAN)
        new, why = step(start, "no-such-key", T0 + 1)
        assert why is None and new == replace(start, last_touch_s=T0 + 1)
    picked, why = step(replace(state, page=LcdPage.PROTOCOLS, port=Transport.CAN), "pick:pylon-rs485", T0)
    assert why is None and picked.pending is None  # an RS485 protocol is not on the CAN list


@pytest.mark.parametrize("page", list(LcdPage))
def test_every_screen_survives_the_json_wire_form(page: LcdPage) -> None:
    state = replace(woken(), page=page, port=Transport.RS485, digits="12")
    s = screen(state)
    assert from_jsonable(LcdScreen, to_jsonable(s)) == s


def test_a_module_that_is_shut_down_has_a_blank_lcd() -> None:
    off = render(woken(), BANK, None, T0, powered=False)
    assert off.off and off.dimmed and off.rows == () and off.buttons == ()
    assert not render(woken(), BANK, None, T0).off


@pytest.mark.parametrize("page", [p for p in LcdPage if p is not LcdPage.MAIN])
def test_every_page_but_the_main_one_has_back_and_back_leads_home(page: LcdPage) -> None:
    """Back is on every page below the main page, each press goes up one level, and the main page is reached."""
    state = replace(woken(), page=page, port=Transport.CAN)
    path = [page]
    while state.page is not LcdPage.MAIN:
        assert "back" in keys(screen(state)), state.page
        state, why = step(state, "back", T0)
        assert why is not None and why.startswith("Back to") and state.page not in path, (path, state.page)
        path.append(state.page)
    assert len(path) <= 3 and "back" not in keys(screen(state))  # the main page is the top
