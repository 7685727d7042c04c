"""The simulation report's page: the charts first (drawn by the PC software's chart module, embedded with uPlot so
the one file works offline), the PNG plots, then the summary as tables. Every text is escaped; the chart data is
JSON inside a ``<script type="application/json">`` with ``<``, ``>`` and ``&`` as JSON escapes."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml314 import __version__

__all__ = ["format_value", "page", "report_summary"]

#: the PC software's pages: charts.js and the vendored uPlot, read from the package (no import of the web layer)
PAGES_DIR = Path(__file__).resolve().parent.parent / "web" / "static" / "pages"
_ASSETS_JS = ("vendor/uPlot.iife.min.js", "charts.js")
_ASSETS_CSS = ("vendor/uPlot.min.css",)
#: what a run without a house (the lab scenario) has no use for
_HOME_KEYS = {
    "energy": ("pv_kwh", "pv_curtailed_kwh", "load_kwh", "load_unserved_kwh", "grid_import_kwh", "grid_export_kwh"),
    "ratios": ("self_consumption_pct", "autarky_pct"),
    "losses": ("inverter_kwh",),
}
_HOME_SECTIONS = ("inverter", "backup")


_UNITS = (
    ("_kwh", "kWh"), ("_wh", "Wh"), ("_pct", "%"), ("_ah", "Ah"), ("_mv", "mV"), ("_kw", "kW"),
    ("_v", "V"), ("_a", "A"), ("_c", "°C"), ("_s", "s"), ("_w", "W"),
)  # fmt: skip

_CSS = """
.chart{margin:.5rem 0 1.2rem}.chart h2{font-size:1.05rem;margin:.6rem 0 .2rem}
.chart p.note{color:#444;font-size:.9rem;margin:.2rem 0}
details{margin:1rem 0}summary{cursor:pointer;color:#2c6;font-weight:600}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1150px;
color:#222;padding:0 1rem}
h1{font-size:1.6rem;border-bottom:2px solid #2ca02c;padding-bottom:.3rem}
h2{font-size:1.25rem;margin-top:2rem}h3,h4{font-size:1.05rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;margin:.3rem 0 1rem;min-width:24rem}
td,th{border-bottom:1px solid #ddd;padding:.25rem .8rem;text-align:left}
td.v{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure{margin:1.5rem 0}img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem;margin-top:.3rem}
footer{margin-top:3rem;color:#777;font-size:.8rem;border-top:1px solid #ddd;padding-top:.5rem}
.meta{color:#555}
"""


def _split_unit(key: str) -> tuple[str, str]:
    """``energy_in_kwh`` -> (``energy in``, ``kWh``)."""
    unit = ""
    label = key
    for suffix, u in _UNITS:
        if key.lower().endswith(suffix) and len(key) > len(suffix):
            label, unit = key[: -len(suffix)], u
            break
    return label.replace("_", " ").strip() or key, unit


def _number(v: float) -> str:
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.4g}"
    return f"{v:.3g}"


def format_value(key: str, value: Any) -> str:
    """Human text for one summary value, unit taken from the key's suffix (``_kwh``, ``_pct``, ``_v`` ...)."""
    _, unit = _split_unit(key)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.integer | np.floating):
        num = f"{int(value):,}" if isinstance(value, int | np.integer) else _number(float(value))
        text = f"{num} {unit}".strip() if num != "—" else num
        if unit == "s" and abs(float(value)) >= 3600 and math.isfinite(float(value)):
            hours = float(value) / 3600
            text += f" ({hours:.1f} h)" if abs(hours) < 48 else f" ({hours / 24:.1f} d)"
        return text
    if isinstance(value, list | tuple):
        return ", ".join(format_value(key, v) for v in value)
    return str(value)


def _table(items: Sequence[tuple[str, Any]]) -> str:
    rows = []
    for k, v in items:
        label, _ = _split_unit(k)
        rows.append(
            f"<tr><th scope=row title='{html.escape(k, quote=True)}'>{html.escape(label)}</th>"
            f"<td class=v>{html.escape(format_value(k, v))}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>" if rows else ""


def _summary_html(summary: Mapping[str, Any], depth: int = 2) -> str:
    """Scalars of a level as one table; each nested mapping (or list of mappings) as its own section."""
    scalars: list[tuple[str, Any]] = []
    sections: list[str] = []
    tag = f"h{min(depth + 1, 6)}"
    for k, v in summary.items():
        key = str(k)
        if isinstance(v, Mapping):
            sections.append(f"<section><{tag}>{html.escape(key)}</{tag}>{_summary_html(v, depth + 1)}</section>")
        elif isinstance(v, list | tuple) and v and all(isinstance(x, Mapping) for x in v):
            for i, item in enumerate(v):
                head = f"{key} [{i + 1}]"
                sections.append(
                    f"<section><{tag}>{html.escape(head)}</{tag}>{_summary_html(item, depth + 1)}</section>"
                )
        else:
            scalars.append((key, v))
    return _table(scalars) + "".join(sections)


def report_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary as the report shows it: no empty values or tables; a lab run without the house's ones."""
    lab = summary.get("run", {}).get("scenario") == "lab" if isinstance(summary.get("run"), Mapping) else False
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if lab and key in _HOME_SECTIONS:
            continue
        if isinstance(value, Mapping):
            drop = _HOME_KEYS.get(str(key), ()) if lab else ()
            inner = report_summary({k: v for k, v in value.items() if k not in drop})
            if inner:
                out[key] = inner
        elif value is None or (isinstance(value, list | tuple | dict) and not value):
            continue
        else:
            out[key] = value
    return out


def _asset(name: str) -> str:
    text = (PAGES_DIR / name).read_text(encoding="utf-8")
    return text.replace("</script", "<\\/script").replace("</style", "<\\/style")


def _json(doc: Any) -> str:
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"), default=_plain)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def page(
    title: str, meta: str, summary: Mapping[str, Any], charts: Mapping[str, Any], pngs: Sequence[tuple[str, str]]
) -> str:
    """The whole report.html: charts (inline script and data), the PNG plots (file, caption), the tables."""
    figures = "".join(
        f"<figure><img src='{html.escape(f, quote=True)}' alt='{html.escape(c, quote=True)}'>"
        f"<figcaption>{html.escape(c)}</figcaption></figure>"
        for f, c in pngs
    )
    t = html.escape(title)
    css = "".join(_asset(n) for n in _ASSETS_CSS)
    js = "\n".join(_asset(n) for n in _ASSETS_JS)
    has_charts = bool(charts.get("charts"))
    boot = (
        "document.addEventListener('DOMContentLoaded',()=>{const doc=JSON.parse("
        "document.getElementById('ml314-charts').textContent);mlCharts.render(document.getElementById('charts'),doc);"
        "document.body.dataset.charts=String(doc.charts.length);});"
    )
    tables = _summary_html(report_summary(summary))
    return (
        f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{t}</title>"
        f"<style>{css}{_CSS}</style></head><body>\n<h1>{t}</h1><p class=meta>{html.escape(meta)}</p>\n"
        f"<h2>Charts</h2><p class=meta>Date and clock of the simulated calendar (dotted lines: midnight). Drag over a "
        f"chart to zoom in, double-click to zoom out; click a name in a legend to hide or show it.</p>"
        f"<div id=charts>{'' if has_charts else '<p>No plottable columns in the time series.</p>'}</div>\n"
        f"<details><summary>The same as PNG images</summary>{figures or '<p>(none)</p>'}</details>\n"
        f"<h2>Summary</h2>{tables or '<p>(empty)</p>'}\n"
        f"<footer>Generated by ml314 {html.escape(__version__)} (ml314.storage.report).</footer>"
        f"<script type='application/json' id=ml314-charts>{_json(charts)}</script>"
        f"<script>{js}</script><script>{boot}</script>"
        f"</body></html>\n"
    )
