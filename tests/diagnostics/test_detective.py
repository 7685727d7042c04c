"""The inverter detective over every protocol of the registry, from captures the project's own inverter side makes.

Each capture is a real file in the formats ``ml314 decode`` reads (candump ``.log`` through python-can's writer,
the RS485 ``time rx|tx HEX`` log), holding a few cycles of the inverter peer's frames and the battery's answers,
read back through the same readers. The detective must name the row's family; where it names several rows, each
of them must send byte for byte the same frames as the row that made the capture (the wire cannot tell them apart),
and every row it leaves out must send something else.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ml314.adapters.can_link import CanTrafficLog, iter_can_log
from ml314.adapters.serial_link import Rs485TrafficLog, iter_rs485_log
from ml314.diagnostics.detective import VerdictKind, families, family_of, identify_can, identify_rs485, judge
from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.protocols.base import CanCodec, CanFrame, Rs485Codec, Transport
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import PROTOCOLS, Entry, create

IDS = [f"{e.transport.value}:{e.code or e.name}" for e in PROTOCOLS]
CYCLES = 3
#: a bank unlike the ones the detective learned its templates from
STATUS = replace(worked_example(3), soc_pct=73.0, temperature_c=31.2, voltage_v=52.17, current_a=-61.3)
#: rows whose inverter the wire names alone (nothing else in the registry sends the same)
UNIQUE = {"growatt-can", "victron-can", "sma-can", "afore-can", "growatt-modbus", "voltronic-rs485", "voltronic-pyl"}


def can_capture(entry: Entry, path: Path, status: BankStatus = STATUS) -> list[CanFrame]:
    """A candump log of ``CYCLES`` cycles between the row's inverter peer and battery; the peer's frames."""
    codec = create(entry)
    assert isinstance(codec, CanCodec)
    log = CanTrafficLog(path)
    view = BatteryView()
    sent: list[CanFrame] = []
    t = 1_700_000_000.0
    for _ in range(CYCLES):
        for f in codec.inverter_cycle(view):
            sent.append(f)
            log.record(f, timestamp=t, sent=False)  # the battery's log: the inverter's frames are received
            for answer in codec.battery_answer(f, status):
                log.record(answer, timestamp=t, sent=True)
                view = view.merge(codec.decode(answer))
        for f in codec.battery_cycle(status):
            log.record(f, timestamp=t + 0.01, sent=True)
            view = view.merge(codec.decode(f))
        t += 1.0
    log.close()
    return sent


def rs485_capture(entry: Entry, path: Path) -> list[bytes]:
    codec = create(entry)
    assert isinstance(codec, Rs485Codec)
    log = Rs485TrafficLog(path)
    sent: list[bytes] = []
    for c in range(CYCLES):
        for request in codec.inverter_requests():
            sent.append(request)
            log.record(request, sent=False, timestamp=100.0 + c)
            response = codec.respond(request, STATUS)
            if response is not None:
                log.record(response, sent=True, timestamp=100.0 + c)
    log.close()
    return sent


def read_can(path: Path) -> list[CanFrame]:
    return [item.frame for _, item in iter_can_log(path) if not isinstance(item, str)]


def read_rs485(path: Path) -> list[bytes]:
    return [item.data for _, item in iter_rs485_log(path) if not isinstance(item, str)]


def sends(entry: Entry, view: BatteryView) -> object:
    """What the row's inverter sends for ``view`` (CAN frames, or RS485 requests up to the address)."""
    codec = create(entry)
    if isinstance(codec, CanCodec):
        return sorted(str(f) for f in codec.inverter_cycle(view))
    return sorted(r for r in codec.inverter_requests())


@pytest.mark.parametrize("entry", PROTOCOLS, ids=IDS)
def test_the_detective_names_the_family_of_every_protocol(entry: Entry, tmp_path: Path) -> None:
    if entry.transport is Transport.CAN:
        n_sent = len(can_capture(entry, tmp_path / "capture.log"))
        frames = read_can(tmp_path / "capture.log")
        assert len(frames) > n_sent, "the capture holds the battery's frames too"
        ident = identify_can(frames)
        assert ident.ignored == len(frames) - n_sent
        view = BatteryView()  # the peers' first cycle; every candidate must send the same then
    else:
        n_sent = len(rs485_capture(entry, tmp_path / "capture.txt"))
        ident = identify_rs485(read_rs485(tmp_path / "capture.txt"))
        view = BatteryView()
    assert ident.heard == n_sent
    assert ident.complete and not ident.by_id_only
    assert entry in ident.entries, f"{entry.name}: heard as {ident.named}"
    assert ident.entries == family_of(entry).entries
    for other in PROTOCOLS:
        if other.transport is not entry.transport:
            continue
        if other in ident.entries:
            assert sends(other, view) == sends(entry, view), f"{other.name} is named but sends something else"
        else:
            assert sends(other, view) != sends(entry, view), f"{other.name} sends the same but is left out"
    assert (not ident.ambiguous) == (entry.name in UNIQUE)
    assert ident.evidence


@pytest.mark.parametrize("entry", PROTOCOLS, ids=IDS)
def test_a_wrong_selection_is_named_with_the_code_to_choose(entry: Entry, tmp_path: Path) -> None:
    if entry.transport is Transport.CAN:
        can_capture(entry, tmp_path / "c.log")
        ident = identify_can(read_can(tmp_path / "c.log"))
    else:
        rs485_capture(entry, tmp_path / "c.txt")
        ident = identify_rs485(read_rs485(tmp_path / "c.txt"))
    for selected in PROTOCOLS:
        if selected.transport is not entry.transport:
            continue
        verdict = judge(ident, selected)
        if selected in family_of(entry).entries:
            assert verdict.kind is VerdictKind.MATCH, verdict.message
            if ident.ambiguous:
                assert "cannot tell" in verdict.message
        else:
            assert verdict.kind is VerdictKind.MISMATCH, verdict.message
            assert entry in verdict.choose
            if entry.code:
                assert f"{entry.transport.value}:{entry.code}" in verdict.message


def test_silence_and_strangers() -> None:
    quiet = identify_can([CanFrame(0x351, bytes(8)), CanFrame(0x355, bytes(4))])
    assert quiet.heard == 0 and quiet.ignored == 2
    assert judge(quiet, PROTOCOLS[0]).kind is VerdictKind.UNHEARD
    odd = identify_can([CanFrame(0x307, b"\x01\x02")])
    assert odd.by_id_only and {f.name for f in odd.candidates} == {"Victron", "SMA"}
    strange = identify_rs485([b"\x01\x02\x03"])
    assert strange.heard == 0 and strange.ignored == 1


def test_a_partial_cycle_keeps_every_family_it_fits() -> None:
    """Only 0x305 of zeros heard: Pylon's whole cycle, and a part of Victron's; the whole one wins."""
    ident = identify_can([CanFrame(0x305, bytes(8))] * 3)
    assert ident.complete
    assert "pylon-can" in {e.name for e in ident.entries} and "victron-can" not in {e.name for e in ident.entries}


def test_families_cover_the_registry() -> None:
    for t in Transport:
        rows = [e for f in families(t) for e in f.entries]
        assert sorted(e.name for e in rows) == sorted(e.name for e in PROTOCOLS if e.transport is t)
