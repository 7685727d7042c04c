from __future__ import annotations

import socket
import struct
from pathlib import Path

import can
import pytest

from ml314.adapters.can_link import (
    CanFailure,
    CanTrafficLog,
    classify_can_error,
    open_bus,
    parse_can_spec,
    read_can_log,
    to_frame,
    to_message,
)
from ml314.errors import InputError, TransportError
from ml314.protocols.base import CanFrame


def test_can_specs() -> None:
    assert str(parse_can_spec(None)) == "virtual:ml314"
    assert str(parse_can_spec("socketcan:can0")) == "socketcan:can0"
    assert parse_can_spec("slcan:/dev/ttyACM0").channel == "/dev/ttyACM0"
    with pytest.raises(InputError, match="INTERFACE:CHANNEL"):
        parse_can_spec("can0")
    with pytest.raises(InputError, match="unknown CAN interface 'sockcan'"):
        parse_can_spec("sockcan:can0")


def test_a_missing_interface_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot open CAN socketcan:nosuchcan9"):
        open_bus(parse_can_spec("socketcan:nosuchcan9"), 500_000)


def test_frames_cross_two_virtual_buses() -> None:
    spec = parse_can_spec("virtual:test-cross")
    a, b = open_bus(spec, 500_000), open_bus(spec, 500_000)
    try:
        a.send(to_message(CanFrame(0x351, bytes([1, 2, 3]))))
        msg = b.recv(1.0)
        assert msg is not None
        assert to_frame(msg) == CanFrame(0x351, bytes([1, 2, 3]))
    finally:
        a.shutdown()
        b.shutdown()


def test_the_candump_log_records_direction_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "can.log"
    log = CanTrafficLog(path)
    log.record(CanFrame(0x351, bytes.fromhex("3802C05D007DE001")), timestamp=1000.5, sent=True)
    log.record(CanFrame(0x305, bytes(8)), timestamp=1000.75, sent=False)
    log.record(CanFrame(0x1F000100, b"\x01", is_extended_id=True), timestamp=1001.0, sent=True)
    log.close()
    text = path.read_text()
    assert "(1000.500000) can0 351#3802C05D007DE001 T" in text
    assert "305#0000000000000000 R" in text
    frames = list(read_can_log(path))
    assert [f.frame.arbitration_id for f in frames] == [0x351, 0x305, 0x1F000100]
    assert [f.received for f in frames] == [False, True, False]
    assert frames[2].frame.is_extended_id
    # python-can's own reader agrees
    assert len(list(can.LogReader(str(path)))) == 3


def test_bad_captures_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such capture"):
        list(read_can_log(tmp_path / "missing.log"))
    weird = tmp_path / "x.unknownext"
    weird.write_text("hello\n")
    with pytest.raises(InputError):
        list(read_can_log(weird))
    broken = tmp_path / "broken.log"
    broken.write_text("(1.0) vcan0 351#ZZ\n")
    with pytest.raises(InputError):
        list(read_can_log(broken))


def test_what_a_serial_socket_bus_raises_is_classified() -> None:
    """python-can's ``serial`` interface over ``socket://``: a DLC over 8 is a bad frame, a closed socket a lost
    device, on receive and on send."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    bus = open_bus(parse_can_spec(f"serial:socket://127.0.0.1:{port}"), 500_000)
    conn, _ = server.accept()
    try:
        conn.sendall(b"\xaa" + struct.pack("<I", 0) + bytes([15]) + struct.pack("<I", 0x305) + bytes(8) + b"\xbb")
        failures = []
        for _ in range(100):  # a guard: the frame arrives within a few reads
            try:
                bus.recv(0.1)
            except Exception as exc:
                failures.append(classify_can_error(exc))
                break
        assert failures == [CanFailure.BAD_FRAME]
        conn.close()
        failures = []
        for _ in range(100):
            try:
                bus.recv(0.1)
            except Exception as exc:
                failures.append(classify_can_error(exc))
                break
        assert failures == [CanFailure.LOST]
        with pytest.raises(Exception) as sent:
            for _ in range(100):
                bus.send(can.Message(arbitration_id=0x351, data=bytes(8), is_extended_id=False))
        assert classify_can_error(sent.value) is CanFailure.LOST
    finally:
        bus.shutdown()
        server.close()
