"""A CAN bus between processes: a TCP hub every node joins as ``--can serial:socket://127.0.0.1:PORT`` (python-can's
``serial`` framing over pyserial's ``socket://``, as the other CAN tests' peers speak it). Each whole frame one
node sends reaches every other node, never its sender, as on a real bus. It runs on threads of the test process;
the nodes are real processes (``ml314 run`` as the battery, ``ml314 monitor`` as the PC)."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.peers.serial_can_inverter import decode_all, encode


class CanHub:
    """Listening on loopback (:attr:`port`); :attr:`frames` counts what it relayed."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.frames = 0
        self._nodes: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="can-hub", daemon=True).start()

    @property
    def channel(self) -> str:
        return f"serial:socket://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._nodes.append(conn)
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        buf = bytearray()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            for frame in decode_all(buf):
                wire = encode(frame)
                with self._lock:  # one frame at a time to each node: never two senders' bytes interleaved
                    self.frames += 1
                    for node in self._nodes:
                        if node is not conn:
                            with contextlib.suppress(OSError):
                                node.sendall(wire)
        with self._lock:
            if conn in self._nodes:
                self._nodes.remove(conn)
        conn.close()

    def close(self) -> None:
        self._closed.set()
        self.server.close()
        with self._lock:
            nodes, self._nodes = self._nodes, []
        for n in nodes:
            with contextlib.suppress(OSError):
                n.shutdown(socket.SHUT_RDWR)
            n.close()
