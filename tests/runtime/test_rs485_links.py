"""Battery and inverter peer over RS485: a pty null modem and TCP loopback, pyserial on both ends."""

from __future__ import annotations

from pathlib import Path

from ml314.adapters.serial_link import Rs485TrafficLog, TcpListener, open_serial, read_rs485_log
from ml314.protocols.base import Rs485Codec
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import create, resolve
from ml314.runtime.rs485_links import Rs485BatteryServer, Rs485InverterPeer
from tests.ptys import null_modem
from tests.runtime.test_can_links import wait_for


def codec(name: str) -> Rs485Codec:
    c = create(resolve(name))
    assert isinstance(c, Rs485Codec)
    return c


def check_view(peer: Rs485InverterPeer, modules: int) -> None:
    v = peer.view
    lim = v.limits()
    assert lim is not None
    assert abs(lim.cvl_v - 56.8) < 0.06
    assert lim.ccl_a > 0.0 and lim.dcl_a > 0.0
    if v.module_count is not None:
        assert v.module_count == modules


def test_pylon_rs485_over_a_pty_null_modem(tmp_path: Path) -> None:
    status = worked_example(3)
    log = Rs485TrafficLog(tmp_path / "rs485.log")
    with null_modem() as (battery_port, inverter_port):
        server = Rs485BatteryServer(codec("pylon-rs485"), lambda: status, log)
        server.serve_stream(open_serial(battery_port, 9600))
        peer = Rs485InverterPeer(codec("pylon-rs485"), open_serial(inverter_port, 9600))
        try:
            peer.poll_once()
            check_view(peer, 3)
            assert len(peer.view.modules) == 3
            assert peer.timeouts == 0
        finally:
            peer.close()
            server.close()
    log.close()
    lines = read_rs485_log(tmp_path / "rs485.log")
    assert lines and lines[0].sent is False and lines[1].sent is True


def test_every_rs485_protocol_over_tcp_loopback_with_pyserial_clients() -> None:
    for name in ("pylon-rs485", "voltronic-pyl", "growatt-modbus", "voltronic-rs485", "RS485:P05"):
        status = worked_example(2)
        listener = TcpListener("127.0.0.1", 0)
        server = Rs485BatteryServer(codec(name), lambda st=status: st)
        server.serve_listener(listener)
        host, port = listener.address
        peer = Rs485InverterPeer(codec(name), open_serial(f"socket://{host}:{port}", 9600))
        try:
            peer.poll_once()
            assert peer.timeouts == 0, name
            check_view(peer, 2)
            assert peer.latencies_s
        finally:
            peer.close()
            server.close()
            listener.close()


def test_garbage_on_the_line_is_skipped_and_the_next_request_answered() -> None:
    status = worked_example(1)
    listener = TcpListener("127.0.0.1", 0)
    server = Rs485BatteryServer(codec("pylon-rs485"), lambda: status)
    server.serve_listener(listener)
    client = open_serial(f"socket://{listener.address[0]}:{listener.address[1]}", 9600)
    try:
        client.write(b"\x00\xffjunk~20024642E00202FD34\r")  # noise, then a frame with a wrong checksum
        client.write(b"~20024642E00202FD33\r")
        got = b""
        for _ in range(100):
            got += client.read(0.05)
            if got.count(b"\r") >= 2 or (got.endswith(b"\r") and len(got) > 100):
                break
        assert b"~2002460" in got  # the good request got its 0x42 answer
        assert wait_for(lambda: server.responses >= 1)
    finally:
        client.close()
        server.close()
        listener.close()
