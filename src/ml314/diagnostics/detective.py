"""The inverter detective: which inverter family is talking, from the frames it sends (pure).

Every inverter family is learned from the project's own inverter side, never typed in: for each registry row the
codec's ``inverter_cycle`` (CAN keep-alive and request frames) or ``inverter_requests`` (RS485 polls) is what that
inverter sends. Rows whose inverters send the same thing form one :class:`Family`: on the wire they cannot be told
apart (the Pylon-CAN brands all answer with 0x305 of zeros), and the detective says so with the whole set rather
than guess one.

* CAN: a template per inverter frame: identifier, length and the bytes that stay the same whatever the inverter
  decoded (SMA's 0x305 echoes the battery's values; those bytes are wildcards). A heard frame with an identifier
  no inverter uses is the battery's own and is ignored.
* RS485: a key per request: Pylon ASCII by (VER, CID1, CID2), Modbus RTU by (function, first register, count);
  the address is not part of it (an inverter may poll another module). Frames that are no inverter request
  (the battery's answers) are ignored.
* A family is a candidate when every recognised frame heard is one it sends; among candidates, the ones whose every
  frame was heard (a whole cycle) win over the ones only partly seen.

:func:`judge` compares the family heard with the protocol selected on the battery and names the P-code to choose
(manual Table 10-3, 10.1.5).
"""

from __future__ import annotations

import enum
import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ml314.domain.battery_status import BatteryView
from ml314.errors import FrameError
from ml314.protocols import modbus_rtu as mb
from ml314.protocols import pylon_ascii
from ml314.protocols.base import CanCodec, CanFrame, Rs485Codec, Transport
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import Entry, create, entries

__all__ = [
    "Family",
    "FrameTemplate",
    "Identification",
    "Verdict",
    "VerdictKind",
    "families",
    "identify",
    "identify_can",
    "identify_rs485",
    "judge",
    "request_key",
    "rs485_frames",
]

#: how an installer changes the protocol on the battery (manual 10.1.5)
SELECT_HOW = "on the LCD: Settings > {transport}, PIN, pick it, then restart the battery (manual 10.1.5)"


@dataclass(frozen=True, slots=True)
class FrameTemplate:
    """One CAN frame an inverter sends: identifier, and per data byte its fixed value or None (varies)."""

    arbitration_id: int
    is_extended_id: bool
    pattern: tuple[int | None, ...]

    def matches(self, frame: CanFrame) -> bool:
        if frame.arbitration_id != self.arbitration_id or frame.is_extended_id != self.is_extended_id:
            return False
        if len(frame.data) != len(self.pattern):
            return False
        return all(p is None or p == b for p, b in zip(self.pattern, frame.data, strict=True))

    def __str__(self) -> str:
        data = " ".join("??" if p is None else f"{p:02X}" for p in self.pattern)
        return f"0x{self.arbitration_id:03X} [{data}]"


#: an RS485 request as the detective compares it, e.g. ("pylon", 0x20, 0x46, 0x42) or ("modbus-read", 0x10, 26)
RequestKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Family:
    """Registry rows whose inverters send exactly the same frames (one transport)."""

    transport: Transport
    entries: tuple[Entry, ...]
    templates: tuple[FrameTemplate, ...] = ()
    requests: tuple[RequestKey, ...] = ()

    @property
    def name(self) -> str:
        """The brands, e.g. ``Growatt`` or ``Pylon / Sol-Ark / Deye ...``: first the brand whose own protocol most
        rows of the family run (the others' compatibility mode), then the rest in registry order."""
        modules = Counter(e.module for e in self.entries)
        first = sorted(self.entries, key=lambda e: (-modules[e.module], bool(e.compatibility)))[0]
        brands: list[str] = [first.brand]
        for e in self.entries:
            if e.brand not in brands:
                brands.append(e.brand)
        return " / ".join(brands)

    def describe(self) -> str:
        """What this family's inverter sends, in words."""
        if self.transport is Transport.CAN:
            return ", ".join(str(t) for t in self.templates)
        return ", ".join(_key_text(k) for k in self.requests)


def choice(entry: Entry) -> str:
    """How an installer names a row: ``CAN:P14-PYL Pylon`` (or the name for a row without a P-code)."""
    if entry.code:
        return f"{entry.transport.value}:{entry.code} ({entry.brand})"
    return f"{entry.name} ({entry.brand}; no P-code, by name)"


