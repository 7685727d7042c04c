"""The BMS state machine of one module: Shutdown, Sleep, Standby, Charge, Discharge, Protection, Fault.

Rules from the manual:

* **ON/OFF** (6.2, 8.6.2): a press starts a BMS that is shut down; holding it ``long_press_s`` shuts it down.
* **RESET** (6.2 "emergency restart", 12.2 #9): restarts the BMS: the DIP switches are read again (6.3), lockouts
  are cleared (a latched fault needs a technician), and the module starts in Standby.
* **Low-voltage protection goes to sleep** (12.2 #9): when cell under-voltage protection has held for
  ``sleep_after_low_voltage_s`` without a charge current, the BMS sleeps: discharge MOSFET off, charge MOSFET on
  (so a charger can wake it), LEDs off, supply current at its sleep value. A charge current above
  ``wake_charge_current_a`` wakes it ("charge the battery immediately and it will reboot itself").
* **Deep discharge** (12.2 #10): below ``deep_discharge_restart_v`` (40 V) the BMS cannot run at all: a sleeping
  module whose voltage falls that low browns out to Shutdown, and pressing ON/OFF or RESET does nothing until the
  pack is charged to 40 V with the cover open (``service charge``).
* **Protection and Fault**: a tripped protection row opens the MOSFET of its direction (Protection); a latched
  row (a sensor fault, deep discharge) is a system failure (Fault, "ALM always on"), cleared only by service.
* **Charge / Discharge / Standby** follow the measured current beyond the rest current.
* A MOSFET path that protection opened is re-enabled no sooner than ``oscillation_guard_s`` after it opened.

The machine is pure: :meth:`ModuleStateMachine.step` takes the time and what the BMS measured and decided this
second, and returns the new state with the MOSFET commands and the BMS power state. Transitions are one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum

from ml314.bms.parameters import StateParams


class BmsState(IntEnum):
    """States of manual Table 6-4 (Shutdown/Sleep split, plus Fault for "system failure")."""

    SHUTDOWN = 0
    SLEEP = 1
    STANDBY = 2
    CHARGE = 3
    DISCHARGE = 4
    PROTECTION = 5
    FAULT = 6


@dataclass(frozen=True, slots=True)
class StateInputs:
    """What the BMS knows this second about one module."""

    now_s: float
    current_a: float
    pack_voltage_v: float
    open_charge: bool
    open_discharge: bool
    sleep_requested: bool
    latched: bool
    power_pressed: bool = False
    power_long_pressed: bool = False
    reset_pressed: bool = False


@dataclass(frozen=True, slots=True)
class ModuleState:
    """The machine's state: where it is, since when, and the timers of its rules."""

    state: BmsState = BmsState.SHUTDOWN
    since_s: float = 0.0
    sleep_timer_start_s: float | None = None
    charge_opened_s: float | None = None
    discharge_opened_s: float | None = None
    restarted: bool = False
    rest_since_s: float | None = None


@dataclass(frozen=True, slots=True)
class StateOutputs:
    """What the state machine commands."""

    charge_fet_on: bool
    discharge_fet_on: bool
    power: str  # "off", "sleep", "standby" or "active" (the BMS supply draw, twin/frontpanel BMS_SUPPLY_DRAW_A)
    read_dip: bool  # the DIP switches are read now (start and RESET only)


Rule = tuple[str, Callable[[ModuleState, StateInputs, StateParams], bool], BmsState]


def _can_start(_: ModuleState, i: StateInputs, p: StateParams) -> bool:
    return i.pack_voltage_v >= p.deep_discharge_restart_v


def _brown_out(_: ModuleState, i: StateInputs, p: StateParams) -> bool:
    return i.pack_voltage_v < p.deep_discharge_restart_v


def _sleep_due(s: ModuleState, i: StateInputs, p: StateParams) -> bool:
    return (
        s.sleep_timer_start_s is not None
        and i.now_s - s.sleep_timer_start_s >= p.sleep_after_low_voltage_s
        and i.current_a <= p.wake_charge_current_a
    )


def _charging(_: ModuleState, i: StateInputs, p: StateParams) -> bool:
    return i.current_a > p.wake_charge_current_a


def _protected(_: ModuleState, i: StateInputs, __: StateParams) -> bool:
    return i.open_charge or i.open_discharge


def _unprotected(s: ModuleState, i: StateInputs, p: StateParams) -> bool:
    return not (i.open_charge or i.open_discharge)


def _latched(_: ModuleState, i: StateInputs, __: StateParams) -> bool:
    return i.latched


#: Current below which a module is at rest, and how long it must stay there before Charge/Discharge ends, so a
#: current hovering near the threshold does not make the state (and the LEDs) flicker.
REST_CURRENT_A = 0.5
REST_HOLD_S = 10.0


def _flow(direction: int) -> Callable[[ModuleState, StateInputs, StateParams], bool]:
    def rule(s: ModuleState, i: StateInputs, p: StateParams) -> bool:
        start = p.wake_charge_current_a
        if direction > 0:
            return i.current_a > start
        if direction < 0:
            return i.current_a < -start
        return s.rest_since_s is not None and i.now_s - s.rest_since_s >= REST_HOLD_S

    return rule


_RUNNING = (BmsState.STANDBY, BmsState.CHARGE, BmsState.DISCHARGE, BmsState.PROTECTION, BmsState.FAULT)

