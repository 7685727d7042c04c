"""The row sink: the sampled rows reach the file and the statistics in order, off the stepping thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml314.runtime.simulation import RowSink, RunStats, series_columns
from ml314.storage.timeseries import open_writer, read_columns
from ml314.system import closed_loop as cl
from ml314.twin import kernel as k


def _blocks(modules: int, n_blocks: int, rows: int, extra_cols: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    width = k.ROW_BANK_COLUMNS + modules * k.ROW_MODULE_COLUMNS + extra_cols
    blocks = [rng.normal(size=(rows, width)) for _ in range(n_blocks)]
    for i, b in enumerate(blocks):
        b[:, k.COL_T_S] = np.arange(i * rows, (i + 1) * rows)  # time increases block after block
    return blocks


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_rows_arrive_in_order_and_the_statistics_see_every_one(tmp_path: Path, fmt: str) -> None:
    modules = 2
    blocks = _blocks(modules, n_blocks=7, rows=13, extra_cols=0)
    path = tmp_path / f"series.{fmt}"
    columns = series_columns(modules)
    stats = RunStats(modules)
    direct = RunStats(modules)
    with open_writer(path, columns, fmt) as writer:  # type: ignore[arg-type]
        sink = RowSink(writer, stats)
        for b in blocks:
            sink.put(b.copy(), b.shape[1])
            direct.update(b)
        sink.drain()
    got = np.concatenate([p["t_s"] for p in read_columns(path, ["t_s"])])
    assert got.tolist() == list(range(7 * 13))
    assert stats.rows == direct.rows == 7 * 13
    assert stats.soc_min == direct.soc_min and stats.cell_max_v == direct.cell_max_v
    assert stats.bus_current_max_a == direct.bus_current_max_a


def test_the_statistics_read_only_the_twin_columns(tmp_path: Path) -> None:
    modules = 1
    bms_cols = cl.ROW_BMS_BANK + modules * cl.ROW_BMS_MODULE
    (block,) = _blocks(modules, n_blocks=1, rows=5, extra_cols=bms_cols)
    twin_cols = k.ROW_BANK_COLUMNS + k.ROW_MODULE_COLUMNS
    block[:, twin_cols:] = 1.0e6  # would be the largest "current" if the statistics read them
    stats = RunStats(modules)
    with open_writer(tmp_path / "s.parquet", series_columns(modules, with_bms=True), "parquet") as writer:
        sink = RowSink(writer, stats)
        sink.put(block.copy(), twin_cols)
        sink.drain()
    assert stats.rows == 5
    assert stats.module_current_max_a == float(np.abs(block[:, k.ROW_BANK_COLUMNS + k.MC_CURRENT_A]).max())


def test_a_writer_error_surfaces_at_the_next_put_or_at_drain(tmp_path: Path) -> None:
    modules = 1
    blocks = _blocks(modules, n_blocks=2, rows=3, extra_cols=0)
    writer = open_writer(tmp_path / "s.csv", series_columns(modules), "csv")
    writer.close()  # a closed writer refuses rows
    sink = RowSink(writer, RunStats(modules))
    sink.put(blocks[0], blocks[0].shape[1])
    with pytest.raises(ValueError, match="closed writer"):
        sink.put(blocks[1], blocks[1].shape[1])
    sink.put(blocks[1], blocks[1].shape[1])
    with pytest.raises(ValueError, match="closed writer"):
        sink.drain()
