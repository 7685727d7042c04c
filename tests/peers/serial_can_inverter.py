"""A second process playing the inverter on python-can's ``serial`` interface over ``socket://``.

``ml314 run --can serial:socket://127.0.0.1:PORT`` connects to this process as a TCP client; this process listens
on PORT (printed as ``listening PORT``), speaks python-can's serial framing (0xAA, timestamp, DLC, ID, data,
0xBB), sends the protocol's inverter frames (the keep-alive) every second and counts and decodes what the battery
sends. Commands on stdin, one per line (each answered ``ok COMMAND`` on stdout once done):

* ``bad-dlc`` - one frame with DLC 15 (python-can's reader raises ValueError on it)
* ``garbage N`` - N malformed frames (bad DLC, bad delimiter, stray bytes) in one write
* ``flood N`` - N valid keep-alive frames as fast as the socket takes them
* ``drop`` - close the battery's connection (it must reconnect); listening goes on
* ``wait-connected N`` - wait until the battery has connected N times in all (a guard of 120 s against
  hanging: then ``gave-up wait-connected``)
* ``wait-rx N`` - wait until N frames have come from the battery in all
* ``stats`` - ``stats rx=N tx=N connections=N ccl=X dcl=X cvl=X modules=N``
* ``quit``

    python tests/peers/serial_can_inverter.py [--protocol pylon-can] [--port 0]
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable

from ml314.domain.battery_status import BatteryView
from ml314.protocols.base import CanCodec, CanFrame
from ml314.protocols.registry import create, resolve


def encode(frame: CanFrame, dlc: int | None = None) -> bytes:
    """One frame in python-can's serial framing."""
    ident = frame.arbitration_id | (0x80000000 if frame.is_extended_id else 0)
    n = len(frame.data) if dlc is None else dlc
    return b"\xaa" + struct.pack("<I", 0) + bytes([n]) + struct.pack("<I", ident) + frame.data + b"\xbb"


def decode_all(buf: bytearray) -> list[CanFrame]:
    """Whole frames at the front of ``buf`` (removed from it); stray bytes are skipped."""
    out = []
    while buf:
        if buf[0] != 0xAA:
            del buf[0]
            continue
        if len(buf) < 10:
            break
        dlc = buf[5]
        if dlc > 8:
            del buf[0]
            continue
        if len(buf) < 11 + dlc:
            break
        ident = struct.unpack("<I", bytes(buf[6:10]))[0]
        data = bytes(buf[10 : 10 + dlc])
        ok = buf[10 + dlc] == 0xBB
        del buf[: 11 + dlc]
        if ok:
            out.append(CanFrame(ident & 0x1FFFFFFF, data, bool(ident & 0x80000000)))
    return out


class Peer:
    def __init__(self, codec: CanCodec, port: int) -> None:
        self.codec = codec
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.lock = threading.Lock()
        self.view = BatteryView()
        self.rx = 0
        self.tx = 0
        self.connections = 0
        self.stop = threading.Event()

    def accept_loop(self) -> None:
        while not self.stop.is_set():
            conn, _ = self.server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conn = conn
                self.connections += 1
            threading.Thread(target=self.read_loop, args=(conn,), daemon=True).start()

    def read_loop(self, conn: socket.socket) -> None:
        buf = bytearray()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            for f in decode_all(buf):
                self.rx += 1
                try:
                    self.view = self.view.merge(self.codec.decode(f))
                except Exception:
                    continue

    def write(self, data: bytes) -> bool:
        with self.lock:
            conn = self.conn
        if conn is None:
            return False
        try:
            conn.sendall(data)
        except OSError:
            return False
        return True

    def keepalive_loop(self) -> None:
        while not self.stop.wait(1.0):
            for f in self.codec.inverter_cycle(self.view):
                if self.write(encode(f)):
                    self.tx += 1

    def drop(self) -> None:
        with self.lock:
            conn, self.conn = self.conn, None
        if conn is not None:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def keepalive_frame(self) -> CanFrame:
        return self.codec.inverter_cycle(self.view)[0]

    def command(self, line: str) -> str | None:
        word, _, arg = line.strip().partition(" ")
        if word == "bad-dlc":
            f = self.keepalive_frame()
            self.write(encode(f, dlc=15))
        elif word == "garbage":
            f = self.keepalive_frame()
            bad = encode(f, dlc=15) + encode(f)[:-1] + b"\x00" + b"\x13\x37\xaa" + encode(f, dlc=9)
            self.write(bad * int(arg or 1))
        elif word == "flood":
            one = encode(self.keepalive_frame())
            n = int(arg or 1)
            for i in range(0, n, 500):
                self.write(one * min(500, n - i))
            self.tx += n
        elif word == "wait-connected":
            if not _wait(lambda: self.connections >= int(arg or 1)):
                return f"gave-up {word}"
        elif word == "wait-rx":
            if not _wait(lambda: self.rx >= int(arg or 1)):
                return f"gave-up {word}"
        elif word == "drop":
            self.drop()
        elif word == "stats":
            lim = self.view.limits()
            lims = "ccl=- dcl=- cvl=-" if lim is None else f"ccl={lim.ccl_a} dcl={lim.dcl_a} cvl={lim.cvl_v}"
            return f"stats rx={self.rx} tx={self.tx} connections={self.connections} {lims}"
        elif word == "quit":
            return None
        return f"ok {word}"


def _wait(condition: Callable[[], bool], guard_s: float = 120.0) -> bool:
    end = time.monotonic() + guard_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="pylon-can")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    codec = create(resolve(args.protocol))
    assert isinstance(codec, CanCodec)
    peer = Peer(codec, args.port)
    threading.Thread(target=peer.accept_loop, daemon=True).start()
    threading.Thread(target=peer.keepalive_loop, daemon=True).start()
    print(f"listening {peer.port}", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = peer.command(line)
        if answer is None:
            break
        print(answer, flush=True)
    peer.stop.set()
    time.sleep(0)


if __name__ == "__main__":
    main()
