"""Streaming time-series files (Parquet or CSV) with memory bounded however long the run.

Contracts:
- A writer takes 2-D float64 blocks of shape (rows, len(columns)), any number of rows per call.
- The result name appears only when a complete file exists: rows go to ``partial_path(path)`` and are
  renamed onto ``path`` by ``close()``. If the ``with`` body raises, the partial file is closed (still
  readable) and left under its partial name; the previous result, if any, is untouched.
- Beside every result a sidecar ``<file>.columns.json`` records format, row count and column units.
- Readers stream: memory grows with ``batch_rows * len(names)``, never with the file length.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from ml314.errors import InputError

FloatArray = npt.NDArray[np.float64]
Format = Literal["parquet", "csv"]

ROW_GROUP_ROWS = 65536
"""Rows per Parquet row group, and the writer's buffer size."""
_CSV_CHUNK_ROWS = 8192
"""Rows formatted or parsed at once in CSV; bounds the text held in memory."""
_UNITS_KEY = b"ml314.units"


@dataclass(frozen=True)
class Column:
    """One float64 column: ``name`` carries its unit suffix (``bus_voltage_v``), ``unit`` says it plainly."""

    name: str
    unit: str
    description: str = ""


class TimeSeriesWriter(Protocol):
    """Appends float64 blocks to one file; a context manager that closes (or aborts) on exit."""

    path: Path
    rows_written: int

    def write(self, block: npt.NDArray[Any]) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def partial_path(path: Path) -> Path:
    """Where a writer puts rows before ``close()`` renames them onto ``path``."""
    return path.with_suffix(".partial")


def sidecar_path(path: Path) -> Path:
    """The JSON file beside ``path`` holding format, row count and column units."""
    return path.with_name(path.name + ".columns.json")


class _Writer:
    """Shared life cycle: validation, partial file, sidecar, atomic rename."""

    fmt: Format

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        names = [c.name for c in columns]
        if not names:
            raise ValueError("a time series needs at least one column")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate column names in {names}")
        self.path = Path(path)
        self.columns = tuple(columns)
        self.rows_written = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = partial_path(self.path)

    def _check(self, block: npt.NDArray[Any]) -> FloatArray:
        if self._closed:
            raise ValueError(f"write to closed writer for {self.path}")
        arr = np.asarray(block, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self.columns):
            raise ValueError(f"block shape {arr.shape} != (rows, {len(self.columns)})")
        return arr

    def _finish(self) -> None:
        """Flush buffered rows and close the partial file (it is complete and readable after this)."""
        raise NotImplementedError

    def close(self) -> None:
        """Complete the file and rename it onto ``path`` (replacing any previous result). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._finish()
        with open(self._partial, "rb+") as f:
            os.fsync(f.fileno())
        _write_sidecar(self.path, self.fmt, self.rows_written, self.columns)
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        """Close the partial file without publishing it under ``path``. A failure to close (the disk that just
        filled up, a file already closed by the library) is not raised: the error that led here is the one to tell."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._finish()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ParquetWriter(_Writer):
    """Float64 Parquet, zstd, row groups of ``ROW_GROUP_ROWS``; units in schema and field metadata."""

    fmt: Format = "parquet"

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        super().__init__(path, columns)
        units = {c.name: c.unit for c in self.columns}
        fields = [
            pa.field(c.name, pa.float64(), nullable=False, metadata={"unit": c.unit, "description": c.description})
            for c in self.columns
        ]
        self._schema = pa.schema(fields, metadata={_UNITS_KEY: json.dumps(units).encode()})
        # Column-major so each column slice handed to Arrow is contiguous.
        self._buf: FloatArray = np.empty((len(self.columns), ROW_GROUP_ROWS), dtype=np.float64)
        self._fill = 0
        self._pq = pq.ParquetWriter(str(self._partial), self._schema, compression="zstd", use_dictionary=False)

    def write(self, block: npt.NDArray[Any]) -> None:
        """Append ``block`` (rows, len(columns)); full row groups are written as they fill."""
        arr = self._check(block)
        start = 0
        while start < arr.shape[0]:
            take = min(ROW_GROUP_ROWS - self._fill, arr.shape[0] - start)
            self._buf[:, self._fill : self._fill + take] = arr[start : start + take].T
            self._fill += take
            start += take
            if self._fill == ROW_GROUP_ROWS:
                self._flush()
        self.rows_written += arr.shape[0]

    def _flush(self) -> None:
        if self._fill == 0:
            return
        arrays = [pa.array(self._buf[i, : self._fill]) for i in range(len(self.columns))]
        self._pq.write_table(pa.Table.from_arrays(arrays, schema=self._schema), row_group_size=self._fill)
        self._fill = 0

    def _finish(self) -> None:
        self._flush()
        self._pq.close()


class CsvWriter(_Writer):
    """Comma-separated text: a header of plain names; ``%.6g`` values, full precision for ``*_s`` columns."""

    fmt: Format = "csv"

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        super().__init__(path, columns)
        # %r gives the shortest repr that round-trips a float: time keeps every digit.
        fmts = ["%r" if c.name.endswith("_s") else "%.6g" for c in self.columns]
        self._row_fmt = ",".join(fmts) + "\n"
        self._file = open(self._partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._file.write(",".join(c.name for c in self.columns) + "\n")

    def write(self, block: npt.NDArray[Any]) -> None:
        """Append ``block`` (rows, len(columns)) as text lines."""
        arr = self._check(block)
        fmt = self._row_fmt
        for start in range(0, arr.shape[0], _CSV_CHUNK_ROWS):
            rows = arr[start : start + _CSV_CHUNK_ROWS].tolist()
            self._file.write("".join([fmt % tuple(r) for r in rows]))
        self.rows_written += arr.shape[0]

    def _finish(self) -> None:
        self._file.close()


def open_writer(path: Path, columns: Sequence[Column], fmt: Format) -> TimeSeriesWriter:
    """A writer for ``fmt`` at ``path``; its directory is created if missing."""
    if fmt == "parquet":
        return ParquetWriter(path, columns)
    if fmt == "csv":
        return CsvWriter(path, columns)
    raise ValueError(f"unknown time-series format {fmt!r}; use 'parquet' or 'csv'")


def _write_sidecar(path: Path, fmt: Format, rows: int, columns: Sequence[Column]) -> None:
    doc = {
        "format": fmt,
        "rows": rows,
        "columns": [{"name": c.name, "unit": c.unit, "description": c.description} for c in columns],
    }
    side = sidecar_path(path)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, side)


