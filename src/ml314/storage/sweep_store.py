"""What a sweep keeps in its output folder: one JSON file per finished case, and the table of them all.

``cases/<case_id>.json`` is written atomically the moment a case's result arrives, so a stopped study (Ctrl-C, a
killed client, a lost cluster) keeps every case it finished and a second run skips them. A case that failed is
kept too, with its error, and is run again by the next run (a failure may have been the machine's, not the case's).
``results.parquet`` is rebuilt from the case files at the end of every run: one row per case of the study.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ml314.errors import InputError
from ml314.storage.atomic import write_atomically

__all__ = ["CaseStore", "write_table"]


class CaseStore:
    """The per-case result files of one output folder."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir / "cases"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out_dir}: cannot create ({exc.strerror})") from exc

    def path(self, case_id: str) -> Path:
        """Where the result of ``case_id`` is kept."""
        return self.dir / f"{case_id}.json"

    def record(self, row: Mapping[str, Any]) -> None:
        """Keep one case's row (atomically: a crash leaves the old file or the new one)."""
        write_atomically(self.path(str(row["case_id"])), json.dumps(_plain(row), sort_keys=True) + "\n")

    def load(self, case_id: str) -> dict[str, Any] | None:
        """The kept row of ``case_id``, or None (never run, or a file that does not read: run it again)."""
        try:
            row = json.loads(self.path(case_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return row if isinstance(row, dict) else None

    def finished(self, case_ids: Iterable[str]) -> set[str]:
        """Those of ``case_ids`` with a kept row that finished without error."""
        out = set()
        for case_id in case_ids:
            row = self.load(case_id)
            if row is not None and row.get("error") is None:
                out.add(case_id)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def write_table(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Write ``rows`` (one per case, the union of their columns in first-seen order) as one Parquet file."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    data = {name: [_plain(row.get(name)) for row in rows] for name in columns}
    table = pa.table({name: _column(values) for name, values in data.items()})
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def _column(values: list[Any]) -> pa.Array:
    """A column: floats where any value is a float among numbers (an int column with a float is float)."""
    present = [v for v in values if v is not None]
    numbers = present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    if numbers and any(isinstance(v, float) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array(values)
