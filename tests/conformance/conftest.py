"""Conformance against a real ``ml314 run``: the test plays the inverter as the protocol's document describes.

Each protocol's module starts one ``ml314 run --protocol P --rs485 tcp://127.0.0.1:PORT --no-peer`` subprocess
(waiting for its port, as tests/cli/test_run_cli.py does) and talks to it over a real socket. Nothing waits a fixed
time: an answer is awaited until the codec frames it; a request the battery must ignore is followed by a valid one,
and the next frame on the wire must answer the valid one.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ml314.protocols.base import Rs485Codec
from ml314.protocols.registry import create, resolve
from tests.cli.test_run_cli import free_port, wait_for_port
from tests.cli.test_simulate_cli import ML314


@dataclass
class Inverter:
    """The inverter's end of the RS485 link: whole frames in, whole frames out, as the codec splits them."""

    sock: socket.socket
    codec: Rs485Codec
    buf: bytearray = field(default_factory=bytearray)

    def send(self, data: bytes, *, byte_by_byte: bool = False) -> None:
        if byte_by_byte:  # a UART hands the bytes over one at a time
            for b in data:
                self.sock.sendall(bytes([b]))
        else:
            self.sock.sendall(data)

    def receive(self) -> bytes:
        """The next whole response frame (bytes before it are dropped by the codec's framing)."""
        while (frame := self.codec.take_frame(self.buf, response=True)) is None:
            chunk = self.sock.recv(4096)
            assert chunk, "the battery closed the connection"
            self.buf += chunk
        return frame

    def transact(self, request: bytes, *, byte_by_byte: bool = False) -> bytes:
        self.send(request, byte_by_byte=byte_by_byte)
        return self.receive()

    def assert_ignored(self, request: bytes, follow_up: bytes) -> bytes:
        """``request`` gets no answer: the next frame on the wire answers ``follow_up``; returns that answer."""
        self.send(request)
        return self.transact(follow_up)


@dataclass
class Battery:
    port: int
    proc: subprocess.Popen[str]
    log: Path

    @contextmanager
    def inverter(self, protocol: str) -> Iterator[Inverter]:
        codec = create(resolve(protocol))
        assert isinstance(codec, Rs485Codec)
        with socket.create_connection(("127.0.0.1", self.port), timeout=None) as sock:
            yield Inverter(sock, codec)


@contextmanager
def running(protocol: str, tmp: Path, modules: int = 2) -> Iterator[Battery]:
    port = free_port()
    log = tmp / "rs485.log"
    proc = subprocess.Popen(
        [*ML314, "run", "--modules", str(modules), "--protocol", protocol, "--rs485", f"tcp://127.0.0.1:{port}",
         "--no-peer", "--quiet", "--rs485-log", str(log), "--data-dir", str(tmp / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield Battery(port, proc, log)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
