"""SensorReadings: derived properties and immutability."""

from __future__ import annotations

import dataclasses

import pytest

from ml314.domain.readings import SensorReadings


def _readings(cells: tuple[float, ...], temps: tuple[float, ...]) -> SensorReadings:
    return SensorReadings(
        t_s=12.5,
        module_id=3,
        cell_voltages_v=cells,
        pack_voltage_v=sum(cells),
        current_a=-20.0,
        cell_temperatures_c=temps,
        mosfet_temperature_c=31.0,
        board_temperature_c=28.0,
    )


def test_derived_cell_and_temperature_extremes() -> None:
    cells = (3.300,) * 14 + (3.281, 3.342)
    r = _readings(cells, (24.0, 25.5, 23.1, 26.0))
    assert r.max_cell_v == 3.342
    assert r.min_cell_v == 3.281
    assert r.cell_spread_v == pytest.approx(0.061)
    assert r.max_temperature_c == 26.0
    assert r.min_temperature_c == 23.1


def test_board_and_mosfet_not_counted_as_cell_temperatures() -> None:
    r = dataclasses.replace(_readings((3.3,) * 16, (20.0,) * 4), mosfet_temperature_c=90.0)
    assert r.max_temperature_c == 20.0
    assert r.cell_spread_v == 0.0


def test_frozen_and_slotted() -> None:
    r = _readings((3.3,) * 16, (20.0,) * 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.current_a = 1.0  # type: ignore[misc]
    assert not hasattr(r, "__dict__")
