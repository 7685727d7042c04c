"""Monitored quantities from sensor readings, and the suspect-sensor sentence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.bms.parameters import QUANTITIES
from ml314.bms.protection import N_QUANTITIES, Q_INDEX
from ml314.bms.quantities import compute_quantities, quantities_from_readings, suspect_sensor
from ml314.domain.readings import SensorReadings


def reading(
    cells: list[float] | None = None,
    *,
    pack_v: float | None = None,
    current_a: float = 0.0,
    ntc: tuple[float, ...] = (25.0, 25.5, 24.8, 25.2),
    mosfet_c: float = 31.0,
    board_c: float = 29.0,
) -> SensorReadings:
    cells = cells if cells is not None else [3.30 + 0.001 * c for c in range(16)]
    return SensorReadings(
        t_s=0.0,
        module_id=1,
        cell_voltages_v=tuple(cells),
        pack_voltage_v=sum(cells) + 0.02 if pack_v is None else pack_v,
        current_a=current_a,
        cell_temperatures_c=ntc,
        mosfet_temperature_c=mosfet_c,
        board_temperature_c=board_c,
    )


def q(row: np.ndarray, name: str) -> float:
    return float(row[Q_INDEX[name]])


def test_every_quantity_column_filled() -> None:
    r = reading(current_a=42.0)
    row = quantities_from_readings([r], [(True, True)])[0]
    assert row.shape == (N_QUANTITIES,) == (len(QUANTITIES),)
    assert q(row, "cell_voltage_max_v") == pytest.approx(3.315)
    assert q(row, "cell_voltage_min_v") == pytest.approx(3.300)
    assert q(row, "cell_spread_v") == pytest.approx(0.015)
    assert q(row, "pack_voltage_v") == pytest.approx(r.pack_voltage_v)
    assert q(row, "pack_vs_cells_v") == pytest.approx(0.02)
    assert q(row, "charge_current_a") == 42.0
    assert q(row, "discharge_current_a") == 0.0
    assert q(row, "cell_temperature_max_c") == 25.5
    assert q(row, "cell_temperature_min_c") == 24.8
    assert q(row, "temperature_spread_c") == pytest.approx(0.7)
    assert q(row, "mosfet_temperature_c") == 31.0
    assert q(row, "board_temperature_c") == 29.0
    assert q(row, "current_with_path_open_a") == 0.0


def test_discharge_current_positive_when_discharging() -> None:
    row = quantities_from_readings([reading(current_a=-80.0)], [(True, True)])[0]
    assert q(row, "charge_current_a") == 0.0
    assert q(row, "discharge_current_a") == 80.0


@pytest.mark.parametrize(
    ("fets", "expected"),
    [((False, False), 7.5), ((True, False), 0.0), ((False, True), 0.0), ((True, True), 0.0)],
)
def test_current_with_path_open_only_when_both_fets_off(fets: tuple[bool, bool], expected: float) -> None:
    row = quantities_from_readings([reading(current_a=-7.5)], [fets])[0]
    assert q(row, "current_with_path_open_a") == expected


def test_pack_vs_cells_sees_an_open_wire_only_through_the_pack() -> None:
    cells = [3.3] * 16
    cells[4], cells[5] = 0.0, 6.6  # an open sense wire preserves the sum
    row = quantities_from_readings([reading(cells, pack_v=52.8)], [(True, True)])[0]
    assert q(row, "pack_vs_cells_v") == pytest.approx(0.0, abs=1e-9)
    assert q(row, "cell_spread_v") == pytest.approx(6.6)


@settings(deadline=None, max_examples=50)
@given(
    cells=st.lists(st.floats(2.0, 4.0), min_size=16, max_size=16),
    ntc=st.lists(st.floats(-40.0, 125.0), min_size=4, max_size=4),
    current_a=st.floats(-300.0, 300.0),
    charge_on=st.booleans(),
    discharge_on=st.booleans(),
)
def test_matches_the_readings_properties(
    cells: list[float], ntc: list[float], current_a: float, charge_on: bool, discharge_on: bool
) -> None:
    r = reading(cells, current_a=current_a, ntc=tuple(ntc))
    row = quantities_from_readings([r, r], np.array([[charge_on, discharge_on]] * 2))[1]
    assert q(row, "cell_voltage_max_v") == r.max_cell_v
    assert q(row, "cell_voltage_min_v") == r.min_cell_v
    assert q(row, "cell_spread_v") == pytest.approx(r.cell_spread_v)
    assert q(row, "cell_temperature_max_c") == r.max_temperature_c
    assert q(row, "cell_temperature_min_c") == r.min_temperature_c
    assert q(row, "charge_current_a") - q(row, "discharge_current_a") == current_a
    assert min(q(row, "charge_current_a"), q(row, "discharge_current_a")) == 0.0
    assert q(row, "pack_vs_cells_v") == pytest.approx(abs(r.pack_voltage_v - sum(cells)))


def test_kernel_fills_many_modules_independently() -> None:
    n = 5
    rng = np.random.default_rng(0)
    cells = rng.uniform(3.0, 3.5, (n, 16))
    ntc = rng.uniform(10.0, 40.0, (n, 4))
    current = rng.uniform(-100.0, 100.0, n)
    out = np.full((n, N_QUANTITIES), np.nan)
    compute_quantities(
        cells, cells.sum(axis=1), current, ntc, np.full(n, 30.0), np.full(n, 28.0), np.ones(n), np.zeros(n), out
    )
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[:, Q_INDEX["cell_voltage_max_v"]], cells.max(axis=1))
    np.testing.assert_array_equal(out[:, Q_INDEX["temperature_spread_c"]], ntc.max(axis=1) - ntc.min(axis=1))
    np.testing.assert_array_equal(out[:, Q_INDEX["current_with_path_open_a"]], 0.0)


# --- suspect sensor ---


def test_suspect_is_the_ntc_farthest_from_the_median() -> None:
    text = suspect_sensor([25.0, 25.3, -40.0, 24.9], [3.3] * 16)
    assert text.startswith("NTC 3 (cells 9-12) reads -40.0 degC")


def test_suspect_hot_ntc() -> None:
    assert suspect_sensor([60.0, 25.3, 25.1, 24.9], [3.3] * 16).startswith("NTC 1 (cells 1-4) reads 60.0 degC")


@pytest.mark.parametrize("cell", [0, 4, 14])
def test_suspect_open_cell_wire_names_the_pair(cell: int) -> None:
    cells = [3.3] * 16
    cells[cell], cells[cell + 1] = 0.0, 6.6
    text = suspect_sensor([25.0, 25.0, -40.0, 25.0], cells)
    assert f"cell {cell + 1} reads 0.000 V" in text
    assert f"cell {cell + 2} reads 6.600 V" in text
    assert f"between cells {cell + 1} and {cell + 2} open" in text


def test_suspect_open_top_wire() -> None:
    cells = [3.3] * 15 + [0.0]
    assert suspect_sensor([25.0] * 4, cells) == "cell 16 reads 0.000 V: top sense wire open"


def test_suspect_open_wire_with_residual_voltage() -> None:
    cells = [3.3] * 16
    cells[7], cells[8] = 0.4, 6.2
    assert "between cells 8 and 9 open" in suspect_sensor([25.0] * 4, cells)


def test_nothing_stands_out() -> None:
    assert suspect_sensor([25.0] * 4, [3.3] * 16).startswith("no sensor stands out")
