"""Units and the sign convention, said once for the whole project.

Every quantity in the core is an SI float whose name carries its unit: ``voltage_v``, ``current_a``,
``power_w``, ``energy_j`` / ``energy_wh``, ``temperature_c``, ``capacity_ah``, ``t_s``, ``resistance_ohm``.

**Current and power are positive when the battery is charging** (flowing into the battery) and negative
when it is discharging. Grid power is positive when importing from the grid.

Fixed-point wire units (0.1 V, 0.1 K + 2731, 10 mAh) exist only inside protocol codecs.
"""

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
KELVIN_AT_0C = 273.15
J_PER_WH = 3600.0


def c_to_k(temperature_c: float) -> float:
    """Degrees Celsius to kelvin."""
    return temperature_c + KELVIN_AT_0C


def ah_to_c(capacity_ah: float) -> float:
    """Ampere-hours to coulombs."""
    return capacity_ah * SECONDS_PER_HOUR
