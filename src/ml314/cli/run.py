"""``ml314 run``: the battery live, with its inverter protocols on real links, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ml314.cli.options import announce_compiling, given_options
from ml314.errors import InputError

DEFAULT_RS485 = "tcp://127.0.0.1:8485"
#: command-line options whose configuration field has another name (ml314.runtime.config)
RUN_RENAMES = {"can_iface": "can", "duration": "duration_s", "ids": "module_ids", "capacity_ah": "module_capacity_ah"}
#: options that are no part of the configuration
CLI_ONLY = frozenset({"config", "protocol", "quiet"})


def run_command(
    ctx: typer.Context,
    modules: Annotated[int, typer.Option(metavar="N", help="modules in parallel, 1..16")] = 1,
    protocol: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CODE", help="protocol per port, e.g. CAN:P14, RS485:P04, pylon-rs485 (repeat for both ports)"
        ),
    ] = None,
    can_iface: Annotated[
        str | None,
        typer.Option(
            "--can", metavar="INTERFACE:CHANNEL", help="python-can INTERFACE:CHANNEL (socketcan:can0); default virtual"
        ),
    ] = None,
    rs485: Annotated[
        str | None,
        typer.Option(
            metavar="PORT", help=f"serial device, pyserial URL or tcp://HOST:PORT to listen on (e.g. {DEFAULT_RS485})"
        ),
    ] = None,
    rs485_baud: Annotated[
        int | None,
        typer.Option(metavar="BAUD", help="RS485 baud rate (default: the protocol's, 9600; Pylon V3.3 also 115200)"),
    ] = None,
    speed: Annotated[float, typer.Option(metavar="FACTOR", help="simulated seconds per wall-clock second")] = 1.0,
    peer: Annotated[
        bool | None,
        typer.Option("--peer/--no-peer", help="built-in inverter peer (default: on links that end in this process)"),
    ] = None,
    can_log: Annotated[
        Path | None, typer.Option(metavar="FILE", help="record every CAN frame in candump format")
    ] = None,
    rs485_log: Annotated[
        Path | None, typer.Option(metavar="FILE", help="record every RS485 request and response as hex lines")
    ] = None,
    config: Annotated[Path, typer.Option(metavar="FILE", help="settings file with the selected protocols")] = Path(
        "ml314.toml"
    ),
    params: Annotated[
        Path | None, typer.Option(metavar="FILE", help="BMS parameter file (default: the shipped set)")
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="seed of the twin's spread and the home profiles")] = 1,
    initial_soc: Annotated[float, typer.Option(metavar="SOC", help="initial SOC of every cell, 0..1")] = 0.5,
    duration: Annotated[
        str | None, typer.Option("--for", metavar="DURATION", help="stop after this wall-clock time (10s, 5min)")
    ] = None,
    ids: Annotated[
        str | None, typer.Option(metavar="ID,ID,...", help="DIP IDs in daisy-chain order, e.g. 1,2,3,4 (default 1..n)")
    ] = None,
    termination: Annotated[
        str | None,
        typer.Option(
            metavar="1|0,...", help="DIP switch 8 per module in chain order, e.g. 1,0,0,1 (default: the ends)"
        ),
    ] = None,
    bank_link: Annotated[
        str | None,
        typer.Option(
            metavar="LINK", help="link between modules: pty (default), tcp://HOST:PORT, or two devices DEV1,DEV2"
        ),
    ] = None,
    link_baud: Annotated[int, typer.Option(metavar="BAUD", help="baud rate of the link between modules")] = 115_200,
    capacity_ah: Annotated[
        str | None,
        typer.Option(
            metavar="AH,AH,...", help="rated capacity per module, e.g. 314,314,280 (a mixed bank: caution 13.1 (5))"
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no live status line")] = False,
) -> None:
    """Run the bank in real time with its protocols live; Ctrl-C or SIGTERM stops it cleanly."""
    announce_compiling()  # before the imports below, which take a second or more
    from ml314.protocols.base import Transport  # noqa: PLC0415
    from ml314.protocols.registry import resolve  # noqa: PLC0415
    from ml314.runtime.config import run_config  # noqa: PLC0415
    from ml314.runtime.run import STATUS_WIDTH, Runner, fault_detail  # noqa: PLC0415

    overrides = given_options(ctx, RUN_RENAMES, CLI_ONLY)
    seen: set[Transport] = set()
    for spec in protocol or []:
        entry = resolve(spec)
        if entry.transport in seen:
            raise InputError(f"--protocol {spec}: one protocol per port ({entry.transport.value} given twice)")
        seen.add(entry.transport)
        overrides["can_protocol" if entry.transport is Transport.CAN else "rs485_protocol"] = entry
    cfg = run_config(config, overrides)  # the one configuration: ml314.toml's [run], then the options given
    runner = Runner(cfg, echo=lambda line: typer.echo(line, err=True))

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        runner.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    wall0 = time.monotonic()
    try:
        for line in runner.start():
            typer.echo(line)
        typer.echo(f"ml314 run: {cfg.modules} module(s) at {cfg.speed:g}x real time; Ctrl-C stops")
        tty = sys.stdout.isatty()
        width = max(40, shutil.get_terminal_size((STATUS_WIDTH + 1, 24)).columns - 1) if tty else STATUS_WIDTH

        def show(line: str) -> None:
            if quiet:
                return
            if tty:
                sys.stdout.write("\r\x1b[2K" + line)
                sys.stdout.flush()
            else:
                typer.echo(line)

        def detail(line: str) -> None:  # a fault appeared or cleared: on a line of its own, above the status
            if tty and not quiet:
                sys.stdout.write("\r\x1b[2K")
            typer.echo(line)

        runner.run(status_every_s=1.0 if tty else 10.0, on_status=show, on_detail=detail, width=width)
        if tty and not quiet:
            sys.stdout.write("\n")
        final = runner.status_line(None)
        still = [fault_detail(f) for f in runner.faults()]
    finally:
        runner.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    live = runner.live
    simulated = live.t_s if live is not None else 0.0
    typer.echo(f"stopped after {time.monotonic() - wall0:.1f} s ({simulated:.0f} simulated s): {final}")
    for line in still:
        typer.echo(f"  at stop: {line}")
