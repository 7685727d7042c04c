"""RS485 byte links: a serial device or any pyserial URL (``socket://``, ...), or a TCP listener on loopback.

``--rs485`` takes a device path (``/dev/ttyUSB0``), a pyserial URL (``socket://10.0.0.5:4196``, ``rfc2217://``), or
``tcp://HOST:PORT``, where ml314 listens and serves every client that connects (a Pylon-protocol poller, a
Modbus master, an RS485-to-Ethernet gateway). Each link is a :class:`ByteStream`: read what has arrived, write.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import socket
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

import serial

from ml314.errors import InputError, TransportError

__all__ = [
    "ByteStream",
    "LoggedBytes",
    "PtyNullModem",
    "Rs485Spec",
    "Rs485TrafficLog",
    "SerialStream",
    "SocketStream",
    "TcpListener",
    "open_serial",
    "parse_rs485_spec",
    "read_rs485_log",
]


class ByteStream(Protocol):
    """A duplex byte link."""

    def read(self, timeout_s: float) -> bytes:
        """The bytes that arrived within ``timeout_s`` (``b""`` if none); raises TransportError when closed."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Rs485Spec:
    """Where an RS485 link goes: ``listen`` (host, port) for ``tcp://``, else a pyserial ``url``."""

    url: str
    listen: tuple[str, int] | None = None

    def __str__(self) -> str:
        return self.url


def parse_rs485_spec(spec: str) -> Rs485Spec:
    s = spec.strip()
    if s.startswith("tcp://"):
        host, sep, port = s[len("tcp://") :].rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise InputError(f"--rs485 tcp:// wants tcp://HOST:PORT, got {spec!r}")
        return Rs485Spec(s, (host or "127.0.0.1", int(port)))
    if "://" in s or s.startswith("/") or s.upper().startswith("COM"):
        return Rs485Spec(s)
    raise InputError(f"--rs485 wants a device path, a pyserial URL or tcp://HOST:PORT, got {spec!r}")


_CHUNK = 65536


class SerialStream:
    """A pyserial port (device path or URL) as a :class:`ByteStream`."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port

    def read(self, timeout_s: float) -> bytes:
        try:
            self.port.timeout = timeout_s
            first = self.port.read(1)
            if not first:
                return b""
            # then whatever else has arrived, without waiting (in_waiting of socket:// URLs says at most 1)
            self.port.timeout = 0
            return bytes(first) + bytes(self.port.read(_CHUNK))
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"RS485 link {self.port.port}: {exc}") from None

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"RS485 link {self.port.port}: {exc}") from None

    def close(self) -> None:
        self.port.close()


def open_serial(url: str, baud: int) -> SerialStream:
    """Open a device or pyserial URL at ``baud`` 8N1."""
    try:
        port = serial.serial_for_url(url, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TransportError(f"cannot open RS485 {url}: {exc}") from None
    sock = getattr(port, "_socket", None)  # socket:// URLs: small frames must not wait for Nagle's algorithm
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return SerialStream(port)


class SocketStream:
    """A connected TCP socket as a :class:`ByteStream`."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read(self, timeout_s: float) -> bytes:
        self.sock.settimeout(timeout_s)
        try:
            data = self.sock.recv(4096)
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:
            raise TransportError(f"TCP client {self.peer}: {exc}") from None
        if not data:
            raise TransportError(f"TCP client {self.peer} closed the connection")
        return data

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise TransportError(f"TCP client {self.peer}: {exc}") from None

    def close(self) -> None:
        self.sock.close()


class TcpListener:
    """A listening socket; ``port`` 0 picks a free port (read it back from :attr:`address`)."""

    def __init__(self, host: str, port: int) -> None:
        try:
            self.sock = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            raise TransportError(f"cannot listen on tcp://{host}:{port}: {exc.strerror}") from None
        self.address: tuple[str, int] = self.sock.getsockname()[:2]

    def accept(self, timeout_s: float) -> SocketStream | None:
        self.sock.settimeout(timeout_s)
        try:
            conn, addr = self.sock.accept()
        except TimeoutError:
            return None
        except OSError as exc:
            raise TransportError(f"listener tcp://{self.address[0]}:{self.address[1]}: {exc}") from None
        return SocketStream(conn, f"{addr[0]}:{addr[1]}")

    def close(self) -> None:
        self.sock.close()