def detect_format(path: Path) -> Format:
    """``parquet`` if the file starts with the Parquet magic, else ``csv``."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise InputError(f"cannot read time series {path}: {e.strerror}") from e
    return "parquet" if magic == b"PAR1" else "csv"


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [n.strip() for n in f.readline().rstrip("\n").split(",")]


def read_schema(path: Path) -> list[Column]:
    """The columns of a written file, in file order, with units where the file (or sidecar) records them."""
    if detect_format(path) == "parquet":
        try:
            schema = pq.read_schema(str(path))
        except (OSError, pa.ArrowException) as e:
            raise InputError(f"cannot read Parquet schema of {path}: {e}") from e
        cols = []
        for field in schema:
            meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
            cols.append(Column(field.name, meta.get("unit", ""), meta.get("description", "")))
        return cols
    names = _csv_header(path)
    side = _read_sidecar(path) or {}
    known = {c["name"]: c for c in side.get("columns", []) if isinstance(c, dict) and "name" in c}
    return [
        Column(n, str(known.get(n, {}).get("unit", "")), str(known.get(n, {}).get("description", ""))) for n in names
    ]


def count_rows(path: Path) -> int:
    """Data rows in a written file: Parquet footer, else the CSV sidecar if it matches, else a line count."""
    if detect_format(path) == "parquet":
        try:
            return int(pq.ParquetFile(str(path)).metadata.num_rows)
        except (OSError, pa.ArrowException) as e:
            raise InputError(f"cannot read Parquet metadata of {path}: {e}") from e
    side = _read_sidecar(path)
    if side is not None and [c.get("name") for c in side.get("columns", [])] == _csv_header(path):
        return int(side["rows"])
    with open(path, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return max(lines - 1, 0)


def read_columns(path: Path, names: Sequence[str], batch_rows: int = 262144) -> Iterator[dict[str, FloatArray]]:
    """Stream ``names`` from a written file in row order.

    Every batch holds exactly ``batch_rows`` rows except the last, which holds the rest (never zero).
    Raises ``InputError`` if a name is missing from the file.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return iter(())
    available = {c.name for c in read_schema(path)}
    missing = [n for n in wanted if n not in available]
    if missing:
        raise InputError(f"{path} has no column(s) {', '.join(missing)}")
    if detect_format(path) == "parquet":
        parts = _parquet_parts(path, wanted, batch_rows)
    else:
        parts = _csv_parts(path, wanted, min(batch_rows, _CSV_CHUNK_ROWS))
    return _rechunk(parts, wanted, batch_rows)


def _parquet_parts(path: Path, names: list[str], batch_rows: int) -> Generator[dict[str, FloatArray], None, None]:
    # pre_buffer=False: with it, pyarrow caches every row group read so far and memory grows with the file.
    pf = pq.ParquetFile(str(path), pre_buffer=False)
    try:
        for batch in pf.iter_batches(batch_size=batch_rows, columns=names):
            yield {
                n: np.asarray(batch.column(i).to_numpy(zero_copy_only=False), dtype=np.float64)
                for i, n in enumerate(names)
            }
    finally:
        pf.close()


def _csv_parts(path: Path, names: list[str], chunk_rows: int) -> Generator[dict[str, FloatArray], None, None]:
    header = _csv_header(path)
    idx = [header.index(n) for n in names]
    with open(path, encoding="utf-8") as f:
        f.readline()
        line_no = 2
        while lines := list(islice(f, chunk_rows)):
            try:
                arr = np.loadtxt(lines, delimiter=",", usecols=idx, ndmin=2, dtype=np.float64)
            except ValueError as e:
                raise InputError(
                    f"{path}: bad CSV row between lines {line_no} and {line_no + len(lines) - 1}: {e}"
                ) from e
            line_no += len(lines)
            yield {n: np.ascontiguousarray(arr[:, j]) for j, n in enumerate(names)}


def _rechunk(
    parts: Generator[dict[str, FloatArray], None, None], names: list[str], batch_rows: int
) -> Iterator[dict[str, FloatArray]]:
    """Regroup arbitrary-sized parts into batches of exactly ``batch_rows`` (the last may be shorter)."""
    pending: list[dict[str, FloatArray]] = []
    held = 0
    with contextlib.closing(parts):
        for part in parts:
            n = len(part[names[0]])
            if n == 0:
                continue
            if not pending and n == batch_rows:
                yield part
                continue
            pending.append(part)
            held += n
            while held >= batch_rows:
                merged = {k: np.concatenate([p[k] for p in pending]) for k in names}
                yield {k: v[:batch_rows] for k, v in merged.items()}
                held -= batch_rows
                pending = [{k: v[batch_rows:] for k, v in merged.items()}] if held else []
    if held:
        yield {k: np.concatenate([p[k] for p in pending]) for k in names}
