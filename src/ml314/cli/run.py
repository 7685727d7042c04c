"""``ml314 run``: the battery live, with its inverter protocols on real links, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ml314.cli.options import announce_compiling, given_options
from ml314.cli.serving import StatusOutput, listen_web, stop_on_signals, web_app
from ml314.errors import InputError

if TYPE_CHECKING:
    from fastapi import APIRouter

    from ml314.bms.parameters import BmsParameters
    from ml314.cli.app_serving import AppSide
    from ml314.runtime.mqtt_link import MqttLink
    from ml314.runtime.run import Runner
    from ml314.runtime.surface import Surface

DEFAULT_RS485 = "tcp://127.0.0.1:8485"
DEFAULT_HTTP = "127.0.0.1:8314"  # ml314.runtime.run.DEFAULT_HTTP, not imported here: the CLI starts fast
#: command-line options whose configuration field has another name (ml314.runtime.config)
RUN_RENAMES = {
    "can_iface": "can",
    "duration": "duration_s",
    "ids": "module_ids",
    "capacity_ah": "module_capacity_ah",
    "save_every": "save_every_s",
    "rs485_idle_timeout": "rs485_idle_timeout_s",
}
#: options that are no part of the configuration as given: the settings file, the protocols (resolved below), the
#: screen, and what the device's data dir decides (its lock, its PIN, its installed parameter set, legacy mode)
CLI_ONLY = frozenset({"config", "protocol", "quiet", "data_dir", "pin", "params", "legacy_secrets"})


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
    rs485_max_clients: Annotated[
        int, typer.Option(metavar="N", help="TCP clients the RS485 listener serves at once (more are closed at once)")
    ] = 8,
    rs485_idle_timeout: Annotated[
        str, typer.Option(metavar="DURATION", help="close an RS485 TCP client silent this long (60s, 5min)")
    ] = "60s",
    quiet: Annotated[bool, typer.Option(help="no live status line")] = False,
    http: Annotated[
        str,
        typer.Option(
            metavar="HOST:PORT|off",
            envvar="ML314_HTTP",
            help="web application and API (docs at /docs); port 0 picks a free one; off: none",
        ),
    ] = DEFAULT_HTTP,
    # -- state across restarts and the device's identity (storage/data_dir.py)
    data_dir: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            envvar="ML314_DATA_DIR",
            help="the device's data dir: state, identity, label, parameter set",
        ),
    ] = Path("ml314-data"),
    fresh: Annotated[bool, typer.Option(help="start over: a new bank (the stored one is moved aside)")] = False,
    db: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="history: sqlite:///FILE, postgresql://USER@HOST/DB or off (default: history.sqlite in the data dir)",
        ),
    ] = None,
    save_every: Annotated[
        str, typer.Option(metavar="DURATION", help="save the bank's state this often (at most 10s)")
    ] = "10s",
    pin: Annotated[
        str | None, typer.Option(metavar="PIN", help="the device's technician PIN (to install --params)")
    ] = None,
    legacy_secrets: Annotated[
        bool | None,
        typer.Option(
            "--legacy-secrets/--no-legacy-secrets",
            help="accept the manual's universal PIN 123456 and AP password 12345678 (stored; the status warns)",
        ),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="publish telemetry, events and Home Assistant discovery: mqtt://HOST:PORT, mqtts://HOST:PORT "
            "(buffered on disk while unreachable; docs/mqtt.md)",
        ),
    ] = None,
    ap: Annotated[
        str,
        typer.Option(
            metavar="HOST:PORT|off",
            envvar="ML314_AP",
            help="the device's AP-mode API (the app's AP mode, behind the device's AP password; docs/app-device.md)",
        ),
    ] = "off",
    mdns: Annotated[
        bool,
        typer.Option(
            "--mdns/--no-mdns", help="announce the device by mDNS and let the app's local mode find devices nearby"
        ),
    ] = True,
) -> None:
    """Run the bank in real time with its protocols live; Ctrl-C or SIGTERM stops it cleanly."""
    announce_compiling()  # before the imports below, which take a second or more
    from ml314.cli.app_serving import AppSide  # noqa: PLC0415
    from ml314.protocols.base import Transport  # noqa: PLC0415
    from ml314.protocols.registry import resolve  # noqa: PLC0415
    from ml314.runtime.config import run_config  # noqa: PLC0415
    from ml314.runtime.diagnosis import DiagnosisJob  # noqa: PLC0415
    from ml314.runtime.run import STATUS_WIDTH, Runner, fault_detail  # noqa: PLC0415
    from ml314.runtime.surface import Surface  # noqa: PLC0415
    from ml314.storage.data_dir import DataDir  # noqa: PLC0415
    from ml314.web.diagnostics_api import diagnostics_router  # noqa: PLC0415

    overrides = given_options(ctx, RUN_RENAMES, CLI_ONLY)
    data = DataDir(data_dir)
    data.lock()  # held until this process ends
    identity, label = data.identity()
    first: list[str] = []  # said after the URL, which comes first
    if label is not None:
        first.append(f"first start: device {label.serial} created in {data_dir}; its label, shown here once "
                     "(again with `ml314 label`):")  # fmt: skip
        first += ["  " + line for line in label.text().splitlines()]
    if legacy_secrets is not None:
        identity = identity.with_legacy_secrets(legacy_secrets)
    if identity.legacy_secrets:
        first.append("WARNING: legacy secrets ON: the manual's PIN 123456 and AP password 12345678 are accepted "
                     "(--no-legacy-secrets turns them off)")  # fmt: skip
    bms_params, params_line = data.parameters(params, pin, time.time())
    first.append(f"BMS: {params_line}")
    overrides |= {"params": bms_params, "data_dir": data_dir, "legacy_secrets": identity.legacy_secrets}
    seen: set[Transport] = set()
    for spec in protocol or []:
        entry = resolve(spec)
        if entry.transport in seen:
            raise InputError(f"--protocol {spec}: one protocol per port ({entry.transport.value} given twice)")
        seen.add(entry.transport)
        overrides["can_protocol" if entry.transport is Transport.CAN else "rs485_protocol"] = entry
    cfg = run_config(config, overrides)  # the one configuration: ml314.toml's [run], then the options given
    runner = Runner(cfg, echo=lambda line: typer.echo(line, err=True))
    surface = Surface(runner, settings_path=config)
    web = listen_web(cfg.http_address)  # bound now: a port in use is an error before the bank starts
    if web is not None:
        typer.echo(f"web: {web.url}  (API docs {web.url}/docs; --http off disables)")
    app_side = AppSide(cfg, data_dir, identity.serial, runner.echo)  # the AP socket is bound now too
    mqtt_link = _mqtt_link(cfg.mqtt, surface, data_dir, identity.serial, runner, app_side)  # None without --mqtt
    for line in first + app_side.lines():
        typer.echo(line)

    wall0 = time.monotonic()
    with stop_on_signals(runner.stop):
        try:
            for line in runner.start():
                typer.echo(line)
            surface.on_tick()  # the first view, before the run loop's first tick
            diagnosis = DiagnosisJob(runner)  # chapter 12 every 2 s: /api/diagnostics, MQTT, the page
            runner.tick_hooks.append(diagnosis.on_tick)
            diagnosis.run_once()
            if mqtt_link is not None:
                mqtt_link.diagnostics = diagnosis.report
                typer.echo(mqtt_link.describe())
                mqtt_link.start()
            diagnostics = diagnostics_router(diagnosis.report)  # on --http and on the AP listener
            if web is not None:
                from ml314.web.maintenance_api import maintenance_router  # noqa: PLC0415

                routers = [
                    maintenance_router(data_dir, lambda: runner.history),
                    diagnostics,
                    _commission(surface, runner, identity.serial, bms_params),
                    *app_side.routers(surface),
                ]
                web.start(web_app(surface, runner.history, routers))
            app_side.start(surface, runner.history, None if web is None else web.port, [diagnostics])
            typer.echo(f"ml314 run: {cfg.modules} module(s) at {cfg.speed:g}x real time; Ctrl-C stops")
            out = StatusOutput(quiet, STATUS_WIDTH)
            diagnosis.on_change = out.detail  # a finding that appears or clears: a line of its own
            runner.run(status_every_s=1.0 if out.tty else 10.0, on_status=out.show, on_detail=out.detail,
                       width=out.width)  # fmt: skip
            out.finish()
            final = runner.status_line(None)
            still = [fault_detail(f) for f in runner.faults()]
            links = runner.link_health()
        finally:
            surface.drain()
            if mqtt_link is not None:
                mqtt_link.stop()
            app_side.stop()
            if web is not None:
                web.stop()
            runner.close()
    live = runner.live
    simulated = live.t_s if live is not None else 0.0
    typer.echo(f"stopped after {time.monotonic() - wall0:.1f} s ({simulated:.0f} simulated s): {final}")
    for line in still:
        typer.echo(f"  at stop: {line}")
    if runner.saves:
        typer.echo(f"state saved in {data_dir} (continues at the next start; --fresh starts over)")
    for health in links:
        typer.echo(f"  link {health.brief()}" + "".join(f" {k}={n}" for k, n in health.errors))


def _mqtt_link(
    url: str | None, surface: Surface, data_dir: Path, serial: str, runner: Runner, app_side: AppSide
) -> MqttLink | None:
    """The device's MQTT link (``--mqtt``), not started yet; it connects as the network mode lets it."""
    if url is None:
        return None
    from ml314.cloud.mqtt_url import parse_mqtt_url  # noqa: PLC0415
    from ml314.runtime.mqtt_link import MqttLink  # noqa: PLC0415

    link = MqttLink(parse_mqtt_url(url), surface, data_dir, serial, echo=runner.echo, network=app_side.network)
    app_side.cloud(link)
    return link


def _commission(surface: Surface, runner: Runner, serial: str, params: BmsParameters) -> APIRouter:
    """The commissioning routes on the run: the battery's ports' frames for the detective, the run's history."""
    from ml314.diagnostics.commissioning import CommissionLimits  # noqa: PLC0415
    from ml314.web.commission_api import commission_router  # noqa: PLC0415

    limits = CommissionLimits.from_parameters(params)
    return commission_router(surface, runner.heard, lambda: runner.history, device_serial=serial, limits=limits)
