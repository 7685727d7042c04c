"""The RS485 listener caps its clients, closes idle ones, frees what each used, and a device that fails is
reported lost and opened again; bad frames and failing answers are counted while the link goes on."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

from ml314.adapters.serial_link import TcpListener, open_serial
from ml314.domain.faults import SystemFaultKind
from ml314.protocols.examples import worked_example
from ml314.runtime.rs485_links import Rs485BatteryServer, Rs485InverterPeer
from tests.runtime.test_can_links import wait_for
from tests.runtime.test_rs485_links import codec


def connect(listener: TcpListener) -> socket.socket:
    return socket.create_connection(listener.address, timeout=30.0)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (EOF or reset); a guard timeout in ``connect`` bounds the wait."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_clients_over_the_cap_are_refused_and_the_served_ones_answered() -> None:
    status = worked_example(2)
    listener = TcpListener("127.0.0.1", 0)
    server = Rs485BatteryServer(codec("pylon-rs485"), lambda: status, max_clients=2)
    server.serve_listener(listener)
    host, port = listener.address
    a = open_serial(f"socket://{host}:{port}", 9600)
    b = open_serial(f"socket://{host}:{port}", 9600)
    try:
        assert wait_for(lambda: server.active_clients == 2)
        extra = connect(listener)
        assert closed_by_server(extra)
        extra.close()
        assert server.health.snapshot().refused == 1
        peer = Rs485InverterPeer(codec("pylon-rs485"), a)
        peer.poll_once()
        assert peer.timeouts == 0 and peer.view.limits() is not None
    finally:
        b.close()
        a.close()
        server.close()
        listener.close()


def test_an_idle_client_is_closed() -> None:
    status = worked_example(1)
    listener = TcpListener("127.0.0.1", 0)
    server = Rs485BatteryServer(codec("pylon-rs485"), lambda: status, idle_timeout_s=0.3)
    server.serve_listener(listener)
    try:
        sock = connect(listener)
        assert closed_by_server(sock)  # it never sent a byte
        sock.close()
        assert wait_for(lambda: server.idle_closed == 1 and server.active_clients == 0)
    finally:
        server.close()
        listener.close()


_CYCLES = """
import socket, sys
port, request = int(sys.argv[1]), sys.argv[2].encode("ascii")
answered = 0
for i in range(10_000):
    with socket.create_connection(("127.0.0.1", port), timeout=30.0) as sock:
        if i % 1000 == 0:  # now and then a real request and its answer on the way
            sock.sendall(request)
            answered += sock.recv(4096).startswith(b"~")
print(i + 1, answered)
"""


def test_ten_thousand_connections_leave_no_thread_behind() -> None:
    status = worked_example(1)
    listener = TcpListener("127.0.0.1", 0)
    server = Rs485BatteryServer(codec("pylon-rs485"), lambda: status)
    server.serve_listener(listener)
    try:
        assert wait_for(lambda: server.active_clients == 0)
        baseline = threading.active_count()
        request = codec("pylon-rs485").inverter_requests()[0]
        cycles = subprocess.run(  # the clients in another process, as an inverter farm would be
            [sys.executable, "-c", _CYCLES, str(listener.address[1]), request.decode("ascii")],
            capture_output=True,
            text=True,
            check=True,
        )
        assert cycles.stdout.split() == ["10000", "10"]
        assert wait_for(lambda: server.clients + server.health.snapshot().refused == 10_000, 120.0)
        assert wait_for(lambda: server.active_clients == 0, 120.0)
        assert wait_for(lambda: threading.active_count() <= baseline, 120.0)
        assert server.responses >= 10
        assert not server._active  # nothing kept per closed client
    finally:
        server.close()
        listener.close()


def test_junk_and_a_failing_status_are_counted_and_the_connection_goes_on() -> None:
    status = worked_example(1)
    calls = [0]

    def flaky():  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == 2:  # the first request after the junk
            raise RuntimeError("no snapshot yet")
        return status

    listener = TcpListener("127.0.0.1", 0)
    server = Rs485BatteryServer(codec("pylon-rs485"), flaky)
    server.serve_listener(listener)
    host, port = listener.address
    stream = open_serial(f"socket://{host}:{port}", 9600)
    peer = Rs485InverterPeer(codec("pylon-rs485"), stream)
    try:
        stream.write(b"\x00\xffjunk~zz\r")  # noise, then a frame of no hex characters
        peer.poll_once()  # the first request meets the failing status, the others are answered
        peer.poll_once()
        assert peer.view.limits() is not None
        snap = server.health.snapshot()
        assert snap.count(SystemFaultKind.LINK_BAD_FRAME) >= 1
        assert dict(snap.errors).get("link_error:RuntimeError") == 1
        assert server.active_clients == 1  # the same connection, still served
    finally:
        peer.close()
        server.close()
        listener.close()


def test_a_device_that_fails_is_reported_lost_and_reopened() -> None:
    """The device is a pyserial ``socket://`` URL to a gateway (a TCP server here) that drops the connection."""
    status = worked_example(2)
    gateway = socket.create_server(("127.0.0.1", 0))
    host, port = gateway.getsockname()[:2]
    server = Rs485BatteryServer(codec("pylon-rs485"), lambda: status)
    server.serve_device(lambda: open_serial(f"socket://{host}:{port}", 9600))
    try:
        first, _ = gateway.accept()
        first.close()  # the gateway drops the battery
        second, _ = gateway.accept()  # the battery reconnects by itself
        assert wait_for(lambda: server.health.reopens == 1)
        snap = server.health.snapshot()
        assert snap.count(SystemFaultKind.LINK_LOST) == 1 and not snap.lost
        request = codec("pylon-rs485").inverter_requests()[0]
        second.sendall(request)
        second.settimeout(30.0)
        assert second.recv(4096).startswith(b"~")  # and answers again
        second.close()
    finally:
        server.close()
        gateway.close()


def test_the_run_options_of_the_listener_are_checked() -> None:
    for args, word in (
        (["--rs485-max-clients", "0"], "--rs485-max-clients"),
        (["--rs485-idle-timeout", "0s"], "--rs485-idle-timeout"),
        (["--rs485-idle-timeout", "soon"], "--rs485-idle-timeout"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ml314.cli.main", "run", *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 2, done.stderr
        assert word in done.stderr and "Traceback" not in done.stderr
