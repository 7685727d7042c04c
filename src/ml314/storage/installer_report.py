"""The installer report of a commissioning: one self-contained HTML page (A4, print-ready) and its PDF.

The page lists the device, the modules (chain position, ID, serial number, firmware, SOC, SOH, cells), the
protocols selected and the inverter the detective heard, every check with its result, evidence and the manual's
instruction, and the first day's results from the history. Every text is escaped.

The PDF is printed by headless Chromium (``--print-to-pdf``: the browser the project already installs for its
browser tests, Debian's ``chromium``); :func:`write_pdf` raises :class:`~ml314.errors.TransportError` with one
line when Chromium is missing or fails, and the HTML stands on its own either way.
"""

from __future__ import annotations

import html
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ml314 import __version__
from ml314.diagnostics.checks import Check, Installation, Result, worst
from ml314.diagnostics.detective import Identification
from ml314.diagnostics.first_day import FirstDay
from ml314.errors import TransportError
from ml314.storage.atomic import write_atomically

__all__ = ["InstallerReport", "chromium_path", "render_html", "write_pdf", "write_report"]

#: where a PDF is printed from when no Chromium is on PATH under its Debian name
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass(frozen=True, slots=True)
class InstallerReport:
    """Everything the page shows; ``created_s`` is wall-clock epoch seconds."""

    installation: Installation
    checks: tuple[Check, ...]
    first_day: FirstDay | None
    created_s: float
    device_serial: str = ""
    installer: str = ""
    site: str = ""
    source: str = ""  # where the data came from (URL or data dir)

    @property
    def result(self) -> Result:
        return worst(self.checks)


