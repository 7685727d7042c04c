"""Streaming time-series writers and reader: round trips, atomic publish, batching, bounded memory."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.errors import InputError
from ml314.storage.timeseries import (
    ROW_GROUP_ROWS,
    Column,
    count_rows,
    open_writer,
    partial_path,
    read_columns,
    read_schema,
    sidecar_path,
)

FORMATS: tuple[Literal["parquet", "csv"], ...] = ("parquet", "csv")
COLUMNS = [
    Column("t_s", "s", "simulated time"),
    Column("bus_voltage_v", "V"),
    Column("bus_current_a", "A", "positive = charging"),
    Column("m01_soc", "1"),
]


def _data(rows: int, seed: int = 0) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    data = np.empty((rows, len(COLUMNS)))
    data[:, 0] = np.arange(rows) * 0.1 + 1e6  # 0.1 s steps far from zero: needs every digit
    data[:, 1] = 51.2 + rng.normal(0, 2, rows)
    data[:, 2] = rng.normal(0, 100, rows) * 10.0 ** rng.integers(-6, 4, rows)
    data[:, 3] = rng.random(rows)
    return data


def _read_all(path: Path, names: list[str], batch_rows: int = 262144) -> npt.NDArray[np.float64]:
    batches = list(read_columns(path, names, batch_rows=batch_rows))
    return np.column_stack([np.concatenate([b[n] for b in batches]) for n in names])


def _write(path: Path, data: npt.NDArray[np.float64], fmt: Literal["parquet", "csv"], step: int) -> int:
    with open_writer(path, COLUMNS, fmt) as w:
        for i in range(0, len(data), step):
            w.write(data[i : i + step])
    return w.rows_written


def test_parquet_round_trip_is_exact(tmp_path: Path) -> None:
    data = _data(150_000)
    data[5, 1], data[6, 2], data[7, 3] = np.nan, np.inf, -np.inf
    path = tmp_path / "s.parquet"
    assert _write(path, data, "parquet", 40_000) == len(data)
    np.testing.assert_array_equal(_read_all(path, [c.name for c in COLUMNS]), data)
    assert count_rows(path) == len(data)


def test_parquet_is_float64_zstd_with_bounded_row_groups_and_units(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    _write(path, _data(150_000), "parquet", 100_000)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    assert max(meta.row_group(i).num_rows for i in range(3)) == ROW_GROUP_ROWS
    assert meta.row_group(0).column(0).compression == "ZSTD"
    schema = pq.read_schema(path)
    assert all(str(f.type) == "double" for f in schema)
    assert json.loads(schema.metadata[b"ml314.units"]) == {c.name: c.unit for c in COLUMNS}
    assert read_schema(path) == COLUMNS


def test_csv_round_trip_six_significant_digits_and_exact_time(tmp_path: Path) -> None:
    data = _data(20_000)
    data[5, 1] = np.nan
    path = tmp_path / "s.csv"
    _write(path, data, "csv", 3_000)
    back = _read_all(path, [c.name for c in COLUMNS], batch_rows=7_000)
    np.testing.assert_array_equal(back[:, 0], data[:, 0])
    np.testing.assert_allclose(back[:, 1:], data[:, 1:], rtol=5e-6, atol=0, equal_nan=True)
    assert path.read_text().splitlines()[0] == ",".join(c.name for c in COLUMNS)
    assert read_schema(path) == COLUMNS
    assert count_rows(path) == len(data)


def test_csv_row_count_without_sidecar_counts_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    _write(path, _data(1234), "csv", 1000)
    sidecar_path(path).unlink()
    assert count_rows(path) == 1234
    assert read_schema(path)[1] == Column("bus_voltage_v", "")


@pytest.mark.parametrize("fmt", FORMATS)
def test_many_small_writes_equal_one_big_write(tmp_path: Path, fmt: Literal["parquet", "csv"]) -> None:
    data = _data(70_001)
    one, many = tmp_path / f"one.{fmt}", tmp_path / f"many.{fmt}"
    _write(one, data, fmt, len(data))
    with open_writer(many, COLUMNS, fmt) as w:
        i = 0
        for size in [1, 2, 3, 1000, 65530, 1, 7]:
            w.write(data[i : i + size])
            i += size
        w.write(data[i:])
    names = [c.name for c in COLUMNS]
    np.testing.assert_array_equal(_read_all(one, names), _read_all(many, names))
    if fmt == "csv":
        assert one.read_bytes() == many.read_bytes()


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 300), max_size=8))
def test_any_block_split_gives_the_same_parquet(tmp_path_factory: pytest.TempPathFactory, cuts: list[int]) -> None:
    data = _data(300, seed=3)
    path = tmp_path_factory.mktemp("split") / "s.parquet"
    bounds = [0, *sorted(cuts), 300]
    with open_writer(path, COLUMNS, "parquet") as w:
        for a, b in itertools.pairwise(bounds):
            if b > a:
                w.write(data[a:b])
    np.testing.assert_array_equal(_read_all(path, [c.name for c in COLUMNS], batch_rows=77), data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_result_name_appears_only_on_close_and_replaces_old_file(
    tmp_path: Path, fmt: Literal["parquet", "csv"]
) -> None:
    path = tmp_path / "deep" / "dir" / f"s.{fmt}"
    w = open_writer(path, COLUMNS, fmt)
    w.write(_data(10))
    assert not path.exists()
    assert partial_path(path).exists()
    w.close()
    assert path.exists() and not partial_path(path).exists()
    assert count_rows(path) == 10

    with open_writer(path, COLUMNS, fmt) as w2:
        w2.write(_data(20))
        assert count_rows(path) == 10  # the old result is untouched while the new one is written
    assert count_rows(path) == 20
    assert json.loads(sidecar_path(path).read_text())["rows"] == 20
    assert w2.path == path and w2.rows_written == 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_error_in_with_block_keeps_old_result_and_a_readable_partial(
    tmp_path: Path, fmt: Literal["parquet", "csv"]
) -> None:
    path = tmp_path / f"s.{fmt}"
    _write(path, _data(5), fmt, 5)
    with pytest.raises(RuntimeError, match="boom"), open_writer(path, COLUMNS, fmt) as w:
        w.write(_data(100_000))
        raise RuntimeError("boom")
    assert count_rows(path) == 5
    partial = partial_path(path)
    assert sum(len(b["t_s"]) for b in read_columns(partial, ["t_s"])) == 100_000


def test_bad_blocks_and_closed_writer_raise(tmp_path: Path) -> None:
    w = open_writer(tmp_path / "s.parquet", COLUMNS, "parquet")
    with pytest.raises(ValueError, match="shape"):
        w.write(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        w.write(np.zeros(4))
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        w.write(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="duplicate"):
        open_writer(tmp_path / "d.csv", [Column("a", ""), Column("a", "")], "csv")


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_columns_batches_are_exact_and_ordered(tmp_path: Path, fmt: Literal["parquet", "csv"]) -> None:
    data = _data(ROW_GROUP_ROWS + 1001)
    path = tmp_path / f"s.{fmt}"
    _write(path, data, fmt, 9999)
    batches = list(read_columns(path, ["m01_soc", "t_s"], batch_rows=10_000))
    sizes = [len(b["t_s"]) for b in batches]
    assert sizes[:-1] == [10_000] * (len(sizes) - 1)
    assert 0 < sizes[-1] <= 10_000 and sum(sizes) == len(data)
    assert all(list(b) == ["m01_soc", "t_s"] for b in batches)
    assert all(b["t_s"].dtype == np.float64 for b in batches)
    np.testing.assert_array_equal(np.concatenate([b["t_s"] for b in batches]), data[:, 0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_columns_unknown_name_is_an_input_error(tmp_path: Path, fmt: Literal["parquet", "csv"]) -> None:
    path = tmp_path / f"s.{fmt}"
    _write(path, _data(3), fmt, 3)
    with pytest.raises(InputError, match="nope"):
        list(read_columns(path, ["t_s", "nope"]))


def test_writer_and_reader_memory_stay_bounded(tmp_path: Path) -> None:
    """2 M rows x 40 columns (640 MB of float64) written and read back; peak RSS grows < 300 MB."""
    script = textwrap.dedent(
        f"""
        import resource
        import numpy as np
        from pathlib import Path
        from ml314.storage.timeseries import Column, open_writer, read_columns

        cols = [Column("t_s", "s")] + [Column(f"c{{i:02d}}_v", "V") for i in range(39)]
        rng = np.random.default_rng(0)
        base = rng.normal(size=(25_000, 40))
        path = Path({str(tmp_path / "big.parquet")!r})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with open_writer(path, cols, "parquet") as w:
            for k in range(80):
                block = base + k
                block[:, 0] = np.arange(k * 25_000, (k + 1) * 25_000) * 10.0
                w.write(block)
        rows = 0
        for batch in read_columns(path, [c.name for c in cols], batch_rows=65536):
            rows += len(batch["t_s"])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(w.rows_written, rows, (after - before) * 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    written, read, growth_bytes = (int(x) for x in out.stdout.split())
    assert written == read == 2_000_000
    assert growth_bytes < 300 * 2**20, f"max RSS grew {growth_bytes / 2**20:.0f} MB"
