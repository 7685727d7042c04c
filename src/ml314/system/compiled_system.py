"""The bank with its BMS on the compiled closed loop (``closed_loop.py``), driven chunk by chunk.

Same behaviour as :class:`ml314.system.reference_system.ReferenceBankSystem` (tested against it); built for
speed: the twin, the sensors and phases A and B of every BMS run compiled, and Python steps the state machines
only on the seconds where one of them could act.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Protocol

import numpy as np

from ml314.bms.bms import Bms, BmsReadings, Buttons
from ml314.bms.limits import ST_CCL_A, ST_CCL_HELD_S, ST_CCL_WINDOW_A, ST_DCL_A, ST_DCL_HELD_S, ST_DCL_WINDOW_A
from ml314.bms.parameters import BmsParameters
from ml314.bms.soc import ESTIMATOR_IDS, SOC_ESTIMATORS
from ml314.bms.states import REST_CURRENT_A, REST_HOLD_S, BmsState
from ml314.domain.limits import ChargeLimits
from ml314.system import closed_loop as cl
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.frontpanel import BMS_SUPPLY_DRAW_A
from ml314.twin.sensor_kernel import F_COLS, N_NOISE, N_NTC_STATE, calibrate, fault_row
from ml314.twin.sensors import SensorFault, SensorSpec


def _noise_blocks(rng: np.random.Generator, shape: tuple[int, int, int]) -> Iterator[np.ndarray]:
    """Standard normals for the sensors, one block after another (the order SensorBank draws them in)."""
    while True:
        yield rng.standard_normal(shape)


class CompiledLinkPort(Protocol):
    """What the loop needs of a compiled bank link (:class:`ml314.system.fast_link.CompiledLink`)."""

    @property
    def arrays(self) -> LinkArrays:
        """The kernel's arrays (``closed_loop.run_closed_loop``'s ``link``)."""

    def before_second(self, now_s: float) -> None:
        """Run link second ``now_s`` on bytes and impose its limits."""

    def after_second(self) -> None:
        """That second is stepped: hand the link back to the kernel."""

    def sync_endpoints(self) -> None:
        """Cables plugged or pulled since the last call reach the kernel."""


LinkArrays = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray, np.ndarray
]
_NO_LINK: LinkArrays = (
    np.zeros((1, 1)),
    np.zeros((1, 1)),
    np.zeros(1),
    np.zeros(1, dtype=np.uint64),
    (np.zeros(1), np.zeros(1), np.zeros((1, 1))),
    np.zeros((1, 1)),
    np.zeros((2, 1), dtype=np.int64),
)


#: the current thresholds each state's rules read (states.py TRANSITIONS and ModuleStateMachine._timers)
_WATCH = {
    BmsState.SHUTDOWN: 0,
    BmsState.FAULT: 0,
    BmsState.SLEEP: cl.W_ABOVE_WAKE,
    BmsState.PROTECTION: cl.W_ABOVE_WAKE,
    BmsState.STANDBY: cl.W_ABOVE_WAKE | cl.W_BELOW_WAKE,
    BmsState.CHARGE: cl.W_BELOW_WAKE | cl.W_REST_TIMER,
    BmsState.DISCHARGE: cl.W_ABOVE_WAKE | cl.W_REST_TIMER,
}


class CompiledBankSystem:
    """A bank of modules, each with its BMS, stepped by the compiled closed loop."""

    def __init__(
        self,
        bank: Bank,
        params: BmsParameters,
        *,
        sensor_spec: SensorSpec | None = None,
        seed: int = 1,
        estimator: str | None = None,
        initial_soc_estimate: float | None = None,
        initial_soc_uncertainty: float = 0.2,
        refresh_every: int = 60,
        noise_block_steps: int = 4096,
        powered: bool = True,
        wrap_noise: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]] | None = None,
    ) -> None:
        n = bank.n_modules
        self.bank = bank
        self.params = params
        self.n_modules = n
        self.module_ids = tuple(range(1, n + 1))
        name = estimator or params.soc.estimator
        # the BMS never starts from the twin's truth: from an estimate given (a stored state) with its bound, or,
        # with none, from the OCV of its first reading
        self.bms = Bms(
            params,
            self.module_ids,
            estimator=name,
            initial_soc=initial_soc_estimate,
            initial_uncertainty=initial_soc_uncertainty,
        )
        self.estimator_id = ESTIMATOR_IDS[name]
        assert isinstance(self.bms.estimator, SOC_ESTIMATORS[name])
        cal = calibrate(sensor_spec or SensorSpec(), n, seed)
        self._cal = cal
        self.faults = np.empty((0, F_COLS))
        self.ntc_state = np.full((n, N_NTC_STATE), np.nan)
        self._noise = np.empty((0, n, N_NOISE))
        self._noise_pos = 0
        blocks = _noise_blocks(cal.rng, (noise_block_steps, n, N_NOISE))
        self._noise_blocks = wrap_noise(blocks) if wrap_noise is not None else blocks
        self.readings = (
            np.zeros((n, 16)),
            np.zeros(n),
            np.zeros(n),
            np.zeros((n, 4)),
            np.zeros(n),
            np.zeros(n),
        )
        self.running = np.zeros(n)
        self.machine_state = np.zeros(n)
        self.last_class = np.zeros(n, dtype=np.int64)  # the W_* flags at the last decision
        self.watch = np.zeros(n, dtype=np.int64)
        self.rest_since = np.full(n, np.nan)
        self.sleeping = np.zeros(n)
        self.led_mode_ids = np.zeros(n)
        self.fault_started = np.full(n, np.nan)
        self.bank_limits = np.array([0.0, -1.0, 0.0, 0.0])
        self.bank_work = np.zeros((cl.BANK_WORK_ROWS, n))
        self.limits_imposed = False  # this advance's bank limits come from a presenter (impose_limits)
        self.link: CompiledLinkPort | None = None  # the compiled bank link, when a master presents the bank
        self.isolated = np.zeros(n, dtype=bool)  # held off the bus by the bank master (MOSFETs open)
        self.path_open = np.zeros(n)
        self.step_info = np.zeros(cl.SI_ROWS)
        self.loop_scalars = np.zeros(cl.LS_ROWS)
        self.loop_scalars[cl.LS_WAKE_A] = params.states.wake_charge_current_a
        self.loop_scalars[cl.LS_REST_A] = REST_CURRENT_A
        self.loop_scalars[cl.LS_RESTART_V] = params.states.deep_discharge_restart_v
        self.loop_scalars[cl.LS_REST_CURRENT_A] = params.rest_current_a
        self.loop_scalars[cl.LS_REST_HOLD_S] = REST_HOLD_S
        self.refresh_every = refresh_every
        self.next_wakeup_s = math.inf
        self._pending = [Buttons() for _ in range(n)]
        self._has_pending = False
        self._home = np.zeros(k.HP_ROWS)
        self._sums = np.zeros(k.SUM_ROWS)
        self._rows = np.zeros((1, k.ROW_BANK_COLUMNS + n * k.ROW_MODULE_COLUMNS))
        self._bms_rows = np.zeros((1, cl.ROW_BMS_BANK + n * cl.ROW_BMS_MODULE))
        bank.mod_par[k.MP_CHARGE_FET_ON] = 0.0
        bank.mod_par[k.MP_DISCHARGE_FET_ON] = 0.0
        bank.mod_par[k.MP_BMS_SUPPLY_A] = 0.0
        if powered:
            self.press(range(n), power=True)
            inputs = np.zeros((k.IN_ROWS, 1))
            inputs[k.IN_AMBIENT_C, 0] = float(bank.mod_state[k.MS_ENCLOSURE_C].mean())
            self.advance(1, k.MODE_CURRENT, inputs)

    @property
    def t_s(self) -> float:
        """Simulated time."""
        return self.bank.step_index * self.bank.dt_s

    def close(self) -> None:
        """Release what the noise source holds (a prefetching thread)."""
        close = getattr(self._noise_blocks, "close", None)
        if close is not None:
            close()

    # ----------------------------------------------------------------- commands
    def press(
        self, modules: range | list[int], *, power: bool = False, long: bool = False, reset: bool = False
    ) -> None:
        """Queue button presses for the next second."""
        for m in modules:
            b = self._pending[m]
            self._pending[m] = Buttons(b.power_pressed or power, b.power_long_pressed or long, b.reset_pressed or reset)
        self._has_pending = True

    def impose_limits(self, limits: ChargeLimits | None) -> None:
        """The limits the inverter obeys for the next :meth:`advance` call, in place of the loop's own aggregation
        (which then stands aside until that call ends). ``None``: the inverter knows no limits, so it moves no
        current."""
        bl = self.bank_limits
        self.limits_imposed = True
        if limits is None:
            bl[cl.BL_CCL] = 0.0
            bl[cl.BL_DCL] = 0.0
            return
        bl[cl.BL_CVL], bl[cl.BL_DVL] = limits.cvl_v, limits.dvl_v
        bl[cl.BL_CCL], bl[cl.BL_DCL] = limits.ccl_a, limits.dcl_a

    def isolate(self, module: int, on: bool) -> None:
        """Hold module ``module`` off the bus (both MOSFETs open) or release it to its BMS's own decision.

        The bank master does this to a module that dropped out until its voltage matches the bus again.
        """
        if bool(self.isolated[module]) == on:
            return
        self.isolated[module] = on
        if on:
            self._open(module)
        else:
            # released by the master: the current limits start afresh, as at power-on (their hold after a zero is
            # for recoveries from a protection, not for a commanded stay off the bus)
            st = self.bms.limiter.state
            for col in (ST_CCL_A, ST_DCL_A, ST_CCL_WINDOW_A, ST_DCL_WINDOW_A):
                st[module, col] = math.inf
            st[module, ST_CCL_HELD_S] = 0.0
            st[module, ST_DCL_HELD_S] = 0.0
        self._has_pending = True  # the next second re-runs the state machines, which restore the MOSFETs

    def _open(self, m: int) -> None:
        self.bms.charge_fet[m] = 0.0
        self.bms.discharge_fet[m] = 0.0
        self.bank.mod_par[k.MP_CHARGE_FET_ON, m] = 0.0
        self.bank.mod_par[k.MP_DISCHARGE_FET_ON, m] = 0.0

    def inject(self, fault: SensorFault) -> None:
        """Inject a sensor fault now."""
        self.faults = np.vstack([self.faults, fault_row(fault, self.t_s, self.n_modules)[None, :]])

    # ----------------------------------------------------------------- stepping
    def advance(
        self,
        n_steps: int,
        mode: int,
        inputs: np.ndarray,
        *,
        home: np.ndarray | None = None,
        sample_every: int = 10**9,
        rows: np.ndarray | None = None,
        bms_rows: np.ndarray | None = None,
        obey_limits: bool = True,
    ) -> int:
        """Advance ``n_steps`` seconds (each column of ``inputs`` is one); return the sample rows written."""
        b = self.bank
        dt = b.dt_s
        home_row = self._home if home is None else home
        rows_out = self._rows if rows is None else rows
        bms_out = self._bms_rows if bms_rows is None else bms_rows
        done = 0
        n_rows = 0
        link = self.link
        on_bytes = False  # this call runs one second of the link on bytes
        if link is not None:
            link.sync_endpoints()
        while done < n_steps:
            if self._noise_pos >= self._noise.shape[0]:
                self._noise = next(self._noise_blocks)
                self._noise_pos = 0
            n = 1 if on_bytes else min(n_steps - done, self._noise.shape[0] - self._noise_pos)
            wake = self.t_s + dt if self._has_pending else self.next_wakeup_s
            ran, nr, stop = cl.run_closed_loop(
                n,
                dt,
                b.step_index,
                mode,
                (b.ocv_tab, b.hys_tab, b.dudt_tab, b.rfac_tab),
                b.cell_state,
                b.cell_par,
                b.cell_work,
                b.mod_state,
                b.mod_par,
                b.sc,
                np.ascontiguousarray(inputs[:, done : done + n]),
                home_row,
                self.refresh_every,
                b.acc,
                self._sums,
                (self._cal.gain_factor, self._cal.offset, self._cal.channel_par, self.faults),
                np.array([self._cal.ntc_tau_s, self._cal.ntc_min_c]),
                self._noise,
                self._noise_pos,
                self.ntc_state,
                self.readings,
                (self.bms.charge_fet, self.bms.discharge_fet, self.running),
                self.bms.quantities,
                (
                    self.bms.protection.table,
                    self.bms.protection.state,
                    self.bms.protection.actions,
                    self.bms.protection.changes,
                    self.bms.protection.bands,
                    self.bms.protection.idle,
                ),
                self.estimator_id,
                (self.bms.estimator.state, self.bms.estimator.params),  # type: ignore[attr-defined]
                self.path_open,
                self.bms.rest_s,
                (self.bms.balancer.state, self.bms.balancer.params_vec, self.bms.balancer.mask),
                (self.bms.limiter.state, self.bms.limiter.params, self.bms._limit_inputs, self.bms.limiter.outputs),
                (
                    self.bms.counters.values,
                    self.bms.counters.thresholds,
                    self.bms.counters.capacity_ah,
                    self.bms.counters.balancing_s,
                ),
                self.bank_limits,
                (self.machine_state, self.last_class, self.sleeping, self.watch, self.rest_since),
                self.loop_scalars,
                wake,
                sample_every,
                rows_out[n_rows:],
                bms_out[n_rows:],
                (self.led_mode_ids, self.fault_started),
                self.step_info,
                obey_limits,
                self.bank_work,
                self.limits_imposed,
                link is not None and not on_bytes,
                link.arrays if link is not None else _NO_LINK,
            )
            b.step_index += int(ran)
            self._noise_pos += int(ran)
            done += int(ran)
            n_rows += int(nr)
            if stop == cl.STOP_BMS:
                n_rows += self._complete_step(sample_every, rows_out, bms_out, n_rows)
            if on_bytes:
                assert link is not None
                link.after_second()
                on_bytes = False
            if stop == cl.STOP_LINK:
                assert link is not None
                link.before_second(self.t_s)
                on_bytes = True
        self.limits_imposed = False  # imposed limits hold for one call (the caller imposes again before the next)
        return n_rows

    def _complete_step(self, sample_every: int, rows: np.ndarray, bms_rows: np.ndarray, at_row: int) -> int:
        """Finish a second the loop returned on: state machines, phase B, the sample row if due."""
        b = self.bank
        now = self.t_s
        r = BmsReadings(*self.readings)
        for m, machine in enumerate(self.bms.machines):
            if self.watch[m] & cl.W_REST_TIMER:  # the loop kept this timer: hand it back
                since = self.rest_since[m]
                machine.state = replace(machine.state, rest_since_s=None if math.isnan(since) else float(since))
        events = self.bms.protection_events(r, now)
        events += self.bms.decide(r, now, self._pending if self._has_pending else None)
        self._pending = [Buttons() for _ in range(self.n_modules)]
        self._has_pending = False
        self._after_decide(r)
        dirty = cl.control_step(
            now,
            b.dt_s,
            self.readings[0],
            self.readings[2],
            self.bms.quantities,
            self.bms.protection.actions,
            self.bms.charge_fet,
            self.bms.discharge_fet,
            self.running,
            self.bms.rest_s,
            self.bms.estimator.state,
            self.bms.balancer.state,
            self.bms.balancer.params_vec,
            self.bms.balancer.mask,
            self.bms.limiter.state,
            self.bms.limiter.params,
            self.bms._limit_inputs,
            self.bms.limiter.outputs,
            self.bms.counters.values,
            self.bms.counters.thresholds,
            self.bms.counters.capacity_ah,
            self.bms.counters.balancing_s,
            b.cell_par,
            self.bank_limits,
            self.bank_work,
            self.limits_imposed or self.link is not None,
        )
        del dirty  # the next call refreshes at its first step anyway
        modes = self.bms.led_modes(now)
        self.led_mode_ids[:] = [int(x) for x in modes]
        self.fault_started[:] = [np.nan if x is None else x for x in self.bms.fault_started_s]
        for e in events:
            self.bms.events.append(e)
        if b.step_index % sample_every == 0:
            si = self.step_info
            k.write_row(
                rows[at_row],
                now,
                si[cl.SI_AMBIENT_C],
                si[cl.SI_GRID_UP],
                si[cl.SI_BUS_V],
                si[cl.SI_BUS_A],
                sample_every,
                self._sums,
                b.cell_state,
                b.cell_par,
                b.mod_state,
            )
            cl.write_bms_row(
                bms_rows[at_row],
                now,
                self.bank_limits,
                self.bms.estimator.state,
                self.machine_state,
                self.bms.limiter.outputs,
                self.led_mode_ids,
                self.fault_started,
            )
            return 1
        return 0

    def _after_decide(self, r: BmsReadings) -> None:
        """Apply the state machines' outputs to the hardware and arm the loop's event detection."""
        b = self.bank
        p = self.params.states
        wake = math.inf
        for m, machine in enumerate(self.bms.machines):
            st = machine.state
            if float(st.state) != self.machine_state[m] or st.restarted:
                # a transition may be followed by another on the next second with no new input
                wake = min(wake, self.t_s + b.dt_s)
            if self.isolated[m]:
                self.bms.charge_fet[m] = 0.0
                self.bms.discharge_fet[m] = 0.0
            b.mod_par[k.MP_CHARGE_FET_ON, m] = self.bms.charge_fet[m]
            b.mod_par[k.MP_DISCHARGE_FET_ON, m] = self.bms.discharge_fet[m]
            b.mod_par[k.MP_BMS_SUPPLY_A, m] = BMS_SUPPLY_DRAW_A[self.bms.power_state[m]]  # type: ignore[index]
            self.running[m] = 0.0 if st.state in (BmsState.SHUTDOWN, BmsState.SLEEP) else 1.0
            self.machine_state[m] = float(st.state)
            self.sleeping[m] = 1.0 if st.state == BmsState.SLEEP else 0.0
            self.last_class[m] = cl.current_flags(float(r.current_a[m]), p.wake_charge_current_a, REST_CURRENT_A)
            self.watch[m] = _WATCH[st.state]
            self.rest_since[m] = math.nan if st.rest_since_s is None else st.rest_since_s
            due = []
            if st.sleep_timer_start_s is not None:
                due.append(st.sleep_timer_start_s + p.sleep_after_low_voltage_s)
            for opened in (st.charge_opened_s, st.discharge_opened_s):
                if opened is not None:
                    due.append(opened + p.oscillation_guard_s)
            later = [t for t in due if t > self.t_s + 1e-9]
            if later:
                wake = min(wake, *later)
        self.next_wakeup_s = wake
