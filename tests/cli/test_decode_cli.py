"""``ml314 decode`` on captures an installer sends: candump and ASC through python-can, RS485 hex lines."""

from __future__ import annotations

from pathlib import Path

import can

from ml314.adapters.can_link import CanTrafficLog, to_message
from ml314.adapters.serial_link import Rs485TrafficLog
from ml314.protocols.base import CanCodec, Rs485Codec
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import create, resolve
from tests.cli.test_simulate_cli import ml314


def battery_frames(name: str, modules: int = 16) -> list:  # type: ignore[type-arg]
    codec = create(resolve(name))
    assert isinstance(codec, CanCodec)
    return list(codec.battery_cycle(worked_example(modules)))


def test_decode_a_candump_log(tmp_path: Path) -> None:
    path = tmp_path / "capture.log"
    log = CanTrafficLog(path)
    for i, f in enumerate(battery_frames("pylon-can")):
        log.record(f, timestamp=100.0 + i / 100, sent=True)
    log.close()
    r = ml314("decode", path, "--protocol", "CAN:P14")
    assert r.returncode == 0, r.stderr
    assert "charge_voltage_limit" in r.stdout
    assert "cvl_v: 56.8" in r.stdout
    assert "module_count: 16" in r.stdout
    assert "0 malformed" in r.stdout


def test_decode_an_asc_capture(tmp_path: Path) -> None:
    path = tmp_path / "capture.asc"
    with can.ASCWriter(str(path)) as writer:
        for i, f in enumerate(battery_frames("sma-can", 2)):
            writer.on_message_received(to_message(f, timestamp=1.0 + i / 10))
    r = ml314("decode", path, "--protocol", "sma-can")
    assert r.returncode == 0, r.stderr
    assert "soc_pct: 50" in r.stdout


def test_malformed_and_foreign_frames_are_shown_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_text(
        "(1.000000) can0 351#3802 R\n"  # too short for 0x351
        "(1.100000) can0 123#00 R\n"  # not a Pylon frame
        "(1.200000) can0 355#32006400 R\n"
    )
    r = ml314("decode", path, "--protocol", "pylon-can")
    assert r.returncode == 1
    assert "MALFORMED" in r.stdout
    assert "1 malformed, 1 of other protocols" in r.stdout
    assert "Traceback" not in r.stderr


def test_decode_an_rs485_hex_log(tmp_path: Path) -> None:
    codec = create(resolve("pylon-rs485"))
    assert isinstance(codec, Rs485Codec)
    status = worked_example(3)
    path = tmp_path / "rs485.log"
    log = Rs485TrafficLog(path)
    for req in codec.inverter_requests():
        log.record(req, sent=False)
        response = codec.respond(req, status)
        assert response is not None
        log.record(response, sent=True)
    log.close()
    r = ml314("decode", path, "--protocol", "pylon-rs485")
    assert r.returncode == 0, r.stderr
    assert "module_count: 3" in r.stdout
    assert "modules: 3 with per-module data" in r.stdout


def test_missing_capture_and_bad_protocol_are_one_line_errors(tmp_path: Path) -> None:
    r = ml314("decode", tmp_path / "nothing.log", "--protocol", "pylon-can")
    assert r.returncode == 2 and "no such capture file" in r.stderr
    r = ml314("decode", tmp_path / "nothing.log", "--protocol", "pylon")
    assert r.returncode == 2 and "unknown protocol" in r.stderr and "did you mean" in r.stderr
