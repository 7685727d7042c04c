"""Per-cell health from the twin: a leaky cell and a high-resistance cell are named, in plain words."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.ocv import load_ocv_table
from ml314.diagnostics.cell_health import CellHealthReport, CellSeries, analyse_cells
from tests.diagnostics.cycling import Cycler


@pytest.fixture(scope="module")
def report() -> CellHealthReport:
    """Two modules cycled 8 times (4.5 simulated days): module 1 cell 7 leaks 3x, module 2 cell 3 has 2x R."""
    cycler = Cycler(2)
    cycler.bank.set_cell_defect(0, 6, self_discharge_factor=3.0)
    cycler.bank.set_cell_defect(1, 2, resistance_factor=2.0)
    for _ in range(8):
        cycler.cycle(2)
    return analyse_cells(cycler.series(), load_ocv_table())


def test_the_leaky_cell_is_named_with_its_self_discharge(report: CellHealthReport) -> None:
    leaky = [f for f in report.findings if f.startswith("module 1, cell 7")]
    assert len(leaky) == 1
    assert "lowest cell at the bottom of 8 of the last 8 discharges" in leaky[0]
    cell = next(c for c in report.cells if (c.module_id, c.cell) == (1, 7))
    assert cell.self_discharge_ratio == pytest.approx(3.0, rel=0.25)
    assert "its self-discharge is 3x the others'" in leaky[0]


def test_the_high_resistance_cell_is_named_with_its_resistance(report: CellHealthReport) -> None:
    weak = [f for f in report.findings if f.startswith("module 2, cell 3")]
    assert len(weak) == 1 and "its resistance is" in weak[0]
    cell = next(c for c in report.cells if (c.module_id, c.cell) == (2, 3))
    assert cell.resistance_ratio == pytest.approx(2.0, rel=0.1)
    # the twin's R0 + R1 + R2 over 10 s at 25 degC, mid SOC: about 0.29 mOhm for a healthy cell
    healthy = [c.resistance_ohm for c in report.cells if c.module_id == 2 and c.cell != 3]
    assert 0.2e-3 < float(np.median(healthy)) < 0.4e-3  # type: ignore[arg-type]


def test_healthy_cells_are_not_named(report: CellHealthReport) -> None:
    named = {f.split(":")[0].split(" reached")[0].split(" was")[0] for f in report.findings}
    # the highest-SOC cell of the bank ends every charge first: that is said, and nothing else
    assert named <= {"module 1, cell 7", "module 2, cell 3", "module 1, cell 2"}
    assert report.charges[1] == 8 and report.discharges == {1: 8, 2: 8}


def test_no_data_says_nothing() -> None:
    empty = CellSeries(np.zeros(0), np.zeros((0, 1)), np.zeros((0, 1, 16)), (1,))
    r = analyse_cells(empty, load_ocv_table())
    assert r.findings == () and all(c.resistance_ohm is None for c in r.cells) and r.span_days == 0.0
