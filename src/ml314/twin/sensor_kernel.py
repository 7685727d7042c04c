"""The sensor front end compiled: every module of a bank read in one numba call, same readings as SensorBank.

:func:`read_sensors` reproduces :meth:`ml314.twin.sensors.SensorBank.read_arrays` operation for operation (see that
module's docstring for the models): gain and offset errors, noise, the NTC first-order lag discretised exactly,
each cell NTC averaging its four cells, faults, the ADC range clip, quantisation. Everything it needs is arrays:

- calibration, drawn once per module by :func:`calibrate` (which builds a :class:`SensorBank` with the seed and
  copies its arrays, so the draws are SensorBank's own): ``gain_factor`` and ``offset``, shape (n_modules, N_CH);
- per-channel constants ``channel_par``, shape (CP_ROWS, N_CH): noise sigma, quantisation steps per unit, clip
  range;
- noise: a block of standard normals, shape (n_steps, n_modules, N_NOISE), filled by the caller with
  ``rng.standard_normal((n_steps, n_modules, N_NOISE))`` chunk after chunk; step ``k`` uses ``noise[k]``, column
  ``c`` of a module is the noise of channel column ``c`` (the CH_* layout below). numpy's generator fills blocks
  sequentially, so with the generator :func:`calibrate` returns the readings equal SensorBank's bit for bit;
- faults: a table, one row per fault in injection order (the F_* columns). A row applies from its
  ``F_T_INJECTED_S`` on, so faults can be scheduled ahead inside a compiled loop; a row with ``F_MODULE < 0`` is
  empty. ``F_VALUE`` NaN means "no value" (0, or for ``stuck`` the held reading). ``F_HELD`` is the value a
  ``stuck`` row without a value holds: NaN until known; the kernel records each read into it while the row is not
  yet in force (so it holds the last read before injection) and, if still NaN, takes the first read in force;
- the NTC lag state, shape (n_modules, N_NTC_STATE) (4 cell NTCs, MOSFET, board), in and out; a NaN row means the
  module was never read: the first read sets the lag to its input.
"""

from __future__ import annotations

import copy
import math
from typing import get_args

import numpy as np
from numba import njit

from ml314.twin.sensors import (
    N_CELL_NTCS,
    N_CELLS,
    Channel,
    FaultKind,
    SensorArrays,
    SensorBank,
    SensorFault,
    SensorSpec,
)

__all__ = [
    "CHANNEL_IDS",
    "CH_BOARD",
    "CH_CURRENT",
    "CH_MOSFET",
    "CH_NTC0",
    "CH_PACK",
    "CP_HI",
    "CP_LO",
    "CP_ROWS",
    "CP_SIGMA",
    "CP_STEPS_PER_UNIT",
    "FAULT_KIND_IDS",
    "F_CHANNEL",
    "F_COLS",
    "F_HELD",
    "F_INDEX",
    "F_KIND",
    "F_MODULE",
    "F_T_INJECTED_S",
    "F_VALUE",
    "N_CH",
    "N_NOISE",
    "N_NTC_STATE",
    "Calibration",
    "CompiledSensors",
    "calibrate",
    "fault_row",
    "read_sensors",
]

# channel columns of one module (the same layout as SensorBank's)
CH_PACK = N_CELLS
CH_CURRENT = N_CELLS + 1
CH_NTC0 = N_CELLS + 2
CH_MOSFET = CH_NTC0 + N_CELL_NTCS
CH_BOARD = CH_MOSFET + 1
N_CH = CH_BOARD + 1
N_NOISE = N_CH
N_NTC_STATE = N_CH - CH_NTC0

# channel_par rows, shape (CP_ROWS, N_CH)
CP_SIGMA = 0
CP_STEPS_PER_UNIT = 1
CP_LO = 2
CP_HI = 3
CP_ROWS = 4

