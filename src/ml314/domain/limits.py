"""The limits a battery gives its inverter."""

from __future__ import annotations

from dataclasses import dataclass

from ml314.domain.spec import ML314, ProductSpec


@dataclass(frozen=True, slots=True)
class ChargeLimits:
    """Charge voltage limit (CVL), discharge voltage limit, charge and discharge current limits (CCL, DCL).

    Currents are magnitudes (>= 0): the inverter may charge up to ``ccl_a`` and discharge up to ``dcl_a``.
    """

    cvl_v: float
    dvl_v: float
    ccl_a: float
    dcl_a: float

    def __post_init__(self) -> None:
        if self.ccl_a < 0.0 or self.dcl_a < 0.0:
            raise ValueError("current limits are magnitudes and cannot be negative")
        if self.dvl_v >= self.cvl_v:
            raise ValueError(f"discharge voltage limit {self.dvl_v} V must be below CVL {self.cvl_v} V")


def spec_limits(n_modules: int, spec: ProductSpec = ML314) -> ChargeLimits:
    """The limits of the product specification for a bank of ``n_modules`` (before any BMS derating)."""
    return ChargeLimits(
        cvl_v=spec.charge_voltage_v,
        dvl_v=spec.discharge_cutoff_voltage_v,
        ccl_a=spec.max_charge_current_a * n_modules,
        dcl_a=spec.max_discharge_current_a * n_modules,
    )