class PtyNullModem:
    """Two pseudo-terminals joined like a null-modem cable: bytes written to one device arrive at the other.

    The bank link of ``ml314 run`` uses it when no devices are named: both ends are real kernel serial devices
    that pyserial opens, so the code path is the one a pair of USB-RS485 adapters would take.
    """

    def __init__(self) -> None:
        m1, s1 = pty.openpty()
        m2, s2 = pty.openpty()
        for fd in (s1, s2):
            tty.setraw(fd)
        self._fds = (m1, s1, m2, s2)
        self.paths = (os.ttyname(s1), os.ttyname(s2))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="pty-null-modem", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        m1, _, m2, _ = self._fds
        while not self._stop.is_set():
            ready, _, _ = select.select([m1, m2], [], [], 0.05)
            for src in ready:
                try:
                    data = os.read(src, 65536)
                    os.write(m2 if src == m1 else m1, data)
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)


class Rs485TrafficLog:
    """Every RS485 request and response as one line: ``<unix time> <rx|tx> <hex bytes>``; thread-safe, flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: TextIO = path.open("w", encoding="ascii")
        except OSError as exc:
            raise InputError(f"cannot write the RS485 log {path}: {exc.strerror}") from None
        self._lock = threading.Lock()

    def record(self, data: bytes, *, sent: bool, timestamp: float | None = None) -> None:
        t = time.time() if timestamp is None else timestamp
        with self._lock:
            self._file.write(f"{t:.6f} {'tx' if sent else 'rx'} {data.hex().upper()}\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


@dataclass(frozen=True, slots=True)
class LoggedBytes:
    timestamp: float | None
    data: bytes
    sent: bool | None


def read_rs485_log(path: Path) -> list[LoggedBytes]:
    """Lines of an RS485 capture: ``[time] [rx|tx] HEX`` (our log), bare hex, or raw Pylon ASCII ``~...``.

    Blank lines and ``#`` comments are skipped; any other line is an :class:`InputError` naming its number.
    """
    out: list[LoggedBytes] = []
    for no, item in iter_rs485_log(path):
        if isinstance(item, str):
            raise InputError(f"{path}:{no}: {item}")
        out.append(item)
    return out


def iter_rs485_log(path: Path) -> Iterator[tuple[int, LoggedBytes | str]]:
    """The records of an RS485 capture streamed line by line (bounded memory): (line number, record), or (line
    number, why the line is not one) for a bad line, so a reader can skip it and go on."""
    if not path.exists() or path.is_dir():  # a FIFO or a device is a capture too
        raise InputError(f"no such capture file: {path}")
    try:
        with path.open("r", encoding="ascii", errors="replace") as f:
            for no, line in enumerate(f, start=1):
                item = parse_rs485_line(line)
                if item is not None:
                    yield no, item
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def parse_rs485_line(line: str) -> LoggedBytes | str | None:
    """One line of an RS485 capture: the record, None for a blank or ``#`` line, or why it is not a record."""
    s = line.strip()
    if not s or s.startswith("#"):
        return None
    if s.startswith("~"):
        return LoggedBytes(None, (s + "\r").encode("ascii", errors="replace"), None)
    parts = s.split()
    ts: float | None = None
    sent: bool | None = None
    if len(parts) >= 2 and parts[1].lower() in ("rx", "tx"):
        try:
            ts = float(parts[0])
        except ValueError:
            return f"{parts[0]!r} is not a time in seconds"
        parts = parts[1:]
    if parts and parts[0].lower() in ("rx", "tx"):
        sent = parts[0].lower() == "tx"
        parts = parts[1:]
    try:
        data = bytes.fromhex("".join(parts))
    except ValueError:
        return f"not a hex line: {s[:60]!r}"
    if not data:
        return "no bytes on the line"
    return LoggedBytes(ts, data, sent)
