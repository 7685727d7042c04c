"""The monitored quantities of every module, from its sensor readings: the protection table's inputs.

:func:`compute_quantities` fills one row per module with the columns of
:data:`ml314.bms.protection.Q_INDEX` (names in :data:`ml314.bms.parameters.QUANTITIES`). Current is positive when
charging; a FET flag is 1.0 when that MOSFET conducts. :func:`suspect_sensor` names, for a message or the event log,
the sensor most likely behind an implausible reading.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from ml314.bms.protection import N_QUANTITIES, Q_INDEX
from ml314.domain.readings import SensorReadings

__all__ = [
    "CELLS_PER_NTC",
    "Q_BOARD_TEMPERATURE_C",
    "Q_CELL_SPREAD_V",
    "Q_CELL_TEMPERATURE_MAX_C",
    "Q_CELL_TEMPERATURE_MIN_C",
    "Q_CELL_VOLTAGE_MAX_V",
    "Q_CELL_VOLTAGE_MIN_V",
    "Q_CHARGE_CURRENT_A",
    "Q_CURRENT_WITH_PATH_OPEN_A",
    "Q_DISCHARGE_CURRENT_A",
    "Q_MOSFET_TEMPERATURE_C",
    "Q_PACK_VOLTAGE_V",
    "Q_PACK_VS_CELLS_V",
    "Q_TEMPERATURE_SPREAD_C",
    "compute_quantities",
    "quantities_from_readings",
    "suspect_sensor",
]

Q_CELL_VOLTAGE_MAX_V = Q_INDEX["cell_voltage_max_v"]
Q_CELL_VOLTAGE_MIN_V = Q_INDEX["cell_voltage_min_v"]
Q_PACK_VOLTAGE_V = Q_INDEX["pack_voltage_v"]
Q_CHARGE_CURRENT_A = Q_INDEX["charge_current_a"]
Q_DISCHARGE_CURRENT_A = Q_INDEX["discharge_current_a"]
Q_CELL_TEMPERATURE_MAX_C = Q_INDEX["cell_temperature_max_c"]
Q_CELL_TEMPERATURE_MIN_C = Q_INDEX["cell_temperature_min_c"]
Q_MOSFET_TEMPERATURE_C = Q_INDEX["mosfet_temperature_c"]
Q_BOARD_TEMPERATURE_C = Q_INDEX["board_temperature_c"]
Q_CELL_SPREAD_V = Q_INDEX["cell_spread_v"]
Q_TEMPERATURE_SPREAD_C = Q_INDEX["temperature_spread_c"]
Q_PACK_VS_CELLS_V = Q_INDEX["pack_vs_cells_v"]
Q_CURRENT_WITH_PATH_OPEN_A = Q_INDEX["current_with_path_open_a"]

CELLS_PER_NTC = 4
# suspect_sensor: a cell reading below LOW or above HIGH times the median cell is implausible (open sense wire)
_OPEN_WIRE_LOW = 0.5
_OPEN_WIRE_HIGH = 1.5


@njit(cache=True, error_model="numpy")
def compute_quantities(
    cell_voltage_v: np.ndarray,
    pack_voltage_v: np.ndarray,
    current_a: np.ndarray,
    ntc_c: np.ndarray,
    mosfet_c: np.ndarray,
    board_c: np.ndarray,
    charge_fet_on: np.ndarray,
    discharge_fet_on: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (n, N_QUANTITIES) from cells (n, 16), NTCs (n, 4) and the per-module rest (n,).

    ``charge_fet_on`` and ``discharge_fet_on`` are 1.0 when the MOSFET conducts, 0.0 when open.
    """
    n = cell_voltage_v.shape[0]
    n_cells = cell_voltage_v.shape[1]
    n_ntc = ntc_c.shape[1]
    for m in range(n):
        v_max = cell_voltage_v[m, 0]
        v_min = v_max
        v_sum = 0.0
        for c in range(n_cells):
            v = cell_voltage_v[m, c]
            v_max = max(v_max, v)
            v_min = min(v_min, v)
            v_sum += v
        t_max = ntc_c[m, 0]
        t_min = t_max
        for k in range(1, n_ntc):
            t_max = max(t_max, ntc_c[m, k])
            t_min = min(t_min, ntc_c[m, k])
        i = current_a[m]
        q = out[m]
        q[Q_CELL_VOLTAGE_MAX_V] = v_max
        q[Q_CELL_VOLTAGE_MIN_V] = v_min
        q[Q_PACK_VOLTAGE_V] = pack_voltage_v[m]
        q[Q_CHARGE_CURRENT_A] = max(i, 0.0)
        q[Q_DISCHARGE_CURRENT_A] = max(-i, 0.0)
        q[Q_CELL_TEMPERATURE_MAX_C] = t_max
        q[Q_CELL_TEMPERATURE_MIN_C] = t_min
        q[Q_MOSFET_TEMPERATURE_C] = mosfet_c[m]
        q[Q_BOARD_TEMPERATURE_C] = board_c[m]
        q[Q_CELL_SPREAD_V] = v_max - v_min
        q[Q_TEMPERATURE_SPREAD_C] = t_max - t_min
        q[Q_PACK_VS_CELLS_V] = abs(pack_voltage_v[m] - v_sum)
        path_open = charge_fet_on[m] < 0.5 and discharge_fet_on[m] < 0.5
        q[Q_CURRENT_WITH_PATH_OPEN_A] = abs(i) if path_open else 0.0


