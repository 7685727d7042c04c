"""``ml314 decode``: captured CAN or RS485 traffic, decoded with a protocol into readable lines and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def decode_command(
    capture: Annotated[Path, typer.Argument(help="candump .log / .asc / .blf / .csv / .trc, or RS485 hex lines")],
    protocol: Annotated[str, typer.Option(help="CAN:P14, pylon-rs485, RS485:P01, ...")] = "pylon-can",
    limit: Annotated[int, typer.Option(help="print at most this many frames (0: all)")] = 0,
) -> None:
    """Decode every frame of a capture with one protocol; end with what an inverter would have understood."""
    from dataclasses import fields  # noqa: PLC0415

    from ml314.adapters.can_link import read_can_log  # noqa: PLC0415
    from ml314.adapters.serial_link import read_rs485_log  # noqa: PLC0415
    from ml314.domain.battery_status import BatteryView  # noqa: PLC0415
    from ml314.errors import FrameError  # noqa: PLC0415
    from ml314.protocols.base import CanCodec  # noqa: PLC0415
    from ml314.protocols.registry import create, resolve  # noqa: PLC0415

    codec = create(resolve(protocol))
    view = BatteryView()
    total = bad = unknown = 0
    printed = 0

    def emit(line: str) -> None:
        nonlocal printed
        if limit == 0 or printed < limit:
            typer.echo(line)
        printed += 1

    if isinstance(codec, CanCodec):
        for item in read_can_log(capture):
            total += 1
            f = item.frame
            head = f"{item.timestamp:.6f} {'R' if item.received else 'T'} {f}"
            try:
                described = codec.describe(f)
                if described is None:
                    unknown += 1
                    emit(f"{head}  (not a {codec.info.name} frame)")
                    continue
                view = view.merge(codec.decode(f))
            except FrameError as exc:
                bad += 1
                emit(f"{head}  MALFORMED: {exc}")
                continue
            name, values = described
            emit(f"{head}  {name}: " + " ".join(f"{k}={_fmt(v)}" for k, v in values.items()))
    else:
        last_request: bytes | None = None
        for rec in read_rs485_log(capture):
            total += 1
            ts = f"{rec.timestamp:.6f} " if rec.timestamp is not None else ""
            direction = {True: "tx ", False: "rx ", None: ""}[rec.sent]
            head = f"{ts}{direction}{rec.data.hex().upper()[:48]}{'...' if len(rec.data) > 24 else ''}"
            try:
                name, values = codec.describe(rec.data)
            except FrameError as exc:
                bad += 1
                emit(f"{head}  MALFORMED: {exc}")
                continue
            emit(f"{head}\n    {name}: " + " ".join(f"{k}={_fmt(v)}" for k, v in values.items()))
            if last_request is not None:
                try:
                    view = view.merge(codec.decode_response(last_request, rec.data))
                    last_request = None
                    continue
                except FrameError:
                    pass
            last_request = rec.data
    if limit and printed > limit:
        typer.echo(f"... {printed - limit} more frames not printed")
    typer.echo(f"\n{total} frames, {bad} malformed, {unknown} of other protocols; an inverter would know:")
    for fd in fields(view):
        value = getattr(view, fd.name)
        if value is None or value == ():
            continue
        if fd.name == "modules":
            typer.echo(f"  modules: {len(value)} with per-module data")
        elif isinstance(value, frozenset):
            typer.echo(f"  {fd.name}: {', '.join(sorted(a.value for a in value)) or 'none'}")
        else:
            typer.echo(f"  {fd.name}: {_fmt(value)}")
    if bad:
        raise typer.Exit(1)
