"""The simulation report: min/mean/max envelopes streamed from a time series, PNG plots, one HTML page.

Contracts:
- Streaming passes over the series (the envelopes, the daily energy, the cell extremes); memory is bounded by the
  batch size and ``max_points``, never by the run length (a year of 16 modules at 10 s in well under 1 GB).
- Modules are discovered from column names ``mNN_<quantity>``; a plot whose columns are absent is skipped.
- ``report.html`` is one self-contained file: the interactive charts (the PC software's charts.js and uPlot inline,
  with their data) first, then the PNG plots (by relative file name), then the tables (:mod:`report_html`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib import colormaps
from matplotlib.figure import Figure

from ml314.storage.report_charts import cell_extremes, chart_document, daily_energy
from ml314.storage.report_html import format_value, page
from ml314.storage.timeseries import count_rows, read_columns, read_schema

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Envelope", "downsample_envelope", "format_value", "modules_in", "nice_rows_per_bin", "write_report"]

FloatArray = npt.NDArray[np.float64]
Derived = Callable[[Mapping[str, FloatArray]], FloatArray]

MODULE_COLUMN = re.compile(r"^m(\d\d)_(.+)$")
_BATCH_VALUES = 1 << 20
"""Values (rows x columns) per streamed batch: 8 MiB of float64."""


class Envelope(NamedTuple):
    """Per bin: mean time, and the min, mean and max of one series (NaN where a bin had no finite value)."""

    t_s: FloatArray
    min: FloatArray
    mean: FloatArray
    max: FloatArray


class _Acc:
    """Running min/sum/count/max per bin for one series."""

    def __init__(self, bins: int) -> None:
        self.lo = np.full(bins, np.inf)
        self.hi = np.full(bins, -np.inf)
        self.total = np.zeros(bins)
        self.count = np.zeros(bins)

    def add(self, values: FloatArray, starts: npt.NDArray[np.intp], bins: npt.NDArray[np.intp]) -> None:
        ok = np.isfinite(values)
        self.lo[bins] = np.minimum(self.lo[bins], np.minimum.reduceat(np.where(ok, values, np.inf), starts))
        self.hi[bins] = np.maximum(self.hi[bins], np.maximum.reduceat(np.where(ok, values, -np.inf), starts))
        self.total[bins] += np.add.reduceat(np.where(ok, values, 0.0), starts)
        self.count[bins] += np.add.reduceat(ok.astype(np.float64), starts)

    def envelope(self, t_s: FloatArray) -> Envelope:
        empty = self.count == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.total / self.count
        return Envelope(
            t_s,
            np.where(empty, np.nan, self.lo),
            np.where(empty, np.nan, mean),
            np.where(empty, np.nan, self.hi),
        )


def downsample_envelope(
    path: Path,
    names: Sequence[str],
    max_points: int = 2000,
    total_rows: int | None = None,
    derived: Mapping[str, Derived] | None = None,
    *,
    rows_per_bin: int | None = None,
    batch_rows: int | None = None,
) -> dict[str, Envelope]:
    """Min/mean/max of each series over consecutive bins of rows; one streaming pass.

    Bins hold ``rows_per_bin`` rows each (default ``ceil(total_rows / max_points)``, so at most
    ``max_points`` bins); the last bin may be shorter. ``total_rows`` defaults to the file's own row
    count; rows past it fall into the last bin. ``derived`` maps extra keys to functions of a batch (a
    mapping of the ``names`` columns) computed row-wise before binning, e.g. a cell spread. The file needs
    a ``t_s`` column. ``batch_rows`` (default: about 1 M values per batch) bounds memory; results do not
    depend on it.
    """
    if max_points < 1:
        raise ValueError("max_points must be >= 1")
    rows = count_rows(path) if total_rows is None else total_rows
    per_bin = rows_per_bin or max(-(-rows // max_points), 1)
    bins = max(-(-rows // per_bin), 1)
    wanted = list(dict.fromkeys(["t_s", *names]))
    extra = dict(derived or {})
    accs = {k: _Acc(bins) for k in [*wanted, *extra]}
    batch_rows = batch_rows or max(1024, _BATCH_VALUES // len(wanted))
    offset = 0
    for batch in read_columns(path, wanted, batch_rows=batch_rows):
        n = len(batch["t_s"])
        row_bin = np.minimum(np.arange(offset, offset + n) // per_bin, bins - 1)
        starts = np.flatnonzero(np.r_[True, row_bin[1:] != row_bin[:-1]])
        ub = row_bin[starts]
        for k in wanted:
            accs[k].add(batch[k], starts, ub)
        for k, fn in extra.items():
            accs[k].add(np.asarray(fn(batch), dtype=np.float64), starts, ub)
        offset += n
    t_env = accs["t_s"].envelope(np.empty(0))
    t_s = t_env.mean
    keep = [*dict.fromkeys(names), *extra]
    return {k: accs[k].envelope(t_s) for k in keep}


# ---------------------------------------------------------------- plots


@dataclass(frozen=True)
class _Plot:
    file: str
    caption: str


def modules_in(names: Iterable[str]) -> list[str]:
    """Sorted module prefixes (``m01`` ...) found among column names."""
    return sorted({f"m{m.group(1)}" for n in names if (m := MODULE_COLUMN.match(n))})


def _time_axis(t_s: FloatArray) -> tuple[float, str]:
    span = float(np.nanmax(t_s) - np.nanmin(t_s)) if t_s.size and np.isfinite(t_s).any() else 0.0
    if span <= 2 * 3600:
        return 60.0, "time [min]"
    if span <= 72 * 3600:
        return 3600.0, "time [h]"
    return 86400.0, "time [d]"


def _colors(count: int) -> list[Any]:
    cmap = colormaps["tab20"]
    order = [*range(0, 20, 2), *range(1, 20, 2)]  # the ten distinct hues first
    return [cmap(order[i % 20]) for i in range(count)]


def _band(ax: Axes, x: FloatArray, env: Envelope, color: Any, label: str, *, scale: float = 1.0) -> None:
    """Mean line with the min..max envelope shaded behind it."""
    ax.fill_between(x, env.min * scale, env.max * scale, color=color, alpha=0.18, linewidth=0)
    ax.plot(x, env.mean * scale, color=color, linewidth=1.0, label=label)


def _figure(rows: int) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(11, 2.0 + 2.6 * rows), layout="constrained")
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _legend(ax: Axes, entries: int) -> None:
    if entries:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", ncol=1 if entries <= 12 else 2)


def _save(fig: Figure, out_dir: Path, name: str) -> None:
    fig.savefig(out_dir / name, dpi=100)


class _Ctx:
    """What the plot functions share: envelopes, modules, x axis."""

    def __init__(self, env: Mapping[str, Envelope], modules: list[str], title: str) -> None:
        self.env = env
        self.modules = modules
        self.title = title
        t = next(iter(env.values())).t_s if env else np.empty(0)
        self.x_div, self.x_label = _time_axis(t)
        self.x = t / self.x_div
        self.colors = _colors(len(modules))

    def has(self, *names: str) -> bool:
        return all(n in self.env for n in names)

    def per_module(self, quantity: str) -> list[tuple[str, Any, Envelope]]:
        return [
            (m, c, self.env[f"{m}_{quantity}"])
            for m, c in zip(self.modules, self.colors, strict=True)
            if f"{m}_{quantity}" in self.env
        ]

    def finish(self, fig: Figure, axes: list[Axes], heading: str) -> None:
        axes[-1].set_xlabel(self.x_label)
        fig.suptitle(f"{self.title}: {heading}", fontsize="medium")


def _plot_soc(c: _Ctx, out: Path) -> _Plot | None:
    series = c.per_module("soc")
    if not series:
        return None
    fig, (ax,) = _figure(1)
    for m, col, env in series:
        _band(ax, c.x, env, col, m, scale=100.0)
    ax.set_ylabel("true SOC [%]")
    ax.set_ylim(-2, 102)
    _legend(ax, len(series))
    c.finish(fig, [ax], "state of charge")
    _save(fig, out, "soc.png")
    return _Plot("soc.png", "True state of charge of each module (the twin's truth, not the BMS estimate).")


def _plot_voltage(c: _Ctx, out: Path) -> _Plot | None:
    series = c.per_module("voltage_v")
    if not series and not c.has("bus_voltage_v"):
        return None
    fig, (ax,) = _figure(1)
    for m, col, env in series:
        _band(ax, c.x, env, col, m)
    if c.has("bus_voltage_v"):  # drawn last so the modules do not hide it
        _band(ax, c.x, c.env["bus_voltage_v"], "black", "bus")
    ax.set_ylabel("voltage [V]")
    _legend(ax, len(series) + c.has("bus_voltage_v"))
    c.finish(fig, [ax], "voltage")
    _save(fig, out, "voltage.png")
    return _Plot("voltage.png", "Bus voltage (black) and each module's terminal voltage.")


def _plot_current(c: _Ctx, out: Path) -> _Plot | None:
    series = c.per_module("current_a")
    bus = c.env.get("bus_current_a")
    if not series and bus is None:
        return None
    split = bus is not None and len(series) >= 2
    fig, axes = _figure((bus is not None) + bool(series) + split)
    i = 0
    if bus is not None:
        _band(axes[0], c.x, bus, "black", "bus")
        axes[0].set_ylabel("bus current [A]")
        i = 1
    if series:
        for m, col, env in series:
            _band(axes[i], c.x, env, col, m)
        axes[i].set_ylabel("module current [A]")
        _legend(axes[i], len(series))
    if split and bus is not None:
        share = bus.mean / len(series)
        for m, col, env in series:
            axes[-1].plot(c.x, env.mean - share, color=col, linewidth=1.0, label=m)
        axes[-1].axhline(0.0, color="black", linewidth=0.8)
        axes[-1].set_ylabel("minus equal share [A]")
    c.finish(fig, axes, "current (positive = charging)")
    _save(fig, out, "current.png")
    return _Plot(
        "current.png",
        "Bus current and the current each module carries (positive = charging); the bottom panel shows "
        "each module's mean current minus an equal share of the bus current, so the split between modules "
        "is visible.",
    )


def _outage_shade(ax: Axes, c: _Ctx) -> bool:
    grid = c.env.get("grid_up")
    if grid is None:
        return False
    down = np.nan_to_num(grid.min, nan=1.0) < 0.5
    if not down.any():
        return False
    ax.fill_between(
        c.x, 0, 1, where=down, step="mid", transform=ax.get_xaxis_transform(), color="0.6", alpha=0.3,
        linewidth=0, label="grid down",
    )  # fmt: skip
    return True


def _plot_power(c: _Ctx, out: Path) -> _Plot | None:
    lines = [
        ("pv_w", "PV", "#f2a900"),
        ("load_w", "load", "#d62728"),
        ("grid_w", "grid (import +)", "#1f77b4"),
        ("battery_w", "battery (charge +)", "#2ca02c"),
    ]
    present = [ln for ln in lines if ln[0] in c.env]
    if not present:
        return None
    losses = [
        (k, lbl, col)
        for k, lbl, col in [
            ("curtailed_w", "curtailed PV", "#9467bd"),
            ("unserved_w", "unserved load", "#8c564b"),
        ]
        if k in c.env and np.nanmax(np.r_[c.env[k].max, 0.0]) > 0
    ]
    fig, axes = _figure(1 + bool(losses))
    for ax in axes:
        _outage_shade(ax, c)
    for k, lbl, col in present:
        _band(axes[0], c.x, c.env[k], col, lbl, scale=1e-3)
    axes[0].axhline(0.0, color="black", linewidth=0.6)
    axes[0].set_ylabel("power [kW]")
    _legend(axes[0], len(present) + 1)
    for k, lbl, col in losses:
        _band(axes[1], c.x, c.env[k], col, lbl, scale=1e-3)
    if losses:
        axes[1].set_ylabel("lost [kW]")
        _legend(axes[1], len(losses) + 1)
    c.finish(fig, axes, "power")
    _save(fig, out, "power.png")
    return _Plot("power.png", "PV, load, grid (import positive) and battery (charge positive) power; grey: grid down.")


def _plot_spread(c: _Ctx, out: Path) -> _Plot | None:
    series = c.per_module("cell_spread_mv")
    if not series:
        return None
    fig, (ax,) = _figure(1)
    for m, col, env in series:
        _band(ax, c.x, env, col, m)
    ax.set_ylabel("max - min cell [mV]")
    _legend(ax, len(series))
    c.finish(fig, [ax], "cell voltage spread")
    _save(fig, out, "cell_spread.png")
    return _Plot("cell_spread.png", "Spread between the highest and lowest cell voltage of each module, in mV.")


def _plot_temperature(c: _Ctx, out: Path) -> _Plot | None:
    hi = {m: (col, env) for m, col, env in c.per_module("temp_max_c")}
    lo = {m: (col, env) for m, col, env in c.per_module("temp_min_c")}
    if not hi and not lo and not c.has("ambient_c"):
        return None
    fig, (ax,) = _figure(1)
    if c.has("ambient_c"):
        _band(ax, c.x, c.env["ambient_c"], "black", "ambient")
    for m, col in zip(c.modules, c.colors, strict=True):
        for side, style in ((hi, "-"), (lo, "--")):
            if m in side:
                env = side[m][1]
                ax.fill_between(c.x, env.min, env.max, color=col, alpha=0.15, linewidth=0)
                ax.plot(c.x, env.mean, color=col, linewidth=1.0, linestyle=style)
        if m in hi or m in lo:
            ax.plot([], [], color=col, label=m)
    ax.plot([], [], color="0.4", linestyle="-", label="max cell")
    ax.plot([], [], color="0.4", linestyle="--", label="min cell")
    ax.set_ylabel("temperature [°C]")
    _legend(ax, len(set(hi) | set(lo)) + 2 + c.has("ambient_c"))
    c.finish(fig, [ax], "temperature")
    _save(fig, out, "temperature.png")
    return _Plot("temperature.png", "Lowest (dashed) and highest (solid) cell temperature of each module, and ambient.")


_PLOTS = (_plot_soc, _plot_voltage, _plot_current, _plot_power, _plot_spread, _plot_temperature)
_MODULE_QUANTITIES = (
    "soc", "voltage_v", "current_a", "cell_min_v", "cell_max_v", "temp_min_c", "temp_max_c", "bms_soc",
    "bms_soc_bound",
)  # fmt: skip
_SYSTEM_COLUMNS = (
    "ambient_c", "grid_up", "pv_w", "load_w", "grid_w", "battery_w", "curtailed_w", "unserved_w",
    "bus_voltage_v", "bus_current_a", "bank_cvl_v", "bank_ccl_a", "bank_dcl_a",
)  # fmt: skip


_NICE_BIN_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def nice_rows_per_bin(path: Path, rows: int, max_points: int) -> int | None:
    """Rows per bin spanning a round duration (1 min, 1 h, 6 h, 1 d ...) with at most ``max_points`` bins.

    Round bins keep a daily cycle from beating against the bin width. ``None`` when the sample step is
    not regular from the first two rows or no round duration fits.
    """
    first = next(read_columns(path, ["t_s"], batch_rows=2), {}).get("t_s")
    if first is None or len(first) < 2 or not first[1] > first[0]:
        return None
    dt_s = float(first[1] - first[0])
    span_s = dt_s * rows
    for bin_s in _NICE_BIN_S:
        per_bin = round(bin_s / dt_s)
        if per_bin >= 1 and abs(per_bin * dt_s - bin_s) < 1e-6 * bin_s and span_s / bin_s <= max_points:
            return per_bin
    return None


def _spread(m: str) -> Derived:
    return lambda b: (b[f"{m}_cell_max_v"] - b[f"{m}_cell_min_v"]) * 1000.0


def write_report(
    series_path: Path,
    out_dir: Path,
    summary: Mapping[str, Any],
    title: str,
    max_points: int = 2000,
    *,
    t0_s: float = 0.0,
) -> Path:
    """Write ``report.html`` (charts, PNG plots, tables) and the PNGs into ``out_dir``; return the page's path.

    ``t0_s`` is the epoch second of ``t_s`` = 0 (the simulated calendar's start:
    :func:`~ml314.storage.report_charts.calendar_origin_s`). ``summary`` is rendered as tables: nested mappings
    become sections; a key's suffix gives its unit.
    """
    matplotlib.use("Agg")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {c.name for c in read_schema(series_path)}
    modules = modules_in(names)
    wanted = ["t_s", *(n for n in _SYSTEM_COLUMNS if n in names)]
    wanted += [f"{m}_{q}" for m in modules for q in _MODULE_QUANTITIES if f"{m}_{q}" in names]
    derived = {
        f"{m}_cell_spread_mv": _spread(m) for m in modules if f"{m}_cell_max_v" in names and f"{m}_cell_min_v" in names
    }
    rows = count_rows(series_path)
    per_bin = nice_rows_per_bin(series_path, rows, max_points) if rows else None
    env = downsample_envelope(series_path, wanted, max_points, rows, derived, rows_per_bin=per_bin) if rows else {}
    ctx = _Ctx(env, modules, title)
    plots = [p for fn in _PLOTS if env and (p := fn(ctx, out_dir)) is not None]
    charts = chart_document(
        env,
        modules,
        summary,
        title=title,
        t0_s=t0_s,
        daily=daily_energy(series_path, t0_s) if rows else None,
        cells=cell_extremes(series_path, modules) if rows else None,
    )
    span = float(np.nanmax(env["t_s"].max) - np.nanmin(env["t_s"].min)) if env else 0.0
    meta = (
        f"Time series {series_path.name}: {rows:,} rows, {len(modules)} module(s), span {format_value('span_s', span)}."
    )
    path = out_dir / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page(title, meta, summary, charts, [(p.file, p.caption) for p in plots]), encoding="utf-8")
    os.replace(tmp, path)
    return path
