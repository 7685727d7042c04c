"""``ml314 diagnose``: chapter 12's findings of a running system (``--url``) or of a stored bank (``--data-dir``).

Text by default (each finding with its evidence, the manual's analysis and solution, and the steps), or the JSON
document of ``GET /api/diagnostics`` with ``--json``. Exit code 0: no finding; 1: findings; 2: bad input (one line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ml314.errors import InputError, TransportError

#: the exit code when the system has findings (0: none; 2: bad input, as every command)
EXIT_FINDINGS = 1


def diagnose_command(
    url: Annotated[
        str | None,
        typer.Option(help="a running ml314 run's web address, e.g. http://127.0.0.1:8314"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="a stored bank: a ml314 run data dir, or a ml314 simulate output dir"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
    replay: Annotated[
        bool,
        typer.Option(help="a ml314 simulate output: every finding over the whole run, with when it first showed"),
    ] = False,
) -> None:
    """What is wrong, with the evidence and the manual's advice (Tables 12-1 and 12-2)."""
    if (url is None) == (data_dir is None):
        raise InputError("name one system: --url http://HOST:PORT (running) or --data-dir DIR (stored)")
    if replay and data_dir is None:
        raise InputError("--replay goes with --data-dir (a ml314 simulate output)")
    if url is not None:
        doc = _from_url(url)
    else:
        assert data_dir is not None
        doc = _replayed(data_dir) if replay else _from_dir(data_dir)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(_text(doc))
    raise typer.Exit(EXIT_FINDINGS if doc["findings"] else 0)


def _from_url(url: str) -> dict[str, Any]:
    import httpx  # noqa: PLC0415

    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise InputError(f"--url {url!r}: an http:// or https:// address, e.g. http://127.0.0.1:8314")
    try:
        r = httpx.get(f"{base}/api/diagnostics", timeout=10.0)
    except httpx.HTTPError as exc:
        raise TransportError(f"--url {url}: cannot reach it ({type(exc).__name__}: {exc})") from None
    if r.status_code != 200:
        raise TransportError(f"--url {url}: GET /api/diagnostics answered {r.status_code} (is it an ml314 run?)")
    try:
        doc = r.json()
    except ValueError:
        raise TransportError(f"--url {url}: the answer is not JSON (is it an ml314 run?)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise TransportError(f"--url {url}: the answer is no diagnostics document")
    return doc


def _from_dir(path: Path) -> dict[str, Any]:
    from ml314.runtime.diagnosis import diagnose_stored, report_of  # noqa: PLC0415

    if not path.is_dir():
        raise InputError(f"--data-dir {path}: no such directory")
    obs, findings = diagnose_stored(path)
    doc = report_of(findings, obs.t_s)
    doc["source"] = str(path)
    return doc


def _replayed(path: Path) -> dict[str, Any]:
    from ml314.runtime.diagnosis import report_of  # noqa: PLC0415
    from ml314.runtime.diagnosis_replay import Recording, replay  # noqa: PLC0415

    if not path.is_dir():
        raise InputError(f"--data-dir {path}: no such directory")
    result = replay(Recording.from_simulation(path))
    found = result.findings()
    doc = report_of(tuple(f for _, f in found), result.last_s)
    for record, (t, _) in zip(doc["findings"], found, strict=True):
        record["first_seen_s"] = t
    doc["source"] = str(path)
    doc["replayed"] = {"samples": result.samples, "days": result.days, "modules": result.modules}
    return doc


def _text(doc: dict[str, Any]) -> str:
    t = doc.get("t_s") or 0.0
    span = doc.get("replayed")
    over = "" if span is None else f" over {span['days']:.2f} days of {span['modules']} module(s), every minute"
    if not doc["findings"]:
        return f"no finding at t {t:.0f} s{over} ({len(doc.get('rules', []))} rules of manual chapter 12 checked)"
    lines = [f"{doc['count']} finding(s) at t {t:.0f} s:"]
    for f in doc["findings"]:
        m = f["manual"]
        first = f" (first at t {f['first_seen_s']:.0f} s)" if "first_seen_s" in f else ""
        lines.append(f"{f['severity']}: {f['where']}: {f['title']} [{m['ref']}]{first}")
        for e in f["evidence"]:
            lines.append(f"    evidence: {_evidence(e)}")
        lines.append(f"    analysis ({m['ref']}): {m['analysis']}")
        lines.append(f"    solution: {m['solution']}")
        lines += [f"    {i}. {step}" for i, step in enumerate(f["steps"], 1)]
    return "\n".join(lines)


def _evidence(e: dict[str, Any]) -> str:
    value = e["value"]
    v = f"{value:.4g}" if isinstance(value, float) else str(value)
    unit = f" {e['unit']}" if e.get("unit") else ""
    level = "" if e.get("threshold") is None else f" (level {e['threshold']:.4g}{unit})"
    when = "" if e.get("t_s") is None else f" at t {e['t_s']:.0f} s"
    return f"{e['what']}: {v}{unit}{level}{when}"
