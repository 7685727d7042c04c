"""The measurement front end of every module: true twin state in, what the BMS reads out.

Each module has 24 channels, laid out as the columns of one array so a whole bank is read with a few
numpy operations: 16 cell voltages, the terminal (pack) voltage, the shunt current, 4 cell NTCs, the MOSFET
NTC and the board NTC. A channel reads ``true * (1 + gain_error) + offset + noise``, then injected faults,
then the ADC range clip, then quantisation to the channel's resolution. Gain and offset errors are drawn
once per module and channel from the seed; noise is drawn fresh at every read from the same generator, so
one seed and one call sequence always give the same readings.

NTCs see temperature through a first-order thermal lag (time constant ``ntc_tau_s``), discretised exactly
for an input held constant over the step: ``T += (T_in - T) * (1 - exp(-dt/tau))``. Each cell NTC's input
is the mean of its four cells. The lag starts at equilibrium (the first read sets it to the input).

Fault models (:class:`SensorFault`), applied in injection order:

- ``offset``: adds ``value`` (channel units) to the reading.
- ``drift``: adds ``value * (now_s - t_injected_s)``, i.e. ``value`` per second since injection.
- ``stuck``: the channel reads a constant: ``value`` if given, otherwise the value it read at the last
  read before injection (or, if there was none, at the first read after it).
- ``open_wire`` on ``cell_voltage`` index n: the sense lead between cell n and cell n+1 is open. The AFE's
  input bias and balancing leakage pull the floating lead onto cell n's negative lead, so cell n reads
  ``value`` (default 0 V) and cell n+1 reads ``V_n + V_{n+1} - value``: the sum over the two is preserved,
  as on a real AFE. For the top cell (n = 15) the open lead is the top of the stack: it reads ``value``.
- ``open_wire`` on ``pack_voltage`` or ``current``: the input sees ``value`` (default 0) instead of the
  signal, so it reads that plus its own offset and noise.
- ``open_wire`` on any NTC (``temperature``, ``mosfet_temperature``, ``board_temperature``): an open
  thermistor sits at the lowest ADC code, which converts to ``ntc_min_c`` (-40 degC), with no noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from ml314.domain.readings import SensorReadings

__all__ = [
    "N_CELLS",
    "N_CELL_NTCS",
    "Channel",
    "FaultKind",
    "SensorArrays",
    "SensorBank",
    "SensorFault",
    "SensorSpec",
]

Channel = Literal["cell_voltage", "pack_voltage", "current", "temperature", "mosfet_temperature", "board_temperature"]
FaultKind = Literal["open_wire", "stuck", "drift", "offset"]

N_CELLS = 16
N_CELL_NTCS = 4
CELLS_PER_NTC = N_CELLS // N_CELL_NTCS

# Column layout of the per-module channel array: first column and width of each channel.
_COL_PACK = N_CELLS
_COL_CURRENT = N_CELLS + 1
_COL_NTC = N_CELLS + 2
_COL_MOSFET = _COL_NTC + N_CELL_NTCS
_COL_BOARD = _COL_MOSFET + 1
_N_COLS = _COL_BOARD + 1
_CHANNEL_COLS: dict[Channel, tuple[int, int]] = {
    "cell_voltage": (0, N_CELLS),
    "pack_voltage": (_COL_PACK, 1),
    "current": (_COL_CURRENT, 1),
    "temperature": (_COL_NTC, N_CELL_NTCS),
    "mosfet_temperature": (_COL_MOSFET, 1),
    "board_temperature": (_COL_BOARD, 1),
}
_NTC_CHANNELS: frozenset[Channel] = frozenset({"temperature", "mosfet_temperature", "board_temperature"})

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """Error budget of one module's front end (typical 16S AFE + shunt amplifier + NTCs).

    Sigmas are 1-sigma of a normal draw; gains are relative (5e-4 = 0.05 %). The current offset is drawn
    uniformly in ``[-current_offset_max_a, +current_offset_max_a]`` once per module. ``cell_voltage_max_v``
    is the cell ADC's full scale; unbounded by default so an open wire's neighbour reads the full sum of two
    cells (a real AFE saturates near 5 V: set 5.0 to model that).
    """

    cell_voltage_noise_v: float = 1.0e-3
    cell_voltage_resolution_v: float = 1.0e-3
    cell_voltage_gain_sigma: float = 5.0e-4
    cell_voltage_max_v: float = math.inf
    pack_voltage_noise_v: float = 20.0e-3
    pack_voltage_resolution_v: float = 10.0e-3
    pack_voltage_gain_sigma: float = 0.0
    current_offset_max_a: float = 0.2
    current_gain_sigma: float = 5.0e-3
    current_noise_a: float = 0.1
    current_resolution_a: float = 0.01
    ntc_noise_c: float = 0.1
    ntc_resolution_c: float = 0.1
    ntc_offset_sigma_c: float = 0.3
    ntc_tau_s: float = 30.0
    ntc_min_c: float = -40.0
    ntc_max_c: float = 125.0

    def __post_init__(self) -> None:
        resolutions = (
            self.cell_voltage_resolution_v,
            self.pack_voltage_resolution_v,
            self.current_resolution_a,
            self.ntc_resolution_c,
        )
        if min(resolutions) <= 0.0 or self.ntc_tau_s <= 0.0:
            raise ValueError("resolutions and ntc_tau_s must be > 0")

    @classmethod
    def ideal(cls) -> SensorSpec:
        """No noise, gain or offset error (resolution and lag kept): for tests and reference runs."""
        return replace(
            cls(),
            cell_voltage_noise_v=0.0,
            cell_voltage_gain_sigma=0.0,
            pack_voltage_noise_v=0.0,
            current_offset_max_a=0.0,
            current_gain_sigma=0.0,
            current_noise_a=0.0,
            ntc_noise_c=0.0,
            ntc_offset_sigma_c=0.0,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorFault:
    """A fault on one channel of one module (see the module docstring for each kind's model).

    ``index`` selects the cell (0..15) or cell NTC (0..3) and must be 0 for single channels. ``value`` is in
    channel units (per second for ``drift``); ``None`` means 0, except for ``stuck`` where it means "hold
    the value read at injection".
    """

    module_index: int
    channel: Channel
    index: int = 0
    kind: FaultKind
    value: float | None = None


@dataclass(slots=True)
class _ActiveFault:
    fault: SensorFault
    t_injected_s: float
    column: int
    held: float | None


@dataclass(frozen=True, slots=True)
class SensorArrays:
    """One bank read as arrays, first axis = module index (same units and sign as SensorReadings)."""

    t_s: float
    cell_voltage_v: FloatArray  # (n_modules, 16)
    pack_voltage_v: FloatArray  # (n_modules,)
    current_a: FloatArray  # (n_modules,)
    cell_temperature_c: FloatArray  # (n_modules, 4)
    mosfet_temperature_c: FloatArray  # (n_modules,)
    board_temperature_c: FloatArray  # (n_modules,)


def _row(values: dict[Channel, float]) -> FloatArray:
    row = np.empty(_N_COLS)
    for channel, (col, width) in _CHANNEL_COLS.items():
        row[col : col + width] = values[channel]
    return row


class SensorBank:
    """The front ends of ``n_modules`` modules; stateful only through NTC lag, faults and the RNG."""

    def __init__(self, spec: SensorSpec, n_modules: int, seed: int) -> None:
        if n_modules < 1:
            raise ValueError(f"n_modules must be >= 1, got {n_modules}")
        self.spec = spec
        self.n_modules = n_modules
        self._rng = np.random.default_rng(seed)
        n = n_modules
        s = spec
        gain = np.zeros((n, _N_COLS))
        gain[:, :N_CELLS] = self._rng.normal(0.0, s.cell_voltage_gain_sigma, (n, N_CELLS))
        gain[:, _COL_PACK] = self._rng.normal(0.0, s.pack_voltage_gain_sigma, n)
        gain[:, _COL_CURRENT] = self._rng.normal(0.0, s.current_gain_sigma, n)
        offset = np.zeros((n, _N_COLS))
        offset[:, _COL_CURRENT] = self._rng.uniform(-s.current_offset_max_a, s.current_offset_max_a, n)
        offset[:, _COL_NTC:] = self._rng.normal(0.0, s.ntc_offset_sigma_c, (n, _N_COLS - _COL_NTC))
        self._gain_factor = 1.0 + gain
        self._offset = offset
        self._sigma = _row(
            {
                "cell_voltage": s.cell_voltage_noise_v,
                "pack_voltage": s.pack_voltage_noise_v,
                "current": s.current_noise_a,
                "temperature": s.ntc_noise_c,
                "mosfet_temperature": s.ntc_noise_c,
                "board_temperature": s.ntc_noise_c,
            }
        )
        # Quantise as rint(x * k) / k with k = 1/resolution: exact decimal steps for 1 mV, 10 mV, 0.1 degC.
        self._steps_per_unit = 1.0 / _row(
            {
                "cell_voltage": s.cell_voltage_resolution_v,
                "pack_voltage": s.pack_voltage_resolution_v,
                "current": s.current_resolution_a,
                "temperature": s.ntc_resolution_c,
                "mosfet_temperature": s.ntc_resolution_c,
                "board_temperature": s.ntc_resolution_c,
            }
        )
        self._lo = _row(
            {
                "cell_voltage": 0.0,
                "pack_voltage": 0.0,
                "current": -math.inf,
                "temperature": s.ntc_min_c,
                "mosfet_temperature": s.ntc_min_c,
                "board_temperature": s.ntc_min_c,
            }
        )
        self._hi = _row(
            {
                "cell_voltage": s.cell_voltage_max_v,
                "pack_voltage": math.inf,
                "current": math.inf,
                "temperature": s.ntc_max_c,
                "mosfet_temperature": s.ntc_max_c,
                "board_temperature": s.ntc_max_c,
            }
        )
        # Averages 16 cell temperatures into the 4 NTC inputs with one matmul.
        self._ntc_mix = np.kron(np.eye(N_CELL_NTCS), np.full((CELLS_PER_NTC, 1), 1.0 / CELLS_PER_NTC))
        self._signal = np.empty((n, _N_COLS))
        self._ntc_state: FloatArray | None = None
        self._last: FloatArray | None = None
        self._faults: list[_ActiveFault] = []

    # --- calibration (what a factory calibration would have to measure) ---

    @property
    def current_offset_a(self) -> FloatArray:
        """Per-module current offset drawn at construction, A."""
        return self._offset[:, _COL_CURRENT].copy()

    @property
    def current_gain_error(self) -> FloatArray:
        """Per-module relative current gain error."""
        return self._gain_factor[:, _COL_CURRENT] - 1.0

    @property
    def cell_voltage_gain_error(self) -> FloatArray:
        """Per-module, per-cell relative gain error, shape (n_modules, 16)."""
        return self._gain_factor[:, :N_CELLS] - 1.0

    @property
    def ntc_offset_c(self) -> FloatArray:
        """Per-module NTC offsets, shape (n_modules, 6): 4 cell NTCs, MOSFET, board."""
        return self._offset[:, _COL_NTC:].copy()

    # --- faults ---

    def inject(self, fault: SensorFault, now_s: float) -> None:
        """Activate ``fault`` from ``now_s`` on. Raises ValueError for an unknown module/channel/index."""
        if not 0 <= fault.module_index < self.n_modules:
            raise ValueError(f"module_index {fault.module_index} out of range 0..{self.n_modules - 1}")
        if fault.channel not in _CHANNEL_COLS:
            raise ValueError(f"unknown channel {fault.channel!r}")
        if fault.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        col0, width = _CHANNEL_COLS[fault.channel]
        if not 0 <= fault.index < width:
            raise ValueError(f"index {fault.index} out of range 0..{width - 1} for {fault.channel}")
        column = col0 + fault.index
        held = fault.value
        if fault.kind == "stuck" and held is None and self._last is not None:
            held = float(self._last[fault.module_index, column])
        self._faults.append(_ActiveFault(fault, now_s, column, held))

    def clear(self, module_index: int | None = None) -> None:
        """Remove every fault, or only those of ``module_index``."""
        self._faults = [a for a in self._faults if module_index is not None and a.fault.module_index != module_index]

    @property
    def active_faults(self) -> tuple[SensorFault, ...]:
        """Faults in force, in injection order."""
        return tuple(a.fault for a in self._faults)

    # --- reading ---

    def read_arrays(
        self,
        now_s: float,
        dt_s: float,
        *,
        cell_voltage_v: FloatArray,
        terminal_voltage_v: FloatArray,
        current_a: FloatArray,
        cell_temperature_c: FloatArray,
        mosfet_temperature_c: FloatArray,
        board_temperature_c: FloatArray,
    ) -> SensorArrays:
        """Read every module from the true state; ``dt_s`` is the time since the previous read (NTC lag).

        Shapes: cells (n_modules, 16), the rest (n_modules,). Current positive = charging.
        """
        n = self.n_modules
        if cell_voltage_v.shape != (n, N_CELLS) or cell_temperature_c.shape != (n, N_CELLS):
            raise ValueError(f"cell arrays must have shape ({n}, {N_CELLS})")
        x = self._signal
        x[:, :N_CELLS] = cell_voltage_v
        x[:, _COL_PACK] = terminal_voltage_v
        x[:, _COL_CURRENT] = current_a
        ntc_in = x[:, _COL_NTC:]
        ntc_in[:, :N_CELL_NTCS] = cell_temperature_c @ self._ntc_mix
        ntc_in[:, N_CELL_NTCS] = mosfet_temperature_c
        ntc_in[:, N_CELL_NTCS + 1] = board_temperature_c
        if self._ntc_state is None:
            self._ntc_state = ntc_in.copy()
        else:
            alpha = -math.expm1(-dt_s / self.spec.ntc_tau_s) if dt_s > 0.0 else 0.0
            self._ntc_state += (ntc_in - self._ntc_state) * alpha
            ntc_in[:] = self._ntc_state

        noise = self._rng.standard_normal((n, _N_COLS)) * self._sigma
        if self._faults:
            self._apply_signal_faults(x)
        raw = x * self._gain_factor + self._offset + noise
        if self._faults:
            self._apply_reading_faults(raw, now_s)
        np.clip(raw, self._lo, self._hi, out=raw)
        out = np.rint(raw * self._steps_per_unit) / self._steps_per_unit
        self._last = out
        out.flags.writeable = False
        return SensorArrays(
            t_s=now_s,
            cell_voltage_v=out[:, :N_CELLS],
            pack_voltage_v=out[:, _COL_PACK],
            current_a=out[:, _COL_CURRENT],
            cell_temperature_c=out[:, _COL_NTC:_COL_MOSFET],
            mosfet_temperature_c=out[:, _COL_MOSFET],
            board_temperature_c=out[:, _COL_BOARD],
        )

    def read(
        self,
        now_s: float,
        dt_s: float,
        *,
        cell_voltage_v: FloatArray,
        terminal_voltage_v: FloatArray,
        current_a: FloatArray,
        cell_temperature_c: FloatArray,
        mosfet_temperature_c: FloatArray,
        board_temperature_c: FloatArray,
        module_ids: Sequence[int],
    ) -> tuple[SensorReadings, ...]:
        """As :meth:`read_arrays`, one :class:`SensorReadings` per module, tagged with ``module_ids``."""
        if len(module_ids) != self.n_modules:
            raise ValueError(f"need {self.n_modules} module ids, got {len(module_ids)}")
        self.read_arrays(
            now_s,
            dt_s,
            cell_voltage_v=cell_voltage_v,
            terminal_voltage_v=terminal_voltage_v,
            current_a=current_a,
            cell_temperature_c=cell_temperature_c,
            mosfet_temperature_c=mosfet_temperature_c,
            board_temperature_c=board_temperature_c,
        )
        assert self._last is not None
        rows: list[list[float]] = self._last.tolist()
        return tuple(
            SensorReadings(
                t_s=now_s,
                module_id=module_id,
                cell_voltages_v=tuple(row[:N_CELLS]),
                pack_voltage_v=row[_COL_PACK],
                current_a=row[_COL_CURRENT],
                cell_temperatures_c=tuple(row[_COL_NTC:_COL_MOSFET]),
                mosfet_temperature_c=row[_COL_MOSFET],
                board_temperature_c=row[_COL_BOARD],
            )
            for module_id, row in zip(module_ids, rows, strict=True)
        )

    def _apply_signal_faults(self, x: FloatArray) -> None:
        """Open wires on analog voltage/current inputs change what the front end sees."""
        for a in self._faults:
            f = a.fault
            if f.kind != "open_wire" or f.channel in _NTC_CHANNELS:
                continue
            m, c = f.module_index, a.column
            residual = f.value or 0.0
            if f.channel == "cell_voltage" and c + 1 < N_CELLS:
                x[m, c + 1] += x[m, c] - residual
            x[m, c] = residual

    def _apply_reading_faults(self, raw: FloatArray, now_s: float) -> None:
        """Faults that act on the converted reading, in injection order."""
        for a in self._faults:
            f = a.fault
            m, c = f.module_index, a.column
            if f.kind == "offset":
                raw[m, c] += f.value or 0.0
            elif f.kind == "drift":
                raw[m, c] += (f.value or 0.0) * (now_s - a.t_injected_s)
            elif f.kind == "stuck":
                if a.held is None:
                    clipped = min(max(float(raw[m, c]), self._lo[c]), self._hi[c])
                    k = float(self._steps_per_unit[c])
                    a.held = round(clipped * k) / k
                raw[m, c] = a.held
            elif f.channel in _NTC_CHANNELS:  # open_wire on a thermistor: lowest code
                raw[m, c] = self.spec.ntc_min_c
