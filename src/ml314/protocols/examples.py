"""The worked example of ``reference/protocols.md``: a bank whose frames the reference spells out byte for byte.

16 modules x 314 Ah at 52.80 V, -196.8 A (each module -12.3 A), 25.0 degC, SOC 50 %, SOH 100 %, limits 56.8 V /
2400.0 A / 3200.0 A / 48.0 V; each module's cells at 3300..3315 mV, temperatures 25.0 (board), 24.0, 24.1, 24.2,
24.3 (cells), 26.0 (MOSFET) degC, 42 cycles, 157.000 of 314.000 Ah. Golden tests and benchmarks start here.
"""

from __future__ import annotations

from dataclasses import replace

from ml314.domain.battery_status import BankStatus, ModuleStatus
from ml314.domain.limits import ChargeLimits

__all__ = ["worked_example"]

_CELLS_V = tuple(round(3.300 + 0.001 * i, 3) for i in range(16))
_TEMPS_C = (25.0, 24.0, 24.1, 24.2, 24.3, 26.0)


def _module(address: int) -> ModuleStatus:
    return ModuleStatus(
        address=address,
        voltage_v=52.8,
        current_a=-12.3,
        soc_pct=50.0,
        soh_pct=100.0,
        cell_voltages_v=_CELLS_V,
        temperatures_c=_TEMPS_C,
        remaining_capacity_ah=157.0,
        full_capacity_ah=314.0,
        design_capacity_ah=314.0,
        cycles=42,
        serial=f"ML314W08{address:08d}",
        charge_mosfet_on=True,
        discharge_mosfet_on=True,
        limits=ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=150.0, dcl_a=200.0),
    )


def worked_example(n_modules: int = 16) -> BankStatus:
    """The reference's worked example for ``n_modules`` modules (currents, capacities and limits scale with n)."""
    modules = tuple(_module(a) for a in range(1, n_modules + 1))
    return BankStatus(
        t_s=0.0,
        voltage_v=52.8,
        current_a=round(-12.3 * n_modules, 1),
        temperature_c=25.0,
        soc_pct=50.0,
        soh_pct=100.0,
        limits=ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=150.0 * n_modules, dcl_a=200.0 * n_modules),
        charge_enable=True,
        discharge_enable=True,
        force_charge_1=False,
        force_charge_2=False,
        full_charge_request=False,
        cycles=42,
        remaining_capacity_ah=157.0 * n_modules,
        full_capacity_ah=314.0 * n_modules,
        installed_capacity_ah=314.0 * n_modules,
        cell_voltage_max_v=3.315,
        cell_voltage_min_v=3.300,
        cell_voltage_max_id=16,
        cell_voltage_min_id=1,
        cell_temperature_max_c=24.3,
        cell_temperature_min_c=24.0,
        cell_temperature_max_id=4,
        cell_temperature_min_id=1,
        mosfet_temperature_c=26.0,
        board_temperature_c=25.0,
        modules=modules,
    )


def with_modules(status: BankStatus, modules: tuple[ModuleStatus, ...]) -> BankStatus:
    """``status`` with other modules (a test convenience that keeps the bank fields)."""
    return replace(status, modules=modules)
