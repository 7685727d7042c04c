"""The product specification of ML314-51.2-W08 as data.

Manual values: Table 6-1 (module), 7-1 (power cable), 2 and 6.3 (parallel modules, IDs), 12.2 #10 (40 V restart).
Operating limits the manual does not state come from ``shared/reference/bms.md`` (proposed parameter table,
rows 1-2, 17-18, 26-29) and are marked so.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """One module type: geometry, ratings and the system rules the manual gives."""

    model: str
    chemistry: str
    nominal_voltage_v: float
    capacity_ah: float
    energy_wh: float
    cells_in_series: int
    width_mm: float
    depth_mm: float
    height_mm: float
    mass_kg: float
    cable_current_rating_a: float
    cable_cross_section_mm2: float
    max_modules_in_parallel: int
    module_id_min: int
    module_id_max: int
    dip_switch_count: int
    termination_dip_switch: int
    bms_restart_min_voltage_v: float
    # Not in the manual; reference/bms.md proposed defaults.
    charge_voltage_v: float
    float_voltage_v: float
    discharge_cutoff_voltage_v: float
    max_charge_current_a: float
    max_discharge_current_a: float
    cell_voltage_max_v: float
    cell_voltage_min_v: float
    charge_temperature_min_c: float
    charge_temperature_max_c: float
    discharge_temperature_min_c: float
    discharge_temperature_max_c: float
    # The safety envelope no parameter set may leave (bms/envelope.py); reference/bms.md rows 8, 12, 23, 31.
    cell_voltage_hardware_max_v: float  # the independent secondary (hardware) over-voltage level, #8
    cell_voltage_floor_v: float  # below this a cell is damaged for good (Seplos "failure" 2.0 V, Lishen at <= 0 degC)
    short_circuit_current_a: float  # the hardware short-circuit path, #23
    electronics_temperature_max_c: float  # MOSFET and board: the derating reaches zero here, #31

    @property
    def nominal_cell_voltage_v(self) -> float:
        """Nominal voltage of one cell."""
        return self.nominal_voltage_v / self.cells_in_series


ML314 = ProductSpec(
    model="ML314-51.2-W08",
    chemistry="LiFePO4",
    nominal_voltage_v=51.2,
    capacity_ah=314.0,
    energy_wh=16076.0,
    cells_in_series=16,
    width_mm=460.0,
    depth_mm=865.0,
    height_mm=250.0,
    mass_kg=130.0,
    cable_current_rating_a=200.0,
    cable_cross_section_mm2=50.0,
    max_modules_in_parallel=16,
    module_id_min=1,
    module_id_max=63,
    dip_switch_count=8,
    termination_dip_switch=8,
    bms_restart_min_voltage_v=40.0,
    charge_voltage_v=55.2,
    float_voltage_v=54.0,
    discharge_cutoff_voltage_v=44.8,
    max_charge_current_a=157.0,
    max_discharge_current_a=160.0,
    cell_voltage_max_v=3.65,
    cell_voltage_min_v=2.5,
    charge_temperature_min_c=0.0,
    charge_temperature_max_c=55.0,
    discharge_temperature_min_c=-20.0,
    discharge_temperature_max_c=60.0,
    cell_voltage_hardware_max_v=3.80,
    cell_voltage_floor_v=2.0,
    short_circuit_current_a=800.0,
    electronics_temperature_max_c=90.0,
)
