"""``ml314 commission``: the guided start-up of manual 8.4-8.6 against a running ``ml314 run`` (``--url``, its HTTP
API) or a data dir, with the inverter detective and the cautions of 13.1; ``--report DIR`` writes the installer
report (HTML and PDF). docs/commissioning.md describes each check.

Exit status: 0 when no check fails, 1 when one does, 2 on bad input (one line, no traceback).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ml314.errors import InputError, TransportError

if TYPE_CHECKING:
    from ml314.diagnostics.checks import Check, Installation
    from ml314.diagnostics.first_day import FirstDay
    from ml314.protocols.base import CanFrame

DEFAULT_URL = "http://127.0.0.1:8314"
#: how a result is shown in the text output
_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def commission_command(
    url: Annotated[
        str | None, typer.Option(metavar="URL", help=f"a running ml314 run's web API (default {DEFAULT_URL})")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="read a data dir's history instead of a running system (no DIP switches)"),
    ] = None,
    capture: Annotated[
        list[Path] | None,
        typer.Option(metavar="FILE", help="a CAN (candump .log, .asc, ...) or RS485 capture for the detective"),
    ] = None,
    protocol: Annotated[
        list[str] | None,
        typer.Option(metavar="CODE", help="the protocol selected on the battery (CAN:P14, RS485:P04, ...)"),
    ] = None,
    confirm: Annotated[
        str | None,
        typer.Option(
            metavar="KEYS", help="on-site steps done: diagram,combiner,cables,protection,clean,inverter_port, or all"
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(metavar="DIR", help="write installer-report.html and .pdf into DIR")
    ] = None,
    pdf: Annotated[
        bool, typer.Option("--pdf/--no-pdf", help="with --report: print the PDF (headless Chromium)")
    ] = True,
    installer: Annotated[str, typer.Option(metavar="NAME", help="the installer's name, on the report")] = "",
    site: Annotated[str, typer.Option(metavar="TEXT", help="the site, on the report")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print the checks as JSON")] = False,
) -> None:
    """Check an installation step by step (IDs, termination, protocol vs the inverter heard, initial charge, cells,
    firmware and type alike, temperatures) and write the installer report."""
    from ml314.diagnostics.commissioning import commission  # noqa: PLC0415
    from ml314.storage.installer_report import InstallerReport, write_report  # noqa: PLC0415
    from ml314.web.commission_api import commission_doc, parse_confirm  # noqa: PLC0415

    if url is not None and data_dir is not None:
        raise InputError("--url and --data-dir: give one (a running system, or a data dir)")
    keys = parse_confirm(confirm)
    if capture and url is None and data_dir is None and report is None:
        _detective(capture, protocol or [], as_json=as_json)  # only the captures: which inverter, which P-code
        return
    if data_dir is not None:
        inst, day, serial, source = _from_data_dir(data_dir)
    else:
        inst, day, serial, source = _from_url(url or DEFAULT_URL)
    inst = _with_options(inst, capture or [], protocol or [])
    checks = commission(inst, keys, _limits(data_dir))
    doc = commission_doc(inst, checks, day, serial)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        _print(checks, inst, source)
    if report is not None:
        rep = InstallerReport(inst, checks, day, time.time(), serial, installer, site, source)
        try:
            html_path, pdf_path = write_report(rep, report, pdf=pdf)
        except OSError as exc:
            raise InputError(f"--report {report}: cannot write ({exc.strerror})") from None
        typer.echo(f"report: {html_path}" + (f" and {pdf_path}" if pdf_path else ""), err=as_json)
    if doc["result"] == "fail":
        raise typer.Exit(1)


def _limits(data_dir: Path | None) -> Any:
    """The levels from the data dir's parameter set (the shipped set without one)."""
    from ml314.bms.parameters import load_default_parameters  # noqa: PLC0415
    from ml314.diagnostics.commissioning import CommissionLimits  # noqa: PLC0415
    from ml314.storage.data_dir import PARAMETERS_FILE  # noqa: PLC0415
    from ml314.storage.parameter_store import load_parameters  # noqa: PLC0415

    if data_dir is not None and (data_dir / PARAMETERS_FILE).exists():
        return CommissionLimits.from_parameters(load_parameters(data_dir / PARAMETERS_FILE))
    return CommissionLimits.from_parameters(load_default_parameters())


# ------------------------------------------------------------------------------------------------ sources
def _get(client: Any, url: str, path: str) -> Any:
    import httpx  # noqa: PLC0415

    try:
        response = client.get(url.rstrip("/") + path)
    except httpx.HTTPError as exc:
        raise TransportError(f"{url}: cannot reach ml314 run ({type(exc).__name__}: {exc})") from None
    if response.status_code == 503 and path.startswith("/api/history"):
        return None  # the run keeps no history
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise TransportError(f"{url}{path}: HTTP {response.status_code}: {message}")
    try:
        return response.json()
    except ValueError:
        raise TransportError(f"{url}{path}: not an ml314 API (no JSON)") from None


