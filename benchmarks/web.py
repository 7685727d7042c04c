"""The web API under load: a real ``ml314 run --modules 16`` and 100 concurrent clients on loopback.

One ``ml314 run`` process (16 modules live, bank link, CAN with the built-in peer, its web application on a free
loopback port); the clients run in this process on asyncio with a minimal HTTP/1.1 keep-alive client (so the
clients' own cost stays small beside the server's: both share the machine's cores). Each phase is bounded in
count (100 clients) and time (``--seconds``):

- ``GET /api/bank, 100 clients at 1 Hz``: each client polls the bank once a second (a page refreshing), phases
  spread over the second; the latency of each request, connect excluded.
- ``GET /api/bank, 100 clients closed loop``: each client sends its next request when the last answer arrived
  (saturation: the latency is mostly queueing; ``rps`` says what the server sustained).
- ``/api/live age, 100 clients``: 100 WebSocket clients; the age of each update when it arrives: its receipt
  minus ``wall_s``, the wall-clock time the run loop published the view it carries (the first message, the view
  current when the client connected, is no update and is not counted).
- ``GET /api/history`` (one week at a 5-minute step, a month in the database): needs the history store, which is
  not in this branch yet: the row says so and carries no number.

Each phase runs ``--runs`` times (fresh clients each time); the row gives the median over the runs of p50 and p99
and the spread of p99 (min..max). Target (issue 12): p99 <= 50 ms for the API and live updates.

    python benchmarks/web.py [--quick] [--json PATH] [--seconds S] [--runs N] [--clients N]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import finish, parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the ml314 run driver of tests/web
from tests.web.running import RunningBank, wait_for
from websockets.asyncio.client import connect

NAME = "web"
COLUMNS = ("metric", "p50", "p99", "unit", "p99_min", "p99_max", "n", "rps", "target", "ok", "note")
TARGET_MS = 50.0
MODULES = 16
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
_WALL = re.compile(r'"wall_s":([0-9.eE+-]+)')


class HttpClient:
    """One keep-alive HTTP/1.1 connection; :meth:`get` returns the status and the body."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, path: str) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        match = _LENGTH.search(head)
        body = await self.reader.readexactly(int(match.group(1))) if match else b""
        return int(head.split()[1]), body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[k]


async def _clients(n: int, one: Callable[[int], Awaitable[list[float]]]) -> list[float]:
    results = await asyncio.gather(*(one(i) for i in range(n)))
    return [x for r in results for x in r]


async def bank_polling(host: str, port: int, n: int, seconds: float, closed_loop: bool) -> tuple[list[float], int]:
    """Latencies (ms) of GET /api/bank from ``n`` clients for ``seconds``: at 1 Hz each, or back to back."""
    end = time.monotonic() + seconds
    errors = 0

    async def one(i: int) -> list[float]:
        nonlocal errors
        client = HttpClient(host, port)
        await client.open()
        out: list[float] = []
        if not closed_loop:
            await asyncio.sleep(random.Random(i).random())  # phases spread over the second
        try:
            while (now := time.monotonic()) < end:
                t0 = time.perf_counter()
                status, body = await client.get("/api/bank")
                out.append(1000.0 * (time.perf_counter() - t0))
                if status != 200 or not body.startswith(b'{"bank"'):
                    errors += 1
                if not closed_loop:
                    await asyncio.sleep(max(0.0, now + 1.0 - time.monotonic()))
        finally:
            await client.close()
        return out

    return await _clients(n, one), errors


async def live_ages(url: str, n: int, seconds: float) -> list[float]:
    """Ages (ms) of the /api/live messages at ``n`` clients for ``seconds``."""
    end = time.monotonic() + seconds

    async def one(i: int) -> list[float]:
        del i
        out: list[float] = []
        async with connect(url, max_size=2**24, compression=None) as ws:
            await ws.recv()  # the view current at connect (up to a second old): not an update
            while time.monotonic() < end:
                try:
                    text = await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic()))
                except TimeoutError:
                    break
                now = time.time()
                match = _WALL.search(str(text)[:300])
                if match:
                    out.append(1000.0 * (now - float(match.group(1))))
        return out

    return await _clients(n, one)


def _row(metric: str, runs: list[list[float]], unit: str, seconds: float, **extra: Any) -> dict[str, Any]:
    p50 = [_percentile(r, 50) for r in runs]
    p99 = [_percentile(r, 99) for r in runs]
    row = {
        "metric": metric,
        "p50": statistics.median(p50),
        "p99": statistics.median(p99),
        "unit": unit,
        "p99_min": min(p99),
        "p99_max": max(p99),
        "n": sum(len(r) for r in runs),
        "rps": statistics.median(len(r) / seconds for r in runs),
        "target": f"p99 <= {TARGET_MS:g} {unit}",
        **extra,
    }
    row["ok"] = row["p99"] <= TARGET_MS
    return row


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=float, default=None, help="length of each phase (default 20 s, quick 6 s)")
    p.add_argument("--runs", type=int, default=None, help="repeats of each phase (default 3, quick 1)")
    p.add_argument("--clients", type=int, default=100, help="concurrent clients (default 100)")
    args = p.parse_args()
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    runs = args.runs or (1 if args.quick else 3)
    n = args.clients
    with tempfile.TemporaryDirectory(prefix="ml314-web-bench-") as tmp:
        env_http = os.environ.pop("ML314_HTTP", None)
        try:
            bank = RunningBank(Path(tmp), "--modules", str(MODULES), "--quiet")
        finally:
            if env_http is not None:
                os.environ["ML314_HTTP"] = env_http
        with bank:
            parts = urlsplit(bank.url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80

            async def online() -> int:
                client = HttpClient(host, port)
                await client.open()
                try:
                    return int(json.loads((await client.get("/api/bank"))[1])["modules_online"])
                finally:
                    await client.close()

            wait_for(lambda: True if asyncio.run(online()) == MODULES else None, "16 modules online", alive=bank)
            print(f"ml314 run: {MODULES} modules online at {bank.url}; {n} clients, {runs} x {seconds:g} s per phase",
                  file=sys.stderr)  # fmt: skip
            rows = []
            for metric, closed in (
                ("GET /api/bank, %d clients at 1 Hz", False),
                ("GET /api/bank, %d clients closed loop", True),
            ):
                results = [asyncio.run(bank_polling(host, port, n, seconds, closed)) for _ in range(runs)]
                errors = sum(e for _, e in results)
                rows.append(_row(metric % n, [r for r, _ in results], "ms", seconds, note=f"{errors} errors"))
            ws_url = bank.url.replace("http://", "ws://") + "/api/live"
            ages = [asyncio.run(live_ages(ws_url, n, seconds)) for _ in range(runs)]
            rows.append(_row(f"/api/live age, {n} clients", ages, "ms", seconds, note="receipt - publication"))
            rows.append(
                {
                    "metric": "GET /api/history one week at 5 min, a month stored",
                    "p50": None,
                    "p99": None,
                    "unit": "ms",
                    "target": "p99 <= 200 ms",
                    "ok": None,
                    "note": "TODO: MISSING - the history store (branch i12h) is not merged here; no number",
                }
            )
            bank.stop()
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)",
          file=sys.stderr)  # fmt: skip
    finish(NAME, rows, COLUMNS, args.json)


if __name__ == "__main__":
    main()