#: The transition table: from-state -> ordered rules (first match wins). Button rules are applied before it.
TRANSITIONS: dict[BmsState, tuple[Rule, ...]] = {
    BmsState.SHUTDOWN: (),
    BmsState.SLEEP: (
        ("voltage too low to keep the BMS powered", _brown_out, BmsState.SHUTDOWN),
        ("charging wakes the module", _charging, BmsState.STANDBY),
    ),
    **{
        state: (
            ("a fault is latched (system failure)", _latched, BmsState.FAULT),
            ("low-voltage protection held: sleep", _sleep_due, BmsState.SLEEP),
            ("protection opened a MOSFET", _protected, BmsState.PROTECTION),
            ("charging", _flow(+1), BmsState.CHARGE),
            ("discharging", _flow(-1), BmsState.DISCHARGE),
            ("at rest", _flow(0), BmsState.STANDBY),
        )
        for state in (BmsState.STANDBY, BmsState.CHARGE, BmsState.DISCHARGE)
    },
    BmsState.PROTECTION: (
        ("a fault is latched (system failure)", _latched, BmsState.FAULT),
        ("low-voltage protection held: sleep", _sleep_due, BmsState.SLEEP),
        ("protection released", _unprotected, BmsState.STANDBY),
    ),
    BmsState.FAULT: (("fault cleared by service", lambda s, i, p: not i.latched, BmsState.STANDBY),),
}


class ModuleStateMachine:
    """The state machine of one module."""

    def __init__(self, params: StateParams, state: ModuleState | None = None) -> None:
        self.params = params
        self.state = state or ModuleState()

    def step(self, i: StateInputs) -> tuple[StateOutputs, str | None]:
        """Advance one second (or one event); return the outputs and the reason of a transition, if any."""
        p = self.params
        s = self.state
        s = self._timers(s, i)
        new, reason = self._buttons(s, i)
        if new is None:
            for why, rule, target in TRANSITIONS[s.state]:
                if rule(s, i, p) and target != s.state:
                    new, reason = target, why
                    break
        restarted = False
        if new is not None and new != s.state:
            restarted = s.state in (BmsState.SHUTDOWN, BmsState.SLEEP) or reason == "RESET restarts the BMS"
            keep_timer = new in _RUNNING and not restarted
            timer = s.sleep_timer_start_s if keep_timer else None
            s = replace(s, state=new, since_s=i.now_s, sleep_timer_start_s=timer, restarted=restarted)
        elif reason == "RESET restarts the BMS":
            restarted = True
            s = replace(s, since_s=i.now_s, sleep_timer_start_s=None, restarted=True)
        else:
            s = replace(s, restarted=False)
        self.state = s
        return self._outputs(s, i, restarted), reason

    def _timers(self, s: ModuleState, i: StateInputs) -> ModuleState:
        if abs(i.current_a) < REST_CURRENT_A:
            if s.rest_since_s is None:
                s = replace(s, rest_since_s=i.now_s)
        elif s.rest_since_s is not None:
            s = replace(s, rest_since_s=None)
        if s.state in _RUNNING and i.sleep_requested and i.current_a <= self.params.wake_charge_current_a:
            if s.sleep_timer_start_s is None:
                s = replace(s, sleep_timer_start_s=i.now_s)
        else:
            s = replace(s, sleep_timer_start_s=None)
        if i.open_charge and s.charge_opened_s is None:
            s = replace(s, charge_opened_s=i.now_s)
        if i.open_discharge and s.discharge_opened_s is None:
            s = replace(s, discharge_opened_s=i.now_s)
        return s

    def _buttons(self, s: ModuleState, i: StateInputs) -> tuple[BmsState | None, str | None]:
        able = i.pack_voltage_v >= self.params.deep_discharge_restart_v
        if i.power_long_pressed and s.state != BmsState.SHUTDOWN:
            return BmsState.SHUTDOWN, "ON/OFF held: shut down"
        if i.reset_pressed and able and s.state != BmsState.SHUTDOWN:
            return BmsState.STANDBY, "RESET restarts the BMS"
        if (i.power_pressed or i.reset_pressed) and s.state in (BmsState.SHUTDOWN, BmsState.SLEEP):
            if _can_start(s, i, self.params):
                return BmsState.STANDBY, "ON/OFF starts the BMS" if i.power_pressed else "RESET restarts the BMS"
            return None, "voltage too low to start the BMS (charge to 40 V first)"
        return None, None

    def _outputs(self, s: ModuleState, i: StateInputs, restarted: bool) -> StateOutputs:
        guard = self.params.oscillation_guard_s
        st = s.state
        if st == BmsState.SHUTDOWN:
            return StateOutputs(False, False, "off", False)
        if st == BmsState.SLEEP:
            return StateOutputs(True, False, "sleep", False)
        if st == BmsState.FAULT:
            return StateOutputs(False, False, "active", restarted)
        charge = not i.open_charge and not _guarded(s.charge_opened_s, i.now_s, guard)
        discharge = not i.open_discharge and not _guarded(s.discharge_opened_s, i.now_s, guard)
        if not i.open_charge and s.charge_opened_s is not None and charge:
            self.state = replace(self.state, charge_opened_s=None)
        if not i.open_discharge and s.discharge_opened_s is not None and discharge:
            self.state = replace(self.state, discharge_opened_s=None)
        power = "standby" if st == BmsState.STANDBY else "active"
        return StateOutputs(charge, discharge, power, restarted)


def _guarded(opened_s: float | None, now_s: float, guard_s: float) -> bool:
    return opened_s is not None and now_s - opened_s < guard_s
