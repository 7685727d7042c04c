from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ml314.adapters.serial_link import (
    Rs485TrafficLog,
    SocketStream,
    TcpListener,
    open_serial,
    parse_rs485_spec,
    read_rs485_log,
)
from ml314.errors import InputError, TransportError
from tests.ptys import null_modem


def test_rs485_specs() -> None:
    assert parse_rs485_spec("tcp://127.0.0.1:8485").listen == ("127.0.0.1", 8485)
    assert parse_rs485_spec("/dev/ttyUSB0").listen is None
    assert parse_rs485_spec("socket://10.0.0.5:4196").url == "socket://10.0.0.5:4196"
    for bad in ("tcp://127.0.0.1", "tcp://x:99999", "ttyUSB0"):
        with pytest.raises(InputError):
            parse_rs485_spec(bad)


def test_a_missing_device_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot open RS485 /dev/nonexistent-tty"):
        open_serial("/dev/nonexistent-tty", 9600)


def test_bytes_cross_a_pty_null_modem_with_pyserial_on_both_ends() -> None:
    with null_modem() as (a_path, b_path):
        a, b = open_serial(a_path, 9600), open_serial(b_path, 9600)
        try:
            a.write(b"~20024642E00202FD33\r")
            got = b""
            for _ in range(40):
                got += b.read(0.05)
                if got.endswith(b"\r"):
                    break
            assert got == b"~20024642E00202FD33\r"
        finally:
            a.close()
            b.close()


def test_tcp_listener_and_pyserial_socket_url() -> None:
    listener = TcpListener("127.0.0.1", 0)
    host, port = listener.address
    try:
        client = open_serial(f"socket://{host}:{port}", 9600)
        server = listener.accept(2.0)
        assert server is not None
        client.write(b"\x01\x03\x00\x10\x00\x01")
        got = b""
        for _ in range(40):
            got += server.read(0.05)
            if len(got) >= 6:
                break
        assert got == b"\x01\x03\x00\x10\x00\x01"
        server.write(b"ok")
        assert client.read(1.0) == b"ok"
        client.close()
        with pytest.raises(TransportError, match="closed the connection"):
            for _ in range(40):
                server.read(0.05)
        server.close()
    finally:
        listener.close()


def test_a_busy_port_is_a_transport_error() -> None:
    first = TcpListener("127.0.0.1", 0)
    try:
        with pytest.raises(TransportError, match="cannot listen"):
            TcpListener(*first.address)
    finally:
        first.close()


def test_socket_stream_over_a_socketpair() -> None:
    a, b = socket.socketpair()
    sa, sb = SocketStream(a, "a"), SocketStream(b, "b")
    sa.write(b"xyz")
    assert sb.read(1.0) == b"xyz"
    assert sb.read(0.01) == b""
    sa.close()
    sb.close()


def test_the_rs485_log_round_trips_and_accepts_other_shapes(tmp_path: Path) -> None:
    path = tmp_path / "rs485.log"
    log = Rs485TrafficLog(path)
    log.record(b"~20024642E00202FD33\r", sent=False, timestamp=10.0)
    log.record(b"\x01\x03\x02\x00\x01", sent=True, timestamp=10.01)
    log.close()
    lines = path.read_text().splitlines()
    assert lines[0].startswith("10.000000 rx 7E3230")
    path.write_text(path.read_text() + "# a comment\n\n01 03 00 10 00 01 85 CF\n~20024642E00202FD33\n")
    recs = read_rs485_log(path)
    assert [r.sent for r in recs] == [False, True, None, None]
    assert recs[0].data == b"~20024642E00202FD33\r"
    assert recs[2].data == bytes.fromhex("0103001000 0185CF".replace(" ", ""))
    assert recs[3].data == b"~20024642E00202FD33\r"


def test_a_bad_rs485_log_line_names_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_text("10.0 rx 0103\n11.0 rx nothex\n")
    with pytest.raises(InputError, match=r"bad.log:2: not a hex line"):
        read_rs485_log(path)
