"""Load for the robustness benchmark: N concurrent RS485 (Pylon) clients on a TCP port, in their own process.

Each client connects, sends the inverter's polling requests in turn (valid frames) and reads each answer, until
it has sent ``--requests``; a connection the battery closes (over its client cap) is opened again after 20 ms.
Bounded by ``--limit-s``. Prints one JSON line: answered, timeouts, refused (connections closed on us).

    python tests/peers/rs485_clients.py --port PORT [--clients 50] [--requests 200] [--limit-s 60]
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time

from ml314.protocols.base import Rs485Codec
from ml314.protocols.registry import create, resolve


def client(port: int, requests: list[bytes], n: int, end: float, totals: dict[str, int], lock: threading.Lock) -> None:  # noqa: PLR0917
    codec = create(resolve("pylon-rs485"))
    assert isinstance(codec, Rs485Codec)
    sent = answered = timeouts = refused = 0
    sock: socket.socket | None = None
    while sent < n and time.monotonic() < end:
        if sock is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1.0)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                time.sleep(0.02)
                continue
        req = requests[sent % len(requests)]
        try:
            sock.sendall(req)
            sent += 1
            buf = bytearray()
            while codec.take_frame(buf, response=True) is None:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionResetError("closed")
                buf += data
            answered += 1
        except TimeoutError:
            timeouts += 1
        except OSError:
            refused += 1
            sock.close()
            sock = None
            time.sleep(0.02)
    if sock is not None:
        sock.close()
    with lock:
        totals["answered"] += answered
        totals["timeouts"] += timeouts
        totals["refused"] += refused
        totals["sent"] += sent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--limit-s", type=float, default=60.0)
    args = ap.parse_args()
    codec = create(resolve("pylon-rs485"))
    assert isinstance(codec, Rs485Codec)
    requests = list(codec.inverter_requests())
    end = time.monotonic() + args.limit_s
    totals = {"answered": 0, "timeouts": 0, "refused": 0, "sent": 0}
    lock = threading.Lock()
    threads = [
        threading.Thread(target=client, args=(args.port, requests, args.requests, end, totals, lock))
        for _ in range(args.clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(totals), flush=True)


if __name__ == "__main__":
    main()