# --------------------------------------------------------------------------------------------- signatures
def _template_views() -> tuple[BatteryView, ...]:
    """Views an inverter may hold: nothing decoded yet, and two different banks decoded (varying bytes show)."""
    views = [BatteryView()]
    for n, soc, t in ((1, 50.0, 25.0), (16, 87.0, 31.5)):
        status = replace(worked_example(n), soc_pct=soc, temperature_c=t, current_a=-37.4 * n, voltage_v=53.61)
        view = BatteryView(
            voltage_v=status.voltage_v,
            current_a=status.current_a,
            temperature_c=status.temperature_c,
            soc_pct=status.soc_pct,
            soh_pct=status.soh_pct - (n - 1) * 0.5,
            cvl_v=status.limits.cvl_v,
            dvl_v=status.limits.dvl_v,
            ccl_a=status.limits.ccl_a,
            dcl_a=status.limits.dcl_a,
            charge_enable=True,
            discharge_enable=n == 1,
            module_count=n,
        )
        views.append(view)
    return tuple(views)


def _templates(codec: CanCodec) -> tuple[FrameTemplate, ...]:
    cycles = [codec.inverter_cycle(v) for v in _template_views()]
    by_key: dict[tuple[int, bool, int], list[bytes]] = {}
    for cycle in cycles:
        for f in cycle:
            by_key.setdefault((f.arbitration_id, f.is_extended_id, len(f.data)), []).append(f.data)
    out = []
    for (ident, ext, n), datas in sorted(by_key.items()):
        pattern = tuple(datas[0][i] if all(d[i] == datas[0][i] for d in datas) else None for i in range(n))
        out.append(FrameTemplate(ident, ext, pattern))
    return tuple(out)


def request_key(frame: bytes) -> RequestKey | None:
    """The key of an RS485 frame read as an inverter request, or None when it reads as none."""
    try:
        if frame[:1] == b"~":
            f = pylon_ascii.parse(frame)
            return ("pylon", f.ver, f.cid1, f.cid2)
        req = mb.parse_request(frame)
    except (FrameError, ValueError, IndexError):
        return None
    if isinstance(req, mb.ReadRequest):
        return ("modbus-read", req.start, req.count)
    if isinstance(req, mb.WriteRequest):
        return ("modbus-write", req.start, len(req.values))
    return None


def _key_text(key: RequestKey) -> str:
    if key[0] == "pylon":
        _, ver, cid1, cid2 = key
        return f"Pylon ASCII VER 0x{ver:02X} CID1 0x{cid1:02X} CID2 0x{cid2:02X}"
    verb = "read" if key[0] == "modbus-read" else "write"
    _, start, count = key
    return f"Modbus {verb} of {count} registers from 0x{start:04X}"


@functools.cache
def families(transport: Transport) -> tuple[Family, ...]:
    """Every family of ``transport``, from the registry's own inverter side, in registry order."""
    groups: dict[tuple[object, ...], list[Entry]] = {}
    for entry in entries():
        if entry.transport is not transport:
            continue
        codec = create(entry)
        if isinstance(codec, CanCodec):
            sig: tuple[object, ...] = _templates(codec)
        else:
            assert isinstance(codec, Rs485Codec)
            keys = [request_key(r) for r in codec.inverter_requests()]
            sig = tuple(sorted({k for k in keys if k is not None}, key=str))
        groups.setdefault(sig, []).append(entry)
    out = []
    for sig, rows in groups.items():
        if transport is Transport.CAN:
            out.append(Family(transport, tuple(rows), templates=sig))  # type: ignore[arg-type]
        else:
            out.append(Family(transport, tuple(rows), requests=sig))  # type: ignore[arg-type]
    return tuple(out)


def family_of(entry: Entry) -> Family:
    """The family a registry row belongs to."""
    for fam in families(entry.transport):
        if entry in fam.entries:
            return fam
    raise KeyError(entry.name)