_CSS = """
@page{size:A4;margin:14mm 12mm}
body{font:10pt/1.35 "DejaVu Sans",Arial,sans-serif;color:#111;margin:0}
h1{font-size:16pt;margin:0 0 2mm}h2{font-size:12pt;margin:5mm 0 2mm;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:1mm 0 3mm}th,td{border:1px solid #bbb;padding:1mm 1.5mm;
vertical-align:top;text-align:left}th{background:#eee}td.n{text-align:right;white-space:nowrap}
.meta td{border:none;padding:.3mm 2mm .3mm 0}.badge{display:inline-block;min-width:11mm;text-align:center;
font-weight:bold;border-radius:2px;padding:.3mm 1mm;color:#fff}.pass{background:#2e7d32}.warn{background:#ef6c00}
.fail{background:#c62828}.skip{background:#757575}.ev{margin:0;padding-left:4mm}.ins{color:#333;font-size:9pt}
.overall{font-size:12pt;margin:2mm 0}.sign td{height:14mm;border:none;border-bottom:1px solid #333;width:45%}
.sign td.gap{border:none;width:10%}tr{page-break-inside:avoid}.small{font-size:8.5pt;color:#444}
.meta td:first-child{white-space:nowrap;width:28mm}table.mods{font-size:9pt}table.mods td{white-space:nowrap}
table.checks td:first-child{width:13mm}table.checks td:nth-child(2){width:42mm}
.keep{break-inside:avoid;page-break-inside:avoid}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _badge(result: Result) -> str:
    return f'<span class="badge {result.value}">{result.value.upper()}</span>'


def _num(value: float, fmt: str, unit: str = "") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{fmt}}{unit}"


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _heard(ident: Identification | None) -> str:
    if ident is None:
        return "not listened"
    return f"{ident.named} ({ident.heard} frames heard)"


def _modules(inst: Installation) -> str:
    rows = []
    for m in inst.modules:
        cells = m.cell_voltages_v
        spread = (
            "-" if not cells else f"{min(cells):.3f} / {max(cells):.3f} V ({(max(cells) - min(cells)) * 1000:.0f} mV)"
        )
        firmware = m.firmware or inst.firmware or "-"
        switch8 = "-" if not inst.wiring_known else ("ON" if m.termination_on else "OFF")
        rows.append(
            f"<tr><td class=n>{m.position}</td><td class=n>{m.module_id}</td><td>{_e(m.serial)}</td>"
            f"<td>{_e(m.model or inst.model or '-')}</td><td>{_e(firmware)}</td><td class=n>{m.soc_pct:.0f} %</td>"
            f"<td class=n>{m.soh_pct:.0f} %</td><td class=n>{_e(spread)}</td><td>{switch8}</td>"
            f"<td>{'online' if m.online else 'OFFLINE'}</td></tr>"
        )
    head = (
        "<tr><th>Pos.</th><th>ID</th><th>Serial number</th><th>Model</th><th>Firmware</th><th>SOC</th><th>SOH</th>"
        "<th>Cells min / max</th><th>Switch 8</th><th>Link</th></tr>"
    )
    return f'<table class="mods">{head}{"".join(rows)}</table>'


def _checks(checks: tuple[Check, ...]) -> str:
    rows = []
    for c in checks:
        evidence = "".join(f"<li>{_e(line)}</li>" for line in c.evidence)
        instruction = "" if c.result is Result.PASS else f'<div class="ins">{_e(c.instruction)}</div>'
        rows.append(
            f"<tr><td>{_badge(c.result)}</td><td><b>{_e(c.title)}</b><br><span class=small>{_e(c.manual_ref)}</span>"
            f'</td><td><ul class="ev">{evidence}</ul>{instruction}</td></tr>'
        )
    head = "<tr><th>Result</th><th>Check</th><th>Evidence / what to do</th></tr>"
    return f"<table class=checks>{head}{''.join(rows)}</table>"


def _first_day(day: FirstDay | None) -> str:
    if day is None:
        return "<p>No history yet: the first day's results appear once the system has run (history on).</p>"
    rows = [
        ("Day (UTC)", datetime.fromtimestamp(day.day_start_s, UTC).strftime("%Y-%m-%d")),
        ("SOC range", f"{_num(day.soc_min_pct, '.0f')} to {_num(day.soc_max_pct, '.0f', ' %')}"),
        ("Energy charged / discharged", f"{day.charged_kwh:.2f} kWh / {day.discharged_kwh:.2f} kWh"),
        ("Cell voltage range", f"{_num(day.cell_min_v, '.3f')} to {_num(day.cell_max_v, '.3f', ' V')}"),
        ("Cell temperature range", f"{_num(day.cell_temp_min_c, '.1f')} to {_num(day.cell_temp_max_c, '.1f', ' °C')}"),
        ("Alarms / protections at once (most)", f"{day.alarms_max} / {day.protections_max}"),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render_html(report: InstallerReport) -> str:
    """The report as one HTML page."""
    inst = report.installation
    can = inst.can_protocol.name if inst.can_protocol else "none"
    rs485 = inst.rs485_protocol.name if inst.rs485_protocol else "none"
    if inst.can_protocol and inst.can_protocol.code:
        can = f"{inst.can_protocol.code} {inst.can_protocol.brand} ({can})"
    if inst.rs485_protocol and inst.rs485_protocol.code:
        rs485 = f"{inst.rs485_protocol.code} {inst.rs485_protocol.brand} ({rs485})"
    counts = {r: sum(c.result is r for c in report.checks) for r in Result}
    summary = ", ".join(f"{n} {r.value}" for r, n in counts.items() if n)
    meta = [
        ("Device", f"ML314-51.2-W08 bank, serial {report.device_serial or '-'}"),
        ("Site", report.site or "-"),
        ("Installer", report.installer or "-"),
        ("Date", _when(report.created_s)),
        ("Modules", f"{len(inst.modules)} in parallel, firmware {inst.firmware or '-'}"),
        ("CAN protocol", f"{can}; inverter heard: {_heard(inst.can_heard)}"),
        ("RS485 protocol", f"{rs485}; inverter heard: {_heard(inst.rs485_heard)}"),
        ("Data from", report.source or "-"),
    ]
    meta_rows = "".join(f"<tr><td><b>{_e(k)}</b></td><td>{_e(v)}</td></tr>" for k, v in meta)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Installer report {_e(report.device_serial)}</title><style>{_CSS}</style></head><body>"
        "<h1>ML314-51.2-W08 installer report</h1>"
        f'<table class="meta">{meta_rows}</table>'
        f'<p class="overall">Result: {_badge(report.result)} ({_e(summary)})</p>'
        f"<h2>Modules</h2>{_modules(inst)}"
        f"<h2>Checks (manual 8.4-8.6, 10.1.5, 13.1)</h2>{_checks(report.checks)}"
        f"<h2>First day</h2>{_first_day(report.first_day)}"
        '<div class="keep"><h2>Sign-off</h2><table class="sign"><tr><td></td><td class="gap"></td><td></td></tr>'
        "<tr><td class=small>Installer</td><td class=gap></td><td class=small>Owner</td></tr></table></div>"
        f'<p class="small">ml314 {_e(__version__)} · ml314 commission · the manual is the source of every '
        "instruction quoted</p></body></html>"
    )


def chromium_path() -> str | None:
    """The headless browser that prints the PDF, or None."""
    env = os.environ.get("ML314_CHROMIUM")
    if env:
        return env
    return next((p for name in _CHROMIUM_NAMES if (p := shutil.which(name))), None)


def write_pdf(html_path: Path, pdf_path: Path) -> None:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (A4, no header or footer)."""
    browser = chromium_path()
    if browser is None:
        raise TransportError("no PDF: Chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="ml314-chromium-") as profile:
        cmd = [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TransportError(f"no PDF: {browser} failed ({exc})") from None
    if done.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise TransportError(f"no PDF: {browser} failed ({why[:200]})")


def write_report(report: InstallerReport, directory: Path, *, pdf: bool = True) -> tuple[Path, Path | None]:
    """``installer-report.html`` (and ``.pdf`` when asked) in ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    html_path = directory / "installer-report.html"
    write_atomically(html_path, render_html(report))
    if not pdf:
        return html_path, None
    pdf_path = directory / "installer-report.pdf"
    write_pdf(html_path, pdf_path)
    return html_path, pdf_path