# fault table columns, shape (n_faults, F_COLS)
F_MODULE = 0
F_CHANNEL = 1  # CHANNEL_IDS
F_INDEX = 2
F_KIND = 3  # FAULT_KIND_IDS
F_VALUE = 4
F_T_INJECTED_S = 5
F_HELD = 6
F_COLS = 7

CHANNEL_IDS: dict[Channel, int] = {c: i for i, c in enumerate(get_args(Channel))}
FAULT_KIND_IDS: dict[FaultKind, int] = {k: i for i, k in enumerate(get_args(FaultKind))}
_ID_CELL = CHANNEL_IDS["cell_voltage"]
_ID_PACK = CHANNEL_IDS["pack_voltage"]
_ID_CURRENT = CHANNEL_IDS["current"]
_ID_TEMPERATURE = CHANNEL_IDS["temperature"]
_ID_MOSFET = CHANNEL_IDS["mosfet_temperature"]
_ID_BOARD = CHANNEL_IDS["board_temperature"]
_K_OPEN_WIRE = FAULT_KIND_IDS["open_wire"]
_K_STUCK = FAULT_KIND_IDS["stuck"]
_K_DRIFT = FAULT_KIND_IDS["drift"]
_K_OFFSET = FAULT_KIND_IDS["offset"]
_WIDTH = {"cell_voltage": N_CELLS, "temperature": N_CELL_NTCS}


@njit(cache=True, error_model="numpy")
def _column(channel_id: int, index: int) -> int:
    if channel_id == _ID_CELL:
        return index
    if channel_id == _ID_PACK:
        return CH_PACK
    if channel_id == _ID_CURRENT:
        return CH_CURRENT
    if channel_id == _ID_TEMPERATURE:
        return CH_NTC0 + index
    if channel_id == _ID_MOSFET:
        return CH_MOSFET
    return CH_BOARD


@njit(cache=True, error_model="numpy")
def _quantise(x: float, lo: float, hi: float, k: float) -> float:
    return float(np.rint(min(max(x, lo), hi) * k) / k)