def quantities_from_readings(
    readings: Sequence[SensorReadings], fets: Sequence[tuple[bool, bool]] | np.ndarray
) -> np.ndarray:
    """The quantities (n, N_QUANTITIES) of ``readings``; ``fets[m]`` is (charge FET on, discharge FET on)."""
    n = len(readings)
    fet = np.asarray(fets, dtype=np.float64).reshape(n, 2)
    out = np.empty((n, N_QUANTITIES))
    compute_quantities(
        np.array([r.cell_voltages_v for r in readings], dtype=np.float64).reshape(n, -1),
        np.array([r.pack_voltage_v for r in readings], dtype=np.float64),
        np.array([r.current_a for r in readings], dtype=np.float64),
        np.array([r.cell_temperatures_c for r in readings], dtype=np.float64).reshape(n, -1),
        np.array([r.mosfet_temperature_c for r in readings], dtype=np.float64),
        np.array([r.board_temperature_c for r in readings], dtype=np.float64),
        np.ascontiguousarray(fet[:, 0]),
        np.ascontiguousarray(fet[:, 1]),
        out,
    )
    return out


def _cell_suspect(cells: np.ndarray) -> str | None:
    """An open cell sense wire: a cell reading about 0 V, its upper neighbour about double (1-based names)."""
    median = float(np.median(cells))
    if median <= 0.0:
        return None
    low = [c for c in range(len(cells)) if cells[c] < _OPEN_WIRE_LOW * median]
    high = [c for c in range(len(cells)) if cells[c] > _OPEN_WIRE_HIGH * median]
    for c in low:
        if c + 1 in high:
            return (
                f"cell {c + 1} reads {cells[c]:.3f} V and cell {c + 2} reads {cells[c + 1]:.3f} V (about double): "
                f"sense wire between cells {c + 1} and {c + 2} open"
            )
    if low and low[-1] == len(cells) - 1 and not high:
        c = low[-1]
        return f"cell {c + 1} reads {cells[c]:.3f} V: top sense wire open"
    worst = max(low + high, key=lambda c: abs(float(cells[c]) - median), default=None)
    if worst is None:
        return None
    return f"cell {worst + 1} reads {cells[worst]:.3f} V (median {median:.3f} V): cell voltage sense wire"


def suspect_sensor(ntc_c: np.ndarray | Sequence[float], cell_voltage_v: np.ndarray | Sequence[float]) -> str:
    """The sensor most likely at fault, for one module, as a sentence (1-based names as on the module).

    An implausible cell voltage (an open sense wire: a cell at about 0 V and its upper neighbour at about the sum
    of two cells) is named first; otherwise the NTC farthest from the median of the four, e.g.
    ``"NTC 3 (cells 9-12) reads -40.0 degC; median 25.0 degC"``; "no sensor stands out: ..." when all agree.
    """
    cells = np.asarray(cell_voltage_v, dtype=np.float64)
    ntc = np.asarray(ntc_c, dtype=np.float64)
    cell_text = _cell_suspect(cells)
    if cell_text is not None:
        return cell_text
    median = float(np.median(ntc))
    k = int(np.argmax(np.abs(ntc - median)))
    if ntc[k] == median:
        return f"no sensor stands out: cells {cells.min():.3f}-{cells.max():.3f} V, NTCs at {median:.1f} degC"
    first = k * CELLS_PER_NTC + 1
    return f"NTC {k + 1} (cells {first}-{first + CELLS_PER_NTC - 1}) reads {ntc[k]:.1f} degC; median {median:.1f} degC"
