"""``ml314 simulate`` with the bank link by events (the default) against ``--link-bytes``: the same results
within the tolerances docs/bank_link.md states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ml314.errors import InputError
from ml314.runtime.scenarios import SCENARIOS
from ml314.runtime.simulation import SimulationRequest, simulate


def _run(tmp: Path, link_bytes: bool) -> tuple[dict, dict[str, np.ndarray]]:  # type: ignore[type-arg]
    req = SimulationRequest(scenario="home", modules=4, days=0.05, seed=2, initial_soc=0.3, link_bytes=link_bytes)
    out = simulate(req, tmp / ("bytes" if link_bytes else "events"), SCENARIOS, report=False)
    table = pq.read_table(out.series_path)
    return out.summary, {name: np.asarray(table.column(name), dtype=float) for name in table.column_names}


def test_the_link_by_events_gives_the_results_of_the_link_on_bytes(tmp_path: Path) -> None:
    fast, fast_rows = _run(tmp_path, link_bytes=False)
    slow, slow_rows = _run(tmp_path, link_bytes=True)
    # membership: the same events at the same link times, the same rounds and bytes on the wire
    fl, sl = fast["bank_link"], slow["bank_link"]
    assert fl["events"] == sl["events"]
    assert fl["online"] == sl["online"] == [2, 3, 4]
    assert fl["polling_rounds"] == sl["polling_rounds"]
    assert fl["bytes_on_wire"] == sl["bytes_on_wire"]
    # energy within 0.1 %, SOC within 1e-4, the limits the inverter obeyed within 0.5 %
    for key in ("battery_charged_kwh", "battery_discharged_kwh", "grid_import_kwh", "grid_export_kwh"):
        assert fast["energy"][key] == pytest.approx(slow["energy"][key], rel=1e-3, abs=1e-3)
    for m in range(1, 5):
        name = f"m{m:02d}_soc"
        assert np.abs(fast_rows[name] - slow_rows[name]).max() <= 1e-4
    for name in ("bank_cvl_v", "bank_ccl_a", "bank_dcl_a"):
        a, b = fast_rows[name], slow_rows[name]
        assert np.abs(a - b).mean() <= 0.005 * np.abs(b).mean(), name


def test_link_bytes_needs_a_link() -> None:
    with pytest.raises(InputError, match="--link-bytes"):
        SimulationRequest(modules=1, link_bytes=True).validate()