def _from_url(url: str) -> tuple[Installation, FirstDay | None, str, str]:
    import httpx  # noqa: PLC0415

    from ml314.diagnostics.first_day import DAY_S, FIELDS, first_day  # noqa: PLC0415
    from ml314.web.commission_api import HISTORY_DAYS, frames_from_text, installation_from_api  # noqa: PLC0415

    if not url.startswith(("http://", "https://")):
        raise InputError(f"--url {url!r}: http://HOST:PORT of a running ml314 run")
    with httpx.Client(timeout=30.0) as client:
        bank = _get(client, url, "/api/bank")
        modules = _get(client, url, "/api/modules?cells=true")
        inputs = _get(client, url, "/api/commission/inputs")
        newest = time.time() + DAY_S
        history = _get(
            client,
            url,
            f"/api/history?from={newest - HISTORY_DAYS * DAY_S:.0f}&to={newest:.0f}&step={DAY_S}"
            f"&fields={','.join(FIELDS)}",
        )
    try:
        heard = frames_from_text(inputs["can"], inputs["rs485"])
        columns = None if history is None else history["columns"]
        inst = installation_from_api(bank, modules, heard, columns)
    except (KeyError, TypeError, ValueError) as exc:
        raise TransportError(f"{url}: an answer of another shape than ml314's API ({exc})") from None
    day = None if columns is None else first_day(columns)
    return inst, day, str(inputs.get("device_serial", "")), url


def _from_data_dir(path: Path) -> tuple[Installation, FirstDay | None, str, str]:
    """The newest minute of each module from the data dir's history; the wiring is unknown there."""
    from ml314.diagnostics.checks import Installation, ModuleFacts  # noqa: PLC0415
    from ml314.diagnostics.first_day import first_day, max_soc_pct  # noqa: PLC0415
    from ml314.storage.history import HISTORY_FILE, HistoryStore, history_url  # noqa: PLC0415
    from ml314.storage.identity import DeviceIdentity  # noqa: PLC0415
    from ml314.storage.settings_store import DEFAULT_SETTINGS_PATH, load_selection  # noqa: PLC0415
    from ml314.web.commission_api import first_day_columns  # noqa: PLC0415

    if not (path / HISTORY_FILE).is_file():
        raise InputError(f"--data-dir {path}: no {HISTORY_FILE} (run `ml314 run --data-dir {path}` first)")
    url = history_url(None, path)
    assert url is not None
    store = HistoryStore(url, writer=False)
    try:
        if store.newest_t_s is None:
            raise InputError(f"--data-dir {path}: its history is empty")
        t_to = float(store.newest_t_s + 1)
        fields = ["soc_pct", "soh_pct", "current_a", "cell_min_v:min", "cell_max_v:max", "temp_min_c:min",
                  "temp_max_c:max", "temp_board_c:max", "temp_mosfet_c:max", "online", "state"]  # fmt: skip
        result = store.query(t_to - 60.0, t_to, fields, 60, "all")
        columns = first_day_columns(store)
    finally:
        store.close()
    last: dict[int, int] = {}
    for row, module_id in enumerate(result.columns["module_id"].tolist()):
        if result.columns["soc_pct"][row] == result.columns["soc_pct"][row]:  # not NaN: stored
            last[int(module_id)] = row
    serial = DeviceIdentity.load(path).serial if DeviceIdentity.exists(path) else ""
    modules = []
    for position, (module_id, row) in enumerate(sorted(last.items()), start=1):
        c = {name: result.columns[name][row] for name in result.columns}
        modules.append(
            ModuleFacts(
                position=position,
                module_id=module_id,
                termination_on=False,
                powered=True,
                online=bool(c["online"] >= 0.5),
                serial="-",
                soc_pct=float(c["soc_pct"]),
                soh_pct=float(c["soh_pct"]),
                current_a=float(c["current_a"]),
                cell_voltages_v=(float(c["cell_min_v:min"]), float(c["cell_max_v:max"])),
                temperatures_c=(
                    float(c["temp_board_c:max"]),
                    float(c["temp_min_c:min"]),
                    float(c["temp_max_c:max"]),
                    float(c["temp_mosfet_c:max"]),
                ),
                state=str(c["state"]),
            )
        )
    if not modules:
        raise InputError(f"--data-dir {path}: no module in its newest minute of history")
    selection = load_selection(DEFAULT_SETTINGS_PATH)
    inst = Installation(
        modules=tuple(modules),
        can_protocol=selection.can,
        rs485_protocol=selection.rs485,
        max_soc_pct=None if columns is None else max_soc_pct(columns),
        wiring_known=False,
    )
    day = None if columns is None else first_day(columns)
    return inst, day, serial, str(path)


