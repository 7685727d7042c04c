"""``ml314 decode``: captured CAN or RS485 traffic, decoded with a protocol into readable lines and a summary.

The capture is streamed (memory stays bounded however long it is). A line that is no frame is skipped, counted and
named by its number; a capture with no frame at all, or one that cannot be read, is one error line and exit 2.
Without ``--protocol`` a CAN capture is read as Pylon CAN and an RS485 capture's protocol is guessed from its
first frames (or the command says which option names it).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ml314.errors import InputError

if TYPE_CHECKING:
    from ml314.adapters.serial_link import LoggedBytes
    from ml314.protocols.registry import Entry

#: skipped lines named one by one, then only counted
SHOW_SKIPPED = 10
#: RS485 records the guess looks at
GUESS_RECORDS = 50
_CAN_SUFFIXES = (".asc", ".blf", ".csv", ".trc")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def decode_command(
    capture: Annotated[
        Path, typer.Argument(metavar="CAPTURE", help="candump .log / .asc / .blf / .csv / .trc, or RS485 hex lines")
    ],
    protocol: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="CAN:P14, pylon-rs485, RS485:P01, ... (default: pylon-can for CAN; guessed for an RS485 capture)",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="print at most this many frames (0: all)")] = 0,
) -> None:
    """Decode every frame of a capture with one protocol; end with what an inverter would have understood."""
    from dataclasses import fields  # noqa: PLC0415

    from ml314.adapters.can_link import iter_can_log  # noqa: PLC0415
    from ml314.adapters.serial_link import iter_rs485_log  # noqa: PLC0415
    from ml314.domain.battery_status import BatteryView  # noqa: PLC0415
    from ml314.errors import FrameError  # noqa: PLC0415
    from ml314.protocols.base import CanCodec  # noqa: PLC0415
    from ml314.protocols.registry import create, resolve  # noqa: PLC0415

    named = resolve(protocol) if protocol is not None else None
    if not capture.exists() or capture.is_dir():
        raise InputError(f"no such capture file: {capture}")
    if named is not None:
        entry = named
    elif _looks_like_can(capture):
        entry = resolve("pylon-can")
    else:
        entry = _guess_rs485(capture)
    codec = create(entry)
    view = BatteryView()
    total = bad = unknown = skipped = 0
    printed = 0

    def emit(line: str) -> None:
        nonlocal printed
        if limit == 0 or printed < limit:
            typer.echo(line)
        printed += 1

    def skip(no: int | None, why: str) -> None:
        nonlocal skipped
        skipped += 1
        if skipped <= SHOW_SKIPPED:
            where = f"{capture}:{no}" if no is not None else str(capture)
            typer.echo(f"ml314: {where}: skipped: {why}", err=True)

    if isinstance(codec, CanCodec):
        for no, item in iter_can_log(capture):
            if isinstance(item, str):
                skip(no, item)
                continue
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
        for no, rec in iter_rs485_log(capture):
            if isinstance(rec, str):
                skip(no, rec)
                continue
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
    if total == 0:
        why = f"{skipped} line(s) skipped, none a frame" if skipped else "it is empty"
        raise InputError(f"{capture}: no frame to decode ({why})")
    if limit and printed > limit:
        typer.echo(f"... {printed - limit} more frames not printed")
    skipped_text = f", {skipped} line(s) skipped" if skipped else ""
    typer.echo(
        f"\n{total} frames, {bad} malformed, {unknown} of other protocols{skipped_text}; an inverter would know:"
    )
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
    if skipped > SHOW_SKIPPED:
        typer.echo(f"ml314: {capture}: {skipped - SHOW_SKIPPED} more skipped line(s) not named", err=True)
    if bad or skipped:
        raise typer.Exit(1)


def _looks_like_can(capture: Path) -> bool:
    """A CAN capture by its format (ASC, BLF, CSV, TRC) or, for other names, by its first line: candump's
    ``(time) channel ID#DATA``; anything else is read as RS485 lines."""
    if capture.suffix.lower() in _CAN_SUFFIXES:
        return True
    try:
        with capture.open("r", encoding="ascii", errors="replace") as f:
            for line in islice(f, 1000):
                text = line.strip()
                if text and not text.startswith("#"):
                    return text.startswith("(") and "#" in text
    except OSError as exc:
        raise InputError(f"{capture}: cannot read ({exc.strerror})") from None
    return False


def _guess_rs485(capture: Path) -> Entry:
    """The RS485 protocol that reads most of the first records of ``capture``; an InputError naming the option
    when none does or two read them equally well."""
    from ml314.adapters.serial_link import iter_rs485_log  # noqa: PLC0415
    from ml314.errors import FrameError  # noqa: PLC0415
    from ml314.protocols.base import Rs485Codec, Transport  # noqa: PLC0415
    from ml314.protocols.registry import create, entries  # noqa: PLC0415

    records = list(islice(_records(iter_rs485_log(capture)), GUESS_RECORDS))
    candidates = [e for e in entries() if e.transport is Transport.RS485 and not e.compatibility]
    names = ", ".join(e.name for e in candidates)
    if not records:
        raise InputError(f"{capture}: no frame to decode (none to guess an RS485 protocol from either)")
    scores: list[tuple[int, str, Entry, type]] = []
    for entry in candidates:
        codec = create(entry)
        assert isinstance(codec, Rs485Codec)
        read = 0
        for rec in records:
            try:
                codec.describe(rec.data)
                read += 1
            except FrameError:
                continue
            except Exception:  # a codec's guard we did not foresee: it does not read this capture
                continue
        scores.append((read, entry.name, entry, type(codec)))
    best_read = max(s[0] for s in scores)
    # codecs that read as much; a variant (a subclass) of another such codec yields to it: the general one decodes
    # everything the variant does, and the capture cannot tell them apart
    tied = [s for s in scores if s[0] == best_read]
    tied = [s for s in tied if not any(o[3] is not s[3] and issubclass(s[3], o[3]) for o in tied)]
    if best_read == 0 or len(tied) > 1:
        why = f"{' and '.join(s[1] for s in tied)} read it equally well" if best_read else "no RS485 protocol reads it"
        raise InputError(f"{capture}: cannot tell the protocol ({why}); name it with --protocol ({names})")
    (best,) = tied
    variants = [s[1] for s in scores if s[0] == best_read and s is not best]
    also = f", as do its variants {', '.join(variants)}" if variants else ""
    typer.echo(
        f"protocol guessed from the capture: {best[1]} ({best[0]} of {len(records)} frames read{also}); "
        "--protocol names another",
        err=True,
    )
    return best[2]


def _records(items: Iterator[tuple[int, LoggedBytes | str]]) -> Iterator[LoggedBytes]:
    for _, item in items:
        if not isinstance(item, str):
            yield item
