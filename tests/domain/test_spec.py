"""The product specification as data matches the manual."""

from __future__ import annotations

import pytest

from ml314.domain.limits import ChargeLimits, spec_limits
from ml314.domain.spec import ML314


def test_table_6_1_and_the_system_rules() -> None:
    assert ML314.model == "ML314-51.2-W08"
    assert (ML314.nominal_voltage_v, ML314.capacity_ah, ML314.energy_wh) == (51.2, 314.0, 16076.0)
    assert ML314.cells_in_series == 16 and ML314.nominal_cell_voltage_v == pytest.approx(3.2)
    assert (ML314.width_mm, ML314.depth_mm, ML314.height_mm, ML314.mass_kg) == (460.0, 865.0, 250.0, 130.0)
    assert ML314.cable_current_rating_a == 200.0  # Table 7-1
    assert ML314.max_modules_in_parallel == 16  # chapter 2
    assert (ML314.module_id_min, ML314.module_id_max) == (1, 63)  # 6.3
    assert ML314.bms_restart_min_voltage_v == 40.0  # 12.2 #10
    assert ML314.energy_wh == pytest.approx(ML314.nominal_voltage_v * ML314.capacity_ah, rel=1e-3)


def test_spec_limits_scale_with_the_bank_and_reject_nonsense() -> None:
    lim = spec_limits(4)
    assert lim.ccl_a == 4 * ML314.max_charge_current_a
    assert lim.dvl_v < lim.cvl_v <= 16 * ML314.cell_voltage_max_v
    with pytest.raises(ValueError, match="negative"):
        ChargeLimits(cvl_v=55.0, dvl_v=45.0, ccl_a=-1.0, dcl_a=10.0)
    with pytest.raises(ValueError, match="below CVL"):
        ChargeLimits(cvl_v=45.0, dvl_v=55.0, ccl_a=1.0, dcl_a=10.0)