def _with_options(inst: Installation, captures: list[Path], protocols: list[str]) -> Installation:
    """``--protocol`` replaces the selection of its port; each ``--capture`` is what the detective heard on its
    transport (instead of the live ports' frames)."""
    from dataclasses import replace  # noqa: PLC0415

    from ml314.diagnostics.detective import identify_can, identify_rs485  # noqa: PLC0415
    from ml314.protocols.base import Transport  # noqa: PLC0415
    from ml314.protocols.registry import resolve  # noqa: PLC0415

    for spec in protocols:
        entry = resolve(spec)
        if entry.transport is Transport.CAN:
            inst = replace(inst, can_protocol=entry)
        else:
            inst = replace(inst, rs485_protocol=entry)
    for path in captures:
        can, rs485 = _read_capture(path)
        if can is not None:
            inst = replace(inst, can_heard=identify_can(can))
        if rs485 is not None:
            inst = replace(inst, rs485_heard=identify_rs485(rs485))
    return inst


def _read_capture(path: Path) -> tuple[list[CanFrame] | None, list[bytes] | None]:
    """A capture's frames: CAN by its format or first line (as ``ml314 decode`` tells them), else RS485 lines."""
    from ml314.adapters.can_link import iter_can_log  # noqa: PLC0415
    from ml314.adapters.serial_link import iter_rs485_log  # noqa: PLC0415
    from ml314.cli.decode import _looks_like_can  # noqa: PLC0415
    from ml314.diagnostics.detective import rs485_frames  # noqa: PLC0415

    if not path.exists() or path.is_dir():
        raise InputError(f"--capture {path}: no such file")
    if _looks_like_can(path):
        frames = [item.frame for _, item in iter_can_log(path) if not isinstance(item, str)]
        if not frames:
            raise InputError(f"--capture {path}: no CAN frame in it")
        return frames, None
    records = [item.data for _, item in iter_rs485_log(path) if not isinstance(item, str)]
    if not records:
        raise InputError(f"--capture {path}: no RS485 frame in it")
    return None, rs485_frames(records)


def _detective(captures: list[Path], protocols: list[str], *, as_json: bool) -> None:
    """The inverter detective alone, on captures: the family heard per transport, against ``--protocol`` when
    given (a mismatch: exit 1), else the P-codes that fit."""
    from ml314.diagnostics.checks import Installation  # noqa: PLC0415
    from ml314.diagnostics.commissioning import CommissionLimits, protocol_can, protocol_rs485  # noqa: PLC0415
    from ml314.diagnostics.detective import choice  # noqa: PLC0415
    from ml314.web.commission_api import check_json  # noqa: PLC0415

    inst = _with_options(Installation(modules=()), captures, protocols)
    out = []
    failed = False
    for transport, heard, selected, check in (
        ("CAN", inst.can_heard, inst.can_protocol, protocol_can),
        ("RS485", inst.rs485_heard, inst.rs485_protocol, protocol_rs485),
    ):
        if heard is None:
            continue
        row: dict[str, Any] = {
            "transport": transport,
            "named": heard.named,
            "heard": heard.heard,
            "fits": [choice(e) for e in heard.entries],
            "evidence": list(heard.evidence),
        }
        if selected is not None:
            c = check(inst, CommissionLimits())
            row["check"] = check_json(c)
            failed |= c.result.value == "fail"
        out.append(row)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for row in out:
            typer.echo(f"{row['transport']}: {row['named']} ({row['heard']} inverter frames)")
            for line in row["evidence"]:
                typer.echo(f"      {line}")
            if "check" in row:
                c = row["check"]
                typer.echo(f"{_MARK[c['result']]:4}  {c['evidence'][0]}")
            elif row["fits"]:
                typer.echo(f"      select: {', '.join(row['fits'])}")
    if failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------ output
def _print(checks: tuple[Check, ...], inst: Installation, source: str) -> None:
    from ml314.diagnostics.checks import Result, worst  # noqa: PLC0415

    typer.echo(f"commissioning {len(inst.modules)} module(s) from {source}")
    for c in checks:
        typer.echo(f"{_MARK[c.result.value]:4}  {c.title}  [{c.manual_ref}]")
        for line in c.evidence:
            typer.echo(f"      {line}")
        if c.result in (Result.WARN, Result.FAIL):
            typer.echo(f"      -> {c.instruction}")
    counts = ", ".join(f"{sum(c.result is r for c in checks)} {r.value}" for r in Result)
    typer.echo(f"result: {worst(checks).value.upper()} ({counts})")