@njit(cache=True, error_model="numpy")
def read_sensors(
    gain_factor: np.ndarray,
    offset: np.ndarray,
    channel_par: np.ndarray,
    ntc_tau_s: float,
    ntc_min_c: float,
    faults: np.ndarray,
    noise: np.ndarray,
    noise_step: int,
    now_s: float,
    dt_s: float,
    true_cell_voltage_v: np.ndarray,
    true_terminal_voltage_v: np.ndarray,
    true_current_a: np.ndarray,
    true_cell_temperature_c: np.ndarray,
    true_mosfet_temperature_c: np.ndarray,
    true_board_temperature_c: np.ndarray,
    ntc_state: np.ndarray,
    cell_voltage_v: np.ndarray,
    pack_voltage_v: np.ndarray,
    current_a: np.ndarray,
    ntc_c: np.ndarray,
    mosfet_c: np.ndarray,
    board_c: np.ndarray,
) -> None:
    """Read every module once at ``now_s``, ``dt_s`` after the previous read (NTC lag).

    Inputs: calibration (n, N_CH) x2, ``channel_par`` (CP_ROWS, N_CH), the fault table (n_faults, F_COLS; its
    F_HELD column is updated), the noise block (n_steps, n, N_NOISE) of which row ``noise_step`` is used, the true
    state (cells (n, 16): voltages and temperatures; the rest (n,)), the NTC lag state (n, N_NTC_STATE), updated.
    Outputs (filled): cell_voltage_v (n, 16), pack_voltage_v (n), current_a (n), ntc_c (n, 4), mosfet_c (n),
    board_c (n). Current is positive when charging.
    """
    n = gain_factor.shape[0]
    n_faults = faults.shape[0]
    alpha = -math.expm1(-dt_s / ntc_tau_s) if dt_s > 0.0 else 0.0
    x = np.empty(N_CH)
    raw = np.empty(N_CH)
    z = noise[noise_step]
    for m in range(n):
        for c in range(N_CELLS):
            x[c] = true_cell_voltage_v[m, c]
        x[CH_PACK] = true_terminal_voltage_v[m]
        x[CH_CURRENT] = true_current_a[m]
        for k in range(N_CELL_NTCS):
            acc = 0.0
            for j in range(N_CELLS // N_CELL_NTCS):
                acc += true_cell_temperature_c[m, k * (N_CELLS // N_CELL_NTCS) + j] * (1.0 / (N_CELLS // N_CELL_NTCS))
            x[CH_NTC0 + k] = acc
        x[CH_MOSFET] = true_mosfet_temperature_c[m]
        x[CH_BOARD] = true_board_temperature_c[m]
        if math.isnan(ntc_state[m, 0]):
            for k in range(N_NTC_STATE):
                ntc_state[m, k] = x[CH_NTC0 + k]
        else:
            for k in range(N_NTC_STATE):
                ntc_state[m, k] += (x[CH_NTC0 + k] - ntc_state[m, k]) * alpha
                x[CH_NTC0 + k] = ntc_state[m, k]

        # open wires on analog voltage/current inputs change what the front end sees
        for r in range(n_faults):
            if int(faults[r, F_MODULE]) != m or now_s < faults[r, F_T_INJECTED_S]:
                continue
            channel = int(faults[r, F_CHANNEL])
            if int(faults[r, F_KIND]) != _K_OPEN_WIRE or channel >= _ID_TEMPERATURE:
                continue
            c = _column(channel, int(faults[r, F_INDEX]))
            v = faults[r, F_VALUE]
            residual = 0.0 if math.isnan(v) else v
            if channel == _ID_CELL and c + 1 < N_CELLS:
                x[c + 1] += x[c] - residual
            x[c] = residual

        for c in range(N_CH):
            raw[c] = x[c] * gain_factor[m, c] + offset[m, c] + z[m, c] * channel_par[CP_SIGMA, c]

        # faults on the converted reading, in injection order
        for r in range(n_faults):
            if int(faults[r, F_MODULE]) != m or now_s < faults[r, F_T_INJECTED_S]:
                continue
            channel = int(faults[r, F_CHANNEL])
            kind = int(faults[r, F_KIND])
            c = _column(channel, int(faults[r, F_INDEX]))
            v = faults[r, F_VALUE]
            value = 0.0 if math.isnan(v) else v
            if kind == _K_OFFSET:
                raw[c] += value
            elif kind == _K_DRIFT:
                raw[c] += value * (now_s - faults[r, F_T_INJECTED_S])
            elif kind == _K_STUCK:
                if not math.isnan(v):
                    raw[c] = v
                else:
                    if math.isnan(faults[r, F_HELD]):
                        faults[r, F_HELD] = _quantise(
                            raw[c], channel_par[CP_LO, c], channel_par[CP_HI, c], channel_par[CP_STEPS_PER_UNIT, c]
                        )
                    raw[c] = faults[r, F_HELD]
            elif channel >= _ID_TEMPERATURE:  # open thermistor: lowest ADC code
                raw[c] = ntc_min_c

        for c in range(N_CH):
            raw[c] = _quantise(raw[c], channel_par[CP_LO, c], channel_par[CP_HI, c], channel_par[CP_STEPS_PER_UNIT, c])
        # a stuck row not yet in force keeps the latest read: it holds the last read before its injection
        for r in range(n_faults):
            if (
                int(faults[r, F_MODULE]) == m
                and now_s < faults[r, F_T_INJECTED_S]
                and int(faults[r, F_KIND]) == _K_STUCK
                and math.isnan(faults[r, F_VALUE])
            ):
                faults[r, F_HELD] = raw[_column(int(faults[r, F_CHANNEL]), int(faults[r, F_INDEX]))]

        for c in range(N_CELLS):
            cell_voltage_v[m, c] = raw[c]
        pack_voltage_v[m] = raw[CH_PACK]
        current_a[m] = raw[CH_CURRENT]
        for k in range(N_CELL_NTCS):
            ntc_c[m, k] = raw[CH_NTC0 + k]
        mosfet_c[m] = raw[CH_MOSFET]
        board_c[m] = raw[CH_BOARD]


class Calibration:
    """One bank's front-end constants as arrays, drawn exactly as :class:`SensorBank` draws them."""

    def __init__(self, spec: SensorSpec, n_modules: int, seed: int) -> None:
        bank = SensorBank(spec, n_modules, seed)
        # SensorBank's own arrays and generator (same package): its draws, not a copy of its drawing code.
        self.gain_factor: np.ndarray = bank._gain_factor.copy()
        self.offset: np.ndarray = bank._offset.copy()
        self.channel_par: np.ndarray = np.empty((CP_ROWS, N_CH))
        self.channel_par[CP_SIGMA] = bank._sigma
        self.channel_par[CP_STEPS_PER_UNIT] = bank._steps_per_unit
        self.channel_par[CP_LO] = bank._lo
        self.channel_par[CP_HI] = bank._hi
        self.ntc_tau_s = spec.ntc_tau_s
        self.ntc_min_c = spec.ntc_min_c
        #: the generator after the calibration draws: draw the noise blocks from it
        self.rng: np.random.Generator = copy.deepcopy(bank._rng)


def calibrate(spec: SensorSpec, n_modules: int, seed: int) -> Calibration:
    """The calibration arrays and noise generator of a bank seeded with ``seed``."""
    return Calibration(spec, n_modules, seed)


def fault_row(fault: SensorFault, t_injected_s: float, n_modules: int) -> np.ndarray:
    """One fault as a fault-table row (F_COLS,). Raises ValueError for an unknown module/channel/kind/index."""
    if not 0 <= fault.module_index < n_modules:
        raise ValueError(f"module_index {fault.module_index} out of range 0..{n_modules - 1}")
    if fault.channel not in CHANNEL_IDS:
        raise ValueError(f"unknown channel {fault.channel!r}")
    if fault.kind not in FAULT_KIND_IDS:
        raise ValueError(f"unknown fault kind {fault.kind!r}")
    width = _WIDTH.get(fault.channel, 1)
    if not 0 <= fault.index < width:
        raise ValueError(f"index {fault.index} out of range 0..{width - 1} for {fault.channel}")
    row = np.empty(F_COLS)
    row[F_MODULE] = fault.module_index
    row[F_CHANNEL] = CHANNEL_IDS[fault.channel]
    row[F_INDEX] = fault.index
    row[F_KIND] = FAULT_KIND_IDS[fault.kind]
    row[F_VALUE] = math.nan if fault.value is None else fault.value
    row[F_T_INJECTED_S] = t_injected_s
    row[F_HELD] = math.nan
    return row


class CompiledSensors:
    """Drop-in for :class:`SensorBank` reads on the compiled kernel; the same seed gives the same readings.

    Noise is drawn ``chunk_steps`` reads at a time from the generator SensorBank would use, so the readings equal
    SensorBank's for the same seed and the same sequence of reads and injections.
    """

    def __init__(self, spec: SensorSpec, n_modules: int, seed: int, *, chunk_steps: int = 1024) -> None:
        if n_modules < 1:
            raise ValueError(f"n_modules must be >= 1, got {n_modules}")
        if chunk_steps < 1:
            raise ValueError(f"chunk_steps must be >= 1, got {chunk_steps}")
        self.spec = spec
        self.n_modules = n_modules
        self.calibration = calibrate(spec, n_modules, seed)
        self.chunk_steps = chunk_steps
        self.ntc_state = np.full((n_modules, N_NTC_STATE), np.nan)
        self.fault_table = np.empty((0, F_COLS))
        self._faults: list[SensorFault] = []
        self._noise = np.empty((0, n_modules, N_NOISE))
        self._noise_step = 0
        self._last: SensorArrays | None = None

    @property
    def current_offset_a(self) -> np.ndarray:
        """Per-module current offset, A."""
        return self.calibration.offset[:, CH_CURRENT].copy()

    @property
    def active_faults(self) -> tuple[SensorFault, ...]:
        """Faults in force or scheduled, in injection order."""
        return tuple(self._faults)

    def inject(self, fault: SensorFault, now_s: float) -> None:
        """Activate ``fault`` from ``now_s`` on (a ``stuck`` fault without value holds the last reading)."""
        row = fault_row(fault, now_s, self.n_modules)
        if fault.kind == "stuck" and fault.value is None and self._last is not None:
            row[F_HELD] = _reading(self._last, fault)
        self.fault_table = np.vstack([self.fault_table, row[None, :]])
        self._faults.append(fault)

    def clear(self, module_index: int | None = None) -> None:
        """Remove every fault, or only those of ``module_index``."""
        keep = [i for i, f in enumerate(self._faults) if module_index is not None and f.module_index != module_index]
        self.fault_table = self.fault_table[keep]
        self._faults = [self._faults[i] for i in keep]

    def read(
        self,
        now_s: float,
        dt_s: float,
        *,
        cell_voltage_v: np.ndarray,
        terminal_voltage_v: np.ndarray,
        current_a: np.ndarray,
        cell_temperature_c: np.ndarray,
        mosfet_temperature_c: np.ndarray,
        board_temperature_c: np.ndarray,
    ) -> SensorArrays:
        """As :meth:`SensorBank.read_arrays`: cells (n_modules, 16), the rest (n_modules,)."""
        n = self.n_modules
        if cell_voltage_v.shape != (n, N_CELLS) or cell_temperature_c.shape != (n, N_CELLS):
            raise ValueError(f"cell arrays must have shape ({n}, {N_CELLS})")
        if self._noise_step >= self._noise.shape[0]:
            self._noise = self.calibration.rng.standard_normal((self.chunk_steps, n, N_NOISE))
            self._noise_step = 0
        out = SensorArrays(
            t_s=now_s,
            cell_voltage_v=np.empty((n, N_CELLS)),
            pack_voltage_v=np.empty(n),
            current_a=np.empty(n),
            cell_temperature_c=np.empty((n, N_CELL_NTCS)),
            mosfet_temperature_c=np.empty(n),
            board_temperature_c=np.empty(n),
        )
        cal = self.calibration
        read_sensors(
            cal.gain_factor,
            cal.offset,
            cal.channel_par,
            cal.ntc_tau_s,
            cal.ntc_min_c,
            self.fault_table,
            self._noise,
            self._noise_step,
            now_s,
            dt_s,
            np.asarray(cell_voltage_v, dtype=np.float64),
            np.broadcast_to(np.asarray(terminal_voltage_v, dtype=np.float64), (n,)),
            np.broadcast_to(np.asarray(current_a, dtype=np.float64), (n,)),
            np.asarray(cell_temperature_c, dtype=np.float64),
            np.broadcast_to(np.asarray(mosfet_temperature_c, dtype=np.float64), (n,)),
            np.broadcast_to(np.asarray(board_temperature_c, dtype=np.float64), (n,)),
            self.ntc_state,
            out.cell_voltage_v,
            out.pack_voltage_v,
            out.current_a,
            out.cell_temperature_c,
            out.mosfet_temperature_c,
            out.board_temperature_c,
        )
        self._noise_step += 1
        self._last = out
        return out


def _reading(r: SensorArrays, fault: SensorFault) -> float:
    m = fault.module_index
    channel_values: dict[Channel, np.ndarray] = {
        "cell_voltage": r.cell_voltage_v[m],
        "pack_voltage": r.pack_voltage_v[m : m + 1],
        "current": r.current_a[m : m + 1],
        "temperature": r.cell_temperature_c[m],
        "mosfet_temperature": r.mosfet_temperature_c[m : m + 1],
        "board_temperature": r.board_temperature_c[m : m + 1],
    }
    return float(channel_values[fault.channel][fault.index])
