"""Helpers shared by the benchmarks: machine description, JSON output, a plain text table, the standard options.

Every benchmark runs as ``python benchmarks/NAME.py [--quick] [--json PATH]``, prints a table and, with
``--json``, writes ``{"benchmark": NAME, "machine": {...}, "results": [rows]}`` (DESIGN.md, "Tests and
benchmarks").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_ram_mb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: Python, platform, CPU, memory and the numeric libraries."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "total_ram_mb": _total_ram_mb(),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return value


def write_json(path: str | Path, name: str, results: Sequence[Row]) -> Path:
    """Write ``{"benchmark": name, "machine": {...}, "results": [rows]}`` to ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "machine": machine_info(), "results": [_json_safe(dict(r)) for r in results]}
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        magnitude = abs(value)
        if magnitude >= 1000.0:
            return f"{value:,.0f}"
        if magnitude >= 100.0:
            return f"{value:.1f}"
        if magnitude >= 1.0 or value == 0.0:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def format_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Rows as a plain aligned text table (numbers right-aligned, missing values as ``-``)."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def print_table(rows: Sequence[Row], columns: Sequence[str]) -> None:
    """Print :func:`format_table`."""
    print(format_table(rows, columns), flush=True)


def parser(description: str | None) -> argparse.ArgumentParser:
    """The standard options of a benchmark: ``--quick`` and ``--json PATH``."""
    p = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0] if description else None)
    p.add_argument("--quick", action="store_true", help="a shorter run (fewer repeats, smaller sizes)")
    p.add_argument("--json", metavar="PATH", type=Path, default=None, help="also write the results as JSON")
    return p


def parse_args(description: str | None, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the standard options (see :func:`parser`)."""
    return parser(description).parse_args(argv)


def finish(name: str, rows: Sequence[Row], columns: Sequence[str], json_path: Path | None) -> None:
    """Print the table and, when asked, write the JSON."""
    print_table(rows, columns)
    if json_path is not None:
        written = write_json(json_path, name, rows)
        print(f"wrote {written}", file=sys.stderr)