# --------------------------------------------------------------------------------------------- identifying
@dataclass(frozen=True, slots=True)
class Identification:
    """What the detective made of what it heard on one transport.

    ``heard`` counts the inverter frames (recognised or not), ``ignored`` the frames that are no inverter's (the
    battery's own). ``candidates`` are the families that send everything recognised; ``complete`` says a whole
    cycle of theirs was heard; ``by_id_only`` that no family sends those exact bytes and only the identifiers
    fit. ``evidence`` lists what was heard, one line per distinct frame with its count.
    """

    transport: Transport
    heard: int
    ignored: int
    candidates: tuple[Family, ...]
    complete: bool
    by_id_only: bool
    evidence: tuple[str, ...]

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(e for f in self.candidates for e in f.entries)

    @property
    def named(self) -> str:
        """The family in words: one, several, or none."""
        if self.heard == 0:
            return "no inverter heard"
        if not self.candidates:
            return "an inverter no protocol here knows"
        names = " or ".join(f.name for f in self.candidates)
        return names if len(self.candidates) == 1 else f"one of {names}"

    @property
    def ambiguous(self) -> bool:
        """True when the frames heard fit more than one registry row (a set of candidates, not one answer)."""
        return len(self.entries) > 1


def _signature(f: Family) -> frozenset[object]:
    return frozenset(f.templates) if f.transport is Transport.CAN else frozenset(f.requests)


def _identify(  # noqa: PLR0917 - the parts of one tally
    transport: Transport,
    hits: Counter[frozenset[object]],
    unknown_ids: set[tuple[int, bool]],
    unknown: int,
    ignored: int,
    evidence: list[str],
) -> Identification:
    """``hits``: for each distinct heard frame, the signature items it fits, with its count; ``unknown`` frames
    fit none (``unknown_ids`` their CAN identifiers)."""
    fams = families(transport)
    total = sum(hits.values()) + unknown
    if total == 0:
        return Identification(transport, 0, ignored, (), False, False, tuple(evidence))
    fitted: set[object] = set().union(*hits) if hits else set()
    covering = []
    if not unknown:
        covering = [f for f in fams if all(h & _signature(f) for h in hits)]
    complete = [f for f in covering if _signature(f) <= fitted]
    by_id = False
    if not covering and transport is Transport.CAN:  # no exact fit: the families using these identifiers
        ids = unknown_ids | {(t.arbitration_id, t.is_extended_id) for t in fitted if isinstance(t, FrameTemplate)}
        covering = [f for f in fams if ids <= {(t.arbitration_id, t.is_extended_id) for t in f.templates}]
        by_id = bool(covering)
    chosen = complete or covering
    return Identification(transport, total, ignored, tuple(chosen), bool(complete), by_id, tuple(evidence))


def identify_can(frames: Iterable[CanFrame]) -> Identification:
    """The inverter family behind the CAN ``frames`` heard (the battery's own frames may be among them)."""
    templates = {t for f in families(Transport.CAN) for t in f.templates}
    inverter_ids = {(t.arbitration_id, t.is_extended_id) for t in templates}
    by_frame: Counter[CanFrame] = Counter()
    ignored = 0
    for frame in frames:
        if (frame.arbitration_id, frame.is_extended_id) in inverter_ids:
            by_frame[frame] += 1
        else:
            ignored += 1
    hits: Counter[frozenset[object]] = Counter()
    unknown_ids: set[tuple[int, bool]] = set()
    unknown = 0
    evidence: list[str] = []
    for frame, n in sorted(by_frame.items(), key=lambda kv: (kv[0].arbitration_id, kv[0].data)):
        fits = frozenset(t for t in templates if t.matches(frame))
        text = f"0x{frame.arbitration_id:03X} [{frame.data.hex(' ').upper()}] x{n}"
        if fits:
            hits[fits] += n
        else:
            unknown += n
            unknown_ids.add((frame.arbitration_id, frame.is_extended_id))
            text += " (no protocol here sends it)"
        if len(evidence) < 12:
            evidence.append(text)
    return _identify(Transport.CAN, hits, unknown_ids, unknown, ignored, evidence)


