"""The HTML report of a sweep: the plots an installer sizes a system with, the knee of each series, every case.

Plots (PNG files beside ``report.html``): autarky against modules, one line per series (a PV size, a load ...);
the state of health at the end and projected to 10 and 15 years against modules; with a tariff, the yearly savings
and the simple payback against modules. The knee of each series (the module count after which another module
stops paying, ``runtime/sweep_analysis.py``) is marked on every plot and listed in a table.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import matplotlib
from matplotlib.figure import Figure

from ml314 import __version__
from ml314.storage.report_html import _CSS, format_value

__all__ = ["write_sweep_report"]

#: the columns of the table of cases in the report, in order
CASE_COLUMNS = (
    "modules",
    "pv_kw",
    "load_kwh",
    "days",
    "autarky_pct",
    "self_consumption_pct",
    "grid_import_kwh",
    "grid_export_kwh",
    "battery_discharged_kwh",
    "equivalent_full_cycles",
    "soh_end_pct",
    "soh_10y_pct",
    "soh_15y_pct",
    "backup_hours_at_reserve",
    "load_unserved_kwh",
    "annual_savings",
    "payback_years",
    "wall_s",
)


class SeriesLike(Protocol):
    """A series of cases that differ only in their module count (``runtime/sweep_analysis.Series``)."""

    @property
    def label(self) -> str: ...

    @property
    def rows(self) -> tuple[dict[str, Any], ...]: ...

    @property
    def knee_modules(self) -> int | None: ...


def _plot(
    series: Sequence[SeriesLike], metrics: Sequence[tuple[str, str]], ylabel: str, out: Path, name: str
) -> str | None:
    """One axes: each series' ``metrics`` (column, line style) against modules; the knee circled. The file name,
    or None when nothing is plottable."""
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.grid(True, alpha=0.3)
    drawn = 0
    for i, s in enumerate(series):
        color = f"C{i % 10}"
        for column, style in metrics:
            pts = [(r["modules"], r[column]) for r in s.rows if r.get(column) is not None]
            if not pts:
                continue
            x, y = zip(*pts, strict=True)
            suffix = f" ({column})" if len(metrics) > 1 else ""
            ax.plot(x, y, style, color=color, marker="o", markersize=4, label=f"{s.label}{suffix}")
            drawn += 1
            knee = [p for p in pts if p[0] == s.knee_modules]
            if knee:
                ax.plot(*knee[0], "o", markersize=13, markerfacecolor="none", markeredgecolor=color, markeredgewidth=2)
    if not drawn:
        return None
    ax.set_xlabel("modules in parallel")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", loc="best")
    fig.savefig(out / name, dpi=100)
    return name


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td class=v>{html.escape(format_value(c, r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_sweep_report(
    out_dir: Path,
    rows: Sequence[Mapping[str, Any]],
    series: Sequence[SeriesLike],
    *,
    title: str,
    meta: str,
    currency: str = "",
) -> Path:
    """Write the plots and ``report.html`` into ``out_dir``; return the page's path."""
    matplotlib.use("Agg")
    money = f" [{currency}]" if currency else ""
    plots = [
        (_plot(series, [("autarky_pct", "-")], "autarky [%]", out_dir, "autarky.png"),
         "Autarky (share of the load not taken from the grid) against modules; the knee circled."),
        (_plot(series, [("soh_end_pct", "-"), ("soh_10y_pct", "--"), ("soh_15y_pct", ":")], "SOH [%]", out_dir,
               "soh.png"),
         "State of health of the weakest cell at the end, and projected to 10 and 15 years by the ageing model."),
        (_plot(series, [("annual_savings", "-")], f"savings per year{money}", out_dir, "savings.png"),
         "Yearly savings against the same home with PV and no battery."),
        (_plot(series, [("payback_years", "-")], "simple payback [years]", out_dir, "payback.png"),
         "Simple payback: the modules' price over the yearly savings."),
    ]  # fmt: skip
    figures = "".join(
        f"<figure><img src='{html.escape(f, quote=True)}' alt='{html.escape(c, quote=True)}'>"
        f"<figcaption>{html.escape(c)}</figcaption></figure>"
        for f, c in plots
        if f is not None
    )
    knees = "".join(
        f"<tr><td>{html.escape(s.label)}</td><td class=v>{s.knee_modules if s.knee_modules is not None else '-'}</td>"
        f"<td class=v>{len(s.rows)}</td></tr>"
        for s in series
    )
    failed = [r for r in rows if r.get("error") is not None]
    failures = "".join(
        f"<tr><td>{html.escape(str(r['case_id']))}</td><td>{html.escape(str(r['error']))}</td></tr>" for r in failed
    )
    columns = [c for c in CASE_COLUMNS if any(r.get(c) is not None for r in rows)]
    ok = sorted((r for r in rows if r.get("error") is None), key=lambda r: (str(r.get("series")), r["modules"]))
    t = html.escape(title)
    page_html = (
        f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{t}</title>"
        f"<style>{_CSS}</style></head><body>\n<h1>{t}</h1><p class=meta>{html.escape(meta)}</p>\n"
        f"<h2>The knee</h2><table><tr><th>series</th><th>knee [modules]</th><th>cases</th></tr>{knees}</table>\n"
        f"<h2>Plots</h2>{figures or '<p>No finished cases to plot.</p>'}\n"
        f"<h2>Cases</h2>{_table(ok, columns)}\n"
        + (f"<h2>Failed cases</h2><table><tr><th>case</th><th>error</th></tr>{failures}</table>\n" if failed else "")
        + f"<footer>Generated by ml314 {html.escape(__version__)} (ml314.storage.sweep_report).</footer>"
        f"</body></html>\n"
    )
    page = out_dir / "report.html"
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(page_html, encoding="utf-8")
    os.replace(tmp, page)
    return page
