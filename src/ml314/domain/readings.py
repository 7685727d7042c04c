"""What a module's BMS reads from its sensors at one instant: the only view of the cells the BMS gets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SensorReadings"]


@dataclass(frozen=True, slots=True)
class SensorReadings:
    """One module's sensor sample, as quantised by its front end (values may be wrong; nothing says so).

    Sign convention: ``current_a`` is positive when the module is charging, negative when discharging.

    - ``cell_voltages_v``: the 16 series cells, bottom (cell 1) first, 1 mV resolution.
    - ``pack_voltage_v``: module terminal voltage, an independent measurement (10 mV resolution),
      not the sum of the cells.
    - ``cell_temperatures_c``: 4 NTCs, NTC k sits on cells 4k+1..4k+4, 0.1 degC resolution.
    - ``mosfet_temperature_c``, ``board_temperature_c``: the power-stage and BMS-board NTCs.

    There is deliberately no per-channel validity flag: an open wire or a stuck sensor shows up only as
    implausible values, which the BMS must detect itself.
    """

    t_s: float
    module_id: int
    cell_voltages_v: tuple[float, ...]
    pack_voltage_v: float
    current_a: float
    cell_temperatures_c: tuple[float, ...]
    mosfet_temperature_c: float
    board_temperature_c: float

    @property
    def max_cell_v(self) -> float:
        """Highest cell voltage read."""
        return max(self.cell_voltages_v)

    @property
    def min_cell_v(self) -> float:
        """Lowest cell voltage read."""
        return min(self.cell_voltages_v)

    @property
    def cell_spread_v(self) -> float:
        """Highest minus lowest cell voltage (>= 0)."""
        return self.max_cell_v - self.min_cell_v

    @property
    def max_temperature_c(self) -> float:
        """Highest of the cell NTCs (MOSFET and board sensors are not cell temperatures)."""
        return max(self.cell_temperatures_c)

    @property
    def min_temperature_c(self) -> float:
        """Lowest of the cell NTCs."""
        return min(self.cell_temperatures_c)