def identify_rs485(frames: Iterable[bytes]) -> Identification:
    """The inverter family behind the RS485 ``frames`` heard (requests and answers in any order)."""
    known = {k for f in families(Transport.RS485) for k in f.requests}
    heard: Counter[RequestKey] = Counter()
    ignored = 0
    for data in frames:
        key = request_key(data)
        if key is None or key not in known:
            ignored += 1
            continue
        heard[key] += 1
    evidence = [f"{_key_text(k)} x{n}" for k, n in sorted(heard.items(), key=lambda kv: str(kv[0]))]
    hits: Counter[frozenset[object]] = Counter({frozenset([k]): n for k, n in heard.items()})
    return _identify(Transport.RS485, hits, set(), 0, ignored, evidence)


_PYLON_FRAME = re.compile(rb"~[0-9A-Fa-f]{16,}\r?")


def rs485_frames(chunks: Iterable[bytes]) -> list[bytes]:
    """Frames from the byte chunks a port received as they came: ASCII text (Pylon) joined and cut at each
    ``~`` ... CR; binary chunks (Modbus RTU) joined and cut into the requests whose CRC holds, at any offset."""
    frames: list[bytes] = []
    text = bytearray()
    binary = bytearray()
    for chunk in chunks:
        if chunk.isascii() and all(b >= 0x20 or b in b"\r\n" for b in chunk):
            text += chunk
        else:
            binary += chunk
    frames += [m.group(0) for m in _PYLON_FRAME.finditer(bytes(text))]
    while (frame := mb.take_request(binary)) is not None:
        frames.append(frame)
    return frames


def identify(transport: Transport, frames: Sequence[CanFrame] | Sequence[bytes]) -> Identification:
    """:func:`identify_can` or :func:`identify_rs485` by ``transport``."""
    if transport is Transport.CAN:
        return identify_can(f for f in frames if isinstance(f, CanFrame))
    return identify_rs485(f for f in frames if isinstance(f, bytes))


# --------------------------------------------------------------------------------------------- judging
class VerdictKind(enum.Enum):
    MATCH = "match"  # the selected protocol is (one of) the family heard
    MISMATCH = "mismatch"  # another family talks: choose its P-code
    UNHEARD = "unheard"  # no inverter frame on this transport
    UNKNOWN = "unknown"  # an inverter talks, but like no protocol here


@dataclass(frozen=True, slots=True)
class Verdict:
    """The detective's answer for one transport: what it heard, against what is selected, and what to choose."""

    identification: Identification
    selected: Entry | None
    kind: VerdictKind
    message: str
    choose: tuple[Entry, ...] = ()


def judge(ident: Identification, selected: Entry | None) -> Verdict:
    """Whether ``selected`` (the protocol chosen on the battery for this transport) fits the inverter heard."""
    transport = ident.transport.value
    sel = "no protocol" if selected is None else choice(selected)
    if ident.heard == 0:
        return Verdict(
            ident,
            selected,
            VerdictKind.UNHEARD,
            f"no inverter frame heard on {transport} ({sel} selected): check the cable and its pins (manual 6.5, "
            "7.2), that the inverter is on and set to a lithium/BMS battery protocol (Table 12-2 #1, 8.4.2)",
        )
    if not ident.candidates:
        return Verdict(
            ident,
            selected,
            VerdictKind.UNKNOWN,
            f"an inverter talks on {transport} ({ident.heard} frames) but like no protocol of Table 10-3 here: "
            f"{sel} selected; set the inverter's battery protocol to one of the list (e.g. Pylon) and compare",
        )
    how = "" if ident.complete else " (judged from part of its cycle)"
    if ident.by_id_only:
        how = " (by identifiers only: the bytes differ from every protocol here)"
    if selected is not None and selected in ident.entries:
        alike = ""
        if ident.ambiguous:
            others = [choice(e) for e in ident.entries if e != selected]
            alike = f"; its frames are the same for {', '.join(others)}: the wire cannot tell these apart"
        return Verdict(
            ident,
            selected,
            VerdictKind.MATCH,
            f"the inverter on {transport} speaks like {ident.named}{how}; {sel} selected fits{alike}",
        )
    choose = ident.entries
    options = ", ".join(choice(e) for e in choose)
    pick = f"select {options}" if len(choose) == 1 else f"select the one of your inverter's brand: {options}"
    return Verdict(
        ident,
        selected,
        VerdictKind.MISMATCH,
        f"the inverter on {transport} speaks like {ident.named}{how}, but {sel} is selected: {pick}, "
        + SELECT_HOW.format(transport=transport),
        choose,
    )
