"""The BMS of every module of a bank, one second at a time.

Each module runs its own BMS; they are stepped together so the per-second work is vectorised. One step:

1. readings -> protection quantities (``quantities.py``);
2. the protection table trips, releases and locks rows; every change becomes an event that says what, when, the
   value, the threshold and the action (``protection.py``, ``events.py``);
3. each module's state machine turns buttons, the measured current and the protection actions into MOSFET
   commands and the BMS power state (``states.py``);
4. SOC and SOH estimation (``soc/``), passive balancing (``balancing.py``), inverter limits (``limits.py``),
   counters (``events.py``) and the LED row of Table 6-4 (``leds.py``).

The BMS sees only :class:`~ml314.twin.sensors.SensorArrays`-shaped readings, never the twin's truth. This is the
reference implementation: the runtime uses it in real time and the compiled closed loop of ``ml314 simulate`` is
tested against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ml314.bms.balancing import Balancer
from ml314.bms.events import Counters, Event, EventLog, event_from_change
from ml314.bms.leds import LedMode, led_mode, led_outputs
from ml314.bms.limits import (
    IN_BALANCING,
    IN_BANK_FULL_REQUEST,
    IN_CELL_MAX_V,
    IN_CELL_MIN_V,
    IN_CHARGE_ALLOWED,
    IN_COLS,
    IN_DERATE_CHARGE,
    IN_DERATE_DISCHARGE,
    IN_DISCHARGE_ALLOWED,
    IN_MOSFET_C,
    IN_PACK_V,
    IN_SOC,
    IN_SOC_BOUND,
    IN_TEMPERATURE_MAX_C,
    IN_TEMPERATURE_MIN_C,
    OUT_CCL_A,
    OUT_CVL_V,
    OUT_DCL_A,
    OUT_DVL_V,
    OUT_FULL_CHARGE_REQUEST,
    OUT_MODE,
    ChargeLimiter,
)
from ml314.bms.limits_control import MODE_FLOAT
from ml314.bms.limits_derating import compile_limit_params
from ml314.bms.parameters import BmsParameters, Level
from ml314.bms.protection import (
    ACT_DERATE,
    ACT_OPEN_CHARGE,
    ACT_OPEN_DISCHARGE,
    ACT_SLEEP,
    CH_RELEASE,
    N_QUANTITIES,
    S_LOCKED,
    Change,
    ProtectionTable,
)
from ml314.bms.quantities import (
    Q_BOARD_TEMPERATURE_C,
    Q_CELL_TEMPERATURE_MAX_C,
    Q_CELL_TEMPERATURE_MIN_C,
    Q_CELL_VOLTAGE_MAX_V,
    Q_CELL_VOLTAGE_MIN_V,
    Q_MOSFET_TEMPERATURE_C,
    Q_PACK_VOLTAGE_V,
    compute_quantities,
    suspect_sensor,
)
from ml314.bms.soc import SOC_ESTIMATORS, SocEstimator
from ml314.bms.soc.common import S_A_SOC, S_SOC, S_STARTED
from ml314.bms.states import BmsState, ModuleStateMachine, StateInputs
from ml314.domain.leds import LedOutputs
from ml314.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Buttons:
    """Front-panel button events of one module during the last second."""

    power_pressed: bool = False
    power_long_pressed: bool = False
    reset_pressed: bool = False


NO_BUTTONS = Buttons()


@dataclass(frozen=True)
class BmsReadings:
    """What the BMS measured this second, for every module (the shapes of ``SensorArrays``)."""

    cell_voltage_v: np.ndarray  # (n, 16)
    pack_voltage_v: np.ndarray  # (n,)
    current_a: np.ndarray  # (n,), positive charging
    ntc_c: np.ndarray  # (n, 4)
    mosfet_c: np.ndarray  # (n,)
    board_c: np.ndarray  # (n,)


@dataclass
class BmsOutputs:
    """What the BMS commands and reports after a step, per module."""

    charge_fet_on: np.ndarray
    discharge_fet_on: np.ndarray
    power_state: list[str]
    balancing: np.ndarray  # (n, 16) bool
    cvl_v: np.ndarray
    ccl_a: np.ndarray
    dcl_a: np.ndarray
    dvl_v: np.ndarray
    soc: np.ndarray
    soc_uncertainty: np.ndarray
    states: list[BmsState]
    led_modes: list[LedMode]
    read_dip: list[bool]
    new_events: list[Event] = field(default_factory=list)


class Bms:
    """The BMS firmware of ``n_modules`` modules."""

    def __init__(
        self,
        params: BmsParameters,
        module_ids: tuple[int, ...],
        *,
        estimator: str | None = None,
        initial_soc: float | None = None,
        initial_uncertainty: float = 1.0,
    ) -> None:
        """``initial_soc`` with ``initial_uncertainty`` is the estimator's start (a stored estimate); with None
        every estimator starts from the OCV of its first reading, never from anything else."""
        n = len(module_ids)
        self.params = params
        self.module_ids = module_ids
        self.n_modules = n
        self.protection = ProtectionTable(params, n)
        self.machines = [ModuleStateMachine(params.states) for _ in range(n)]
        name = estimator or params.soc.estimator
        self.estimator: SocEstimator = SOC_ESTIMATORS[name](
            params, n, initial_soc=initial_soc, initial_uncertainty=initial_uncertainty
        )
        bound = params.soc.full_charge_request_bound
        self.limiter = ChargeLimiter(
            params.limits, n, compiled=compile_limit_params(params.limits, full_charge_request_bound=bound)
        )
        self.balancer = Balancer(params, n)
        self.events = EventLog()
        self.counters = Counters(n, capacity_ah=params.soc.capacity_ah)
        self.quantities = np.zeros((n, N_QUANTITIES))
        self.charge_fet = np.zeros(n)
        self.discharge_fet = np.zeros(n)
        self.rest_s = np.zeros(n)
        self.fault_started_s: list[float | None] = [None] * n
        self.power_state: list[str] = ["off"] * n
        self.read_dip: list[bool] = [False] * n
        self._limit_inputs = np.zeros((n, IN_COLS))
        self.outputs: BmsOutputs | None = None

    def step(self, r: BmsReadings, now_s: float, dt_s: float, buttons: list[Buttons] | None = None) -> BmsOutputs:
        """One second of every module's BMS: :meth:`measure`, :meth:`decide`, :meth:`control`."""
        events = self.measure(r, now_s, dt_s)
        return self.control(r, now_s, dt_s, events + self.decide(r, now_s, buttons))

    def measure(self, r: BmsReadings, now_s: float, dt_s: float) -> list[Event]:
        """Phase 1: protection quantities, the protection table, SOC estimation, rest time."""
        compute_quantities(
            r.cell_voltage_v, r.pack_voltage_v, r.current_a, r.ntc_c, r.mosfet_c, r.board_c,
            self.charge_fet, self.discharge_fet, self.quantities,
        )  # fmt: skip
        events = [self._event(c, now_s, r) for c in self.protection.evaluate(self.quantities, r.current_a, now_s, dt_s)]
        path_open = ((self.charge_fet < 0.5) & (self.discharge_fet < 0.5)).astype(float)
        self.estimator.step(r.current_a, r.cell_voltage_v, r.ntc_c, path_open, now_s, dt_s)
        self.rest_s = np.where(np.abs(r.current_a) < self.params.rest_current_a, self.rest_s + dt_s, 0.0)
        return events

    def protection_events(self, r: BmsReadings, now_s: float) -> list[Event]:
        """Events of the protection changes left in the table by a compiled evaluation at ``now_s``."""
        return [self._event(c, now_s, r) for c in self.protection.collect()]

    def decide(self, r: BmsReadings, now_s: float, buttons: list[Buttons] | None = None) -> list[Event]:
        """Phase 2: each module's state machine turns buttons, current and protection into MOSFETs and power."""
        presses = buttons or [NO_BUTTONS] * self.n_modules
        actions = self.protection.actions
        q = self.quantities
        events: list[Event] = []
        for m, machine in enumerate(self.machines):
            latched = any(row.latch for row in self.protection.locked(m))
            before = machine.state.state
            out, reason = machine.step(
                StateInputs(
                    now_s=now_s,
                    current_a=float(r.current_a[m]),
                    pack_voltage_v=float(q[m, Q_PACK_VOLTAGE_V]),
                    open_charge=bool(actions[m] & ACT_OPEN_CHARGE),
                    open_discharge=bool(actions[m] & ACT_OPEN_DISCHARGE),
                    sleep_requested=bool(actions[m] & ACT_SLEEP),
                    latched=latched,
                    power_pressed=presses[m].power_pressed,
                    power_long_pressed=presses[m].power_long_pressed,
                    reset_pressed=presses[m].reset_pressed,
                )
            )
            if presses[m].reset_pressed and machine.state.state != BmsState.SHUTDOWN:
                self.protection.clear(m)  # RESET clears lockouts (not latches)
            self.charge_fet[m] = float(out.charge_fet_on)
            self.discharge_fet[m] = float(out.discharge_fet_on)
            self.power_state[m] = out.power
            self.read_dip[m] = out.read_dip
            if reason is None:
                continue
            mid = self.module_ids[m]
            now = machine.state.state
            if now != before or out.read_dip:
                message = f"Module {mid}: {before.name.lower()} -> {now.name.lower()}: {reason}"
                events.append(Event(t_s=now_s, module_id=mid, kind="state", key=f"state.{now.name.lower()}",
                                    message=message))  # fmt: skip
            else:
                events.append(Event(t_s=now_s, module_id=mid, kind="info", key="state.refused", message=reason))
        return events

    def control(self, r: BmsReadings, now_s: float, dt_s: float, events: list[Event]) -> BmsOutputs:
        """Phase 3: balancing, inverter limits, counters and the LED rows; logs ``events``."""
        q = self.quantities
        actions = self.protection.actions
        soc = np.asarray(self.estimator.soc)
        states = [machine.state.state for machine in self.machines]
        running = np.array([s not in (BmsState.SHUTDOWN, BmsState.SLEEP) for s in states])
        inhibit = ((actions & (ACT_OPEN_CHARGE | ACT_OPEN_DISCHARGE)) != 0) | ~running
        mask = self.balancer.step(
            r.cell_voltage_v,
            r.current_a,
            q[:, Q_CELL_TEMPERATURE_MAX_C],
            q[:, Q_BOARD_TEMPERATURE_C],
            inhibit.astype(float),
            self.rest_s,
            now_s,
            dt_s,
        )
        balancing = np.asarray(mask, dtype=bool) & running[:, None]
        li = self._limit_inputs
        li[:, IN_CELL_MAX_V] = q[:, Q_CELL_VOLTAGE_MAX_V]
        li[:, IN_CELL_MIN_V] = q[:, Q_CELL_VOLTAGE_MIN_V]
        li[:, IN_PACK_V] = r.cell_voltage_v.sum(axis=1)
        li[:, IN_TEMPERATURE_MAX_C] = q[:, Q_CELL_TEMPERATURE_MAX_C]
        li[:, IN_TEMPERATURE_MIN_C] = q[:, Q_CELL_TEMPERATURE_MIN_C]
        li[:, IN_MOSFET_C] = q[:, Q_MOSFET_TEMPERATURE_C]
        li[:, IN_SOC] = soc
        li[:, IN_SOC_BOUND] = self.estimator.request_bound
        li[:, IN_BANK_FULL_REQUEST] = float((self.limiter.outputs[:, OUT_FULL_CHARGE_REQUEST] > 0.5).any())
        li[:, IN_CHARGE_ALLOWED] = self.charge_fet * running
        li[:, IN_DISCHARGE_ALLOWED] = self.discharge_fet * running
        derate = ((actions & ACT_DERATE) != 0).astype(float)
        li[:, IN_DERATE_CHARGE] = derate
        li[:, IN_DERATE_DISCHARGE] = derate
        li[:, IN_BALANCING] = balancing.any(axis=1)
        lim = self.limiter.step(li, now_s, dt_s)
        self.counters.update(r.current_a, q[:, Q_PACK_VOLTAGE_V], q[:, Q_CELL_TEMPERATURE_MIN_C],
                             q[:, Q_CELL_TEMPERATURE_MAX_C], soc, dt_s)  # fmt: skip
        self.counters.add_balancing(balancing, dt_s)
        modes = self.led_modes(now_s)
        for event in events:
            self.events.append(event)
        self.outputs = BmsOutputs(
            charge_fet_on=self.charge_fet.astype(bool),
            discharge_fet_on=self.discharge_fet.astype(bool),
            power_state=list(self.power_state),
            balancing=balancing,
            cvl_v=lim[:, OUT_CVL_V].copy(),
            ccl_a=lim[:, OUT_CCL_A].copy(),
            dcl_a=lim[:, OUT_DCL_A].copy(),
            dvl_v=lim[:, OUT_DVL_V].copy(),
            soc=soc.copy(),
            soc_uncertainty=np.asarray(self.estimator.uncertainty).copy(),
            states=states,
            led_modes=modes,
            read_dip=list(self.read_dip),
            new_events=events,
        )
        return self.outputs

    def led_modes(self, now_s: float) -> list[LedMode]:
        """The Table 6-4 row of every module now (and when its fault code started)."""
        modes = []
        for m, machine in enumerate(self.machines):
            complete = self.limiter.outputs[m, OUT_MODE] >= MODE_FLOAT
            mode = led_mode(machine.state.state, self.protection.active(m), charge_complete=bool(complete))
            if mode in (LedMode.FAULT_CELL_IMBALANCE, LedMode.FAULT_TEMPERATURE_SENSOR, LedMode.FAULT_BMS_DAMAGED):
                if self.fault_started_s[m] is None:
                    self.fault_started_s[m] = now_s
            else:
                self.fault_started_s[m] = None
            modes.append(mode)
        return modes

    def export_state(self) -> dict[str, object]:
        """What survives a restart (the firmware's non-volatile memory): the estimator's state (SOC, learned capacity,
        resistance and current offset), the protection rows' lockouts and latches, the balancer's plan and the
        limiter's full-charge bookkeeping. The event log and the counters are saved beside it."""
        return {
            "version": 1,
            "module_ids": list(self.module_ids),
            "estimator": self.estimator.state.tolist(),
            "protection": self.protection.state.tolist(),
            "limiter": self.limiter.state.tolist(),
            "balancer": self.balancer.state.tolist(),
        }

    def import_state(self, state: dict[str, object], events: EventLog, counters: Counters) -> None:
        """Restore what :meth:`export_state` saved, with the saved log and counters. A latched or locked-out
        protection row stays so; rows that were only tripped re-evaluate from the first reading."""
        if state.get("module_ids") != list(self.module_ids):
            raise ConfigError(f"saved BMS state is for modules {state.get('module_ids')}, not {list(self.module_ids)}")
        shapes = {
            "estimator": self.estimator.state,
            "protection": self.protection.state,
            "limiter": self.limiter.state,
            "balancer": self.balancer.state,
        }
        for key, target in shapes.items():
            value = np.asarray(state.get(key), dtype=float)
            older = value.ndim == 2 and value.shape[0] == target.shape[0] and value.shape[1] < target.shape[1]
            if key in ("estimator", "limiter") and older:
                # saved by an older firmware with fewer columns: the new columns keep their fresh values
                value = np.concatenate([value, target[:, value.shape[1] :]], axis=1)
                if key == "estimator":
                    value[:, S_A_SOC] = value[:, S_SOC]
            if value.shape != target.shape:
                raise ConfigError(f"saved BMS state: {key} has shape {value.shape}, expected {target.shape}")
            target[...] = value
        self.estimator.state[:, S_STARTED] = 1.0  # the stored estimate is the start, not the first OCV
        prot = self.protection.state
        keep = prot[..., S_LOCKED] > 0.5
        prot[~keep] = 0.0
        self.protection.idle[:] = 0.0
        self.events = events
        self.counters = counters

    def leds(self, module_index: int, t_s: float) -> LedOutputs:
        """What the six LEDs of one module show at ``t_s``."""
        if self.outputs is None:
            return LedOutputs()
        return led_outputs(
            self.outputs.led_modes[module_index],
            float(self.outputs.soc[module_index]),
            t_s,
            self.fault_started_s[module_index],
        )

    def _event(self, change: Change, now_s: float, r: BmsReadings) -> Event:
        m = change.module_index
        sensor = ""
        if change.row.name in ("temperature_sensor", "voltage_sensor", "cell_imbalance") and change.code != CH_RELEASE:
            sensor = suspect_sensor(r.ntc_c[m], r.cell_voltage_v[m])
        if change.code != CH_RELEASE and change.row.level >= Level.PROTECTION:
            self.counters.count_trip(m, change.row.key)
        return event_from_change(change, now_s, self.module_ids[m], sensor=sensor)
