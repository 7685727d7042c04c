"""``ml314 run``: the battery live, with its inverter protocols on real links, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ml314.cli.durations import parse_duration_s
from ml314.cli.simulate import flag_list, float_list, int_list
from ml314.errors import InputError

DEFAULT_RS485 = "tcp://127.0.0.1:8485"
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def run_command(
    modules: Annotated[int, typer.Option(help="modules in parallel, 1..16")] = 1,
    protocol: Annotated[
        list[str] | None,
        typer.Option(help="protocol per port, e.g. CAN:P14, RS485:P04, pylon-rs485 (repeat for both ports)"),
    ] = None,
    can_iface: Annotated[
        str | None, typer.Option("--can", help="python-can INTERFACE:CHANNEL (socketcan:can0); default virtual")
    ] = None,
    rs485: Annotated[
        str | None,
        typer.Option(help=f"serial device, pyserial URL or tcp://HOST:PORT to listen on (e.g. {DEFAULT_RS485})"),
    ] = None,
    rs485_baud: Annotated[
        int | None, typer.Option(help="RS485 baud rate (default: the protocol's, 9600; Pylon V3.3 also 115200)")
    ] = None,
    speed: Annotated[float, typer.Option(help="simulated seconds per wall-clock second")] = 1.0,
    peer: Annotated[
        bool | None,
        typer.Option("--peer/--no-peer", help="built-in inverter peer (default: on links that end in this process)"),
    ] = None,
    can_log: Annotated[Path | None, typer.Option(help="record every CAN frame in candump format")] = None,
    rs485_log: Annotated[Path | None, typer.Option(help="record every RS485 request and response as hex lines")] = None,
    config: Annotated[Path, typer.Option(help="settings file with the selected protocols")] = Path("ml314.toml"),
    params: Annotated[Path | None, typer.Option(help="BMS parameter file (default: the shipped set)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the twin's spread and the home profiles")] = 1,
    initial_soc: Annotated[float, typer.Option(help="initial SOC of every cell, 0..1")] = 0.5,
    duration: Annotated[str | None, typer.Option("--for", help="stop after this wall-clock time (10s, 5min)")] = None,
    ids: Annotated[str | None, typer.Option(help="DIP IDs in daisy-chain order, e.g. 1,2,3,4 (default 1..n)")] = None,
    termination: Annotated[
        str | None, typer.Option(help="DIP switch 8 per module in chain order, e.g. 1,0,0,1 (default: the ends)")
    ] = None,
    bank_link: Annotated[
        str | None,
        typer.Option(help="link between modules: pty (default), tcp://HOST:PORT, or two devices DEV1,DEV2"),
    ] = None,
    link_baud: Annotated[int, typer.Option(help="baud rate of the link between modules")] = 115_200,
    capacity_ah: Annotated[
        str | None,
        typer.Option(help="rated capacity per module, e.g. 314,314,280 (a mixed bank: caution 13.1 (5))"),
    ] = None,
    rs485_max_clients: Annotated[
        int, typer.Option(help="TCP clients the RS485 listener serves at once (more are closed at once)")
    ] = 8,
    rs485_idle_timeout: Annotated[
        str, typer.Option(help="close an RS485 TCP client silent this long (60s, 5min)")
    ] = "60s",
    quiet: Annotated[bool, typer.Option(help="no live status line")] = False,
    # -- state across restarts and the device's identity (storage/data_dir.py)
    data_dir: Annotated[
        Path,
        typer.Option(envvar="ML314_DATA_DIR", help="the device's data dir: state, identity, label, parameter set"),
    ] = Path("ml314-data"),
    fresh: Annotated[bool, typer.Option(help="start over: a new bank (the stored one is moved aside)")] = False,
    save_every: Annotated[str, typer.Option(help="save the bank's state this often (at most 10s)")] = "10s",
    pin: Annotated[str | None, typer.Option(help="the device's technician PIN (to install --params)")] = None,
    legacy_secrets: Annotated[
        bool | None,
        typer.Option(
            "--legacy-secrets/--no-legacy-secrets",
            help="accept the manual's universal PIN 123456 and AP password 12345678 (stored; the status warns)",
        ),
    ] = None,
) -> None:
    """Run the bank in real time with its protocols live; Ctrl-C or SIGTERM stops it cleanly."""
    if not 1 <= modules <= 16:
        raise InputError(f"--modules {modules}: must be 1..16")
    if not (math.isfinite(speed) and 0.0 < speed <= 100_000.0):
        raise InputError(f"--speed {speed}: must be in (0, 100000]")
    if not 0.0 <= initial_soc <= 1.0:
        raise InputError(f"--initial-soc {initial_soc}: must be 0..1")
    if rs485_baud is not None and rs485_baud not in BAUD_RATES:
        raise InputError(f"--rs485-baud {rs485_baud}: one of {', '.join(map(str, BAUD_RATES))}")
    duration_s = parse_duration_s(duration, "--for") if duration is not None else None
    save_every_s = parse_duration_s(save_every, "--save-every")
    if save_every_s > 10.0:
        raise InputError(f"--save-every {save_every}: at most 10s (a kill may lose at most this much)")
    if not 1 <= rs485_max_clients <= 1024:
        raise InputError(f"--rs485-max-clients {rs485_max_clients}: must be 1..1024")
    idle_timeout_s = parse_duration_s(rs485_idle_timeout, "--rs485-idle-timeout")
    if idle_timeout_s <= 0.0:
        raise InputError(f"--rs485-idle-timeout {rs485_idle_timeout}: must be longer than 0 s")
    # numba compiles on import: keep --help and usage errors fast
    from ml314.adapters.can_link import parse_can_spec  # noqa: PLC0415
    from ml314.adapters.serial_link import parse_rs485_spec  # noqa: PLC0415
    from ml314.protocols.base import Transport  # noqa: PLC0415
    from ml314.protocols.registry import resolve  # noqa: PLC0415
    from ml314.runtime.run import RunConfig, Runner  # noqa: PLC0415
    from ml314.storage.data_dir import DataDir  # noqa: PLC0415
    from ml314.storage.settings_store import load_selection  # noqa: PLC0415

    data = DataDir(data_dir)
    data.lock()  # held until this process ends
    identity, label = data.identity()
    if label is not None:
        typer.echo(f"first start: device {label.serial} created in {data_dir}; its label, shown here once "
                   "(again with `ml314 label`):")  # fmt: skip
        typer.echo("\n".join("  " + line for line in label.text().splitlines()))
    if legacy_secrets is not None:
        identity = identity.with_legacy_secrets(legacy_secrets)
    if identity.legacy_secrets:
        typer.echo("WARNING: legacy secrets ON: the manual's PIN 123456 and AP password 12345678 are accepted "
                   "(--no-legacy-secrets turns them off)")  # fmt: skip
    bms_params, params_line = data.parameters(params, pin, time.time())
    typer.echo(f"BMS: {params_line}")
    selection = load_selection(config)
    can_entry = selection.can
    rs485_entry = selection.rs485
    rs485_chosen = False
    seen: set[Transport] = set()
    for spec in protocol or []:
        entry = resolve(spec)
        if entry.transport in seen:
            raise InputError(f"--protocol {spec}: one protocol per port ({entry.transport.value} given twice)")
        seen.add(entry.transport)
        if entry.transport is Transport.CAN:
            can_entry = entry
        else:
            rs485_entry = entry
            rs485_chosen = True
    rs485_spec = parse_rs485_spec(rs485 if rs485 is not None else DEFAULT_RS485) if rs485 or rs485_chosen else None
    run_config = RunConfig(
        params=bms_params,
        modules=modules,
        can_protocol=can_entry,
        rs485_protocol=rs485_entry,
        can=parse_can_spec(can_iface),
        rs485=rs485_spec,
        speed=speed,
        peer=peer,
        can_log=can_log,
        rs485_log=rs485_log,
        seed=seed,
        initial_soc=initial_soc,
        duration_s=duration_s,
        bank_link=bank_link,
        rs485_baud=rs485_baud,
        link_baud=link_baud,
        module_ids=int_list(ids, "--ids"),
        termination=flag_list(termination, "--termination"),
        module_capacity_ah=float_list(capacity_ah, "--capacity-ah"),
        data_dir=data_dir,
        fresh=fresh,
        save_every_s=save_every_s,
        legacy_secrets=identity.legacy_secrets,
        rs485_max_clients=rs485_max_clients,
        rs485_idle_timeout_s=idle_timeout_s,
    )
    runner = Runner(run_config, echo=lambda line: typer.echo(line, err=True))

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        runner.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    wall0 = time.monotonic()
    try:
        for line in runner.start():
            typer.echo(line)
        typer.echo(f"ml314 run: {modules} module(s) at {speed:g}x real time; Ctrl-C stops")
        tty = sys.stdout.isatty()

        def show(line: str) -> None:
            if quiet:
                return
            if tty:
                sys.stdout.write("\r\x1b[2K" + line[:200])
                sys.stdout.flush()
            else:
                typer.echo(line)

        runner.run(status_every_s=1.0 if tty else 10.0, on_status=show)
        if tty and not quiet:
            sys.stdout.write("\n")
        final = runner.status_line()
        links = runner.link_health()
    finally:
        runner.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    live = runner.live
    simulated = live.t_s if live is not None else 0.0
    typer.echo(f"stopped after {time.monotonic() - wall0:.1f} s ({simulated:.0f} simulated s): {final}")
    if runner.saves:
        typer.echo(f"state saved in {data_dir} (continues at the next start; --fresh starts over)")
    for health in links:
        typer.echo(f"  link {health.brief()}" + "".join(f" {k}={n}" for k, n in health.errors))
