"""``ml314 monitor``: the PC software and the history against an external battery (a Pylontech-protocol stack, or
another ml314) read over RS485 or CAN, until Ctrl-C or SIGTERM (docs/monitor.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ml314.cli.serving import StatusOutput, listen_web, stop_on_signals, web_app
from ml314.errors import InputError

DEFAULT_HTTP = "127.0.0.1:8314"  # as ``ml314 run``'s (ml314.runtime.run.DEFAULT_HTTP)


def _addresses(text: str) -> tuple[int, ...]:
    """``2-17`` or ``2,3,4``: pack addresses in order."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            out += range(int(lo), int(hi) + 1) if sep else [int(lo)]
    except ValueError:
        raise InputError(f"--addresses {text!r}: a range like 2-17 or a list like 2,3,4") from None
    return tuple(dict.fromkeys(out))


def monitor_command(
    rs485: Annotated[
        str | None,
        typer.Option(metavar="PORT", help="serial device (/dev/ttyUSB0), socket://HOST:PORT or tcp://HOST:PORT"),
    ] = None,
    can_iface: Annotated[
        str | None,
        typer.Option("--can", metavar="INTERFACE:CHANNEL", help="python-can INTERFACE:CHANNEL (socketcan:can0)"),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(metavar="CODE", help="the battery's protocol: pylon-rs485 (RS485), CAN:Pxx (default pylon-can)"),
    ] = None,
    baud: Annotated[
        int | None, typer.Option(metavar="BAUD", help="RS485 baud rate (default 9600; Pylon V3.3 also 115200)")
    ] = None,
    addresses: Annotated[
        str, typer.Option(metavar="ADR-ADR", help="RS485 pack addresses to look at (the master is 2)")
    ] = "2-17",
    response_timeout: Annotated[
        str, typer.Option(metavar="DURATION", help="how long a pack may take to answer one request")
    ] = "0.5s",
    misses: Annotated[
        int, typer.Option(metavar="N", help="RS485 polls in a row without an answer before a pack is offline")
    ] = 3,
    http: Annotated[
        str,
        typer.Option(
            metavar="HOST:PORT|off", envvar="ML314_HTTP", help="web application and API; port 0 picks a free one"
        ),
    ] = DEFAULT_HTTP,
    data_dir: Annotated[Path, typer.Option(metavar="DIR", help="where the history is kept (history.sqlite)")] = Path(
        "ml314-monitor-data"
    ),
    db: Annotated[
        str | None,
        typer.Option(metavar="URL", help="history: sqlite:///FILE, postgresql://USER@HOST/DB or off"),
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--for", metavar="DURATION", help="stop after this wall-clock time (10s, 5min)")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no live status line")] = False,
) -> None:
    """Watch an external battery over RS485 (Pylon protocol) or CAN: web UI, API and history; Ctrl-C stops."""
    from ml314.adapters.can_link import parse_can_spec  # noqa: PLC0415
    from ml314.domain.durations import parse_duration_s  # noqa: PLC0415
    from ml314.protocols.registry import resolve  # noqa: PLC0415
    from ml314.runtime.monitor import Monitor, MonitorConfig  # noqa: PLC0415
    from ml314.runtime.run import parse_http  # noqa: PLC0415
    from ml314.storage.data_dir import DataDir  # noqa: PLC0415

    if rs485 is not None and can_iface is not None:
        raise InputError("--rs485 and --can: the monitor reads one link; start one monitor per link")
    default = "pylon-rs485" if can_iface is None else "pylon-can"
    config = MonitorConfig(
        protocol=resolve(protocol or default),
        rs485=rs485,
        can=None if can_iface is None else parse_can_spec(can_iface),
        baud=baud,
        addresses=_addresses(addresses),
        response_timeout_s=parse_duration_s(response_timeout, "--response-timeout"),
        misses_offline=misses,
        data_dir=data_dir,
        db=db,
        duration_s=None if duration is None else parse_duration_s(duration, "--for"),
    )
    config.validate()
    address = parse_http(http)
    if db is None:
        DataDir(data_dir).lock()  # one monitor per history in a data dir
    monitor = Monitor(config, echo=lambda line: typer.echo(line, err=True))
    web = listen_web(address)  # bound first: a port in use is an error before the link opens
    wall0 = time.monotonic()
    with stop_on_signals(monitor.stop):
        try:
            lines = monitor.start()  # a link that cannot be opened: one line, exit 2, nothing printed before
            if web is not None:
                typer.echo(f"web: {web.url}  (API docs {web.url}/docs; --http off disables)")
                from ml314.web.maintenance_api import maintenance_router  # noqa: PLC0415
                from ml314.web.monitor_api import monitor_router  # noqa: PLC0415

                routers = [monitor_router(monitor), maintenance_router(data_dir, lambda: monitor.history)]
                web.start(web_app(monitor.surface, monitor.history, routers))
            for line in lines:
                typer.echo(line)
            typer.echo("ml314 monitor: watching; Ctrl-C stops")
            out = StatusOutput(quiet)
            width = out.width if out.tty else None  # a log keeps the whole line
            monitor.run(on_status=lambda line: out.show(line[:width]), status_every_s=1.0 if out.tty else 10.0)
            out.finish()
            final = monitor.status_line()
        finally:
            if web is not None:
                web.stop()
            monitor.close()
    typer.echo(f"stopped after {time.monotonic() - wall0:.1f} s: {final}")
