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
- ``GET /api/history week@5min, 100 clients every 10 s``: before ``ml314 run`` starts, its data dir's history
  (SQLite) is filled with a month (``--quick``: 8 days) of 16-module history ending now, as
  ``benchmarks/history.py`` builds it (1-min and 15-min tiers, the last half hour as raw seconds); then 100
  clients each ask for the last week of 8 bank fields at a 5-minute step (2016 rows, JSON) every 10 s, phases
  spread over the 10 s (a chart page re-reading its week), while the run appends its live seconds. Target
  p99 <= 200 ms.

Each phase runs ``--runs`` times (fresh clients each time); the row gives the median over the runs of p50 and p99
and the spread of p99 (min..max). Targets (issue 12): p99 <= 50 ms for the API and live updates, <= 200 ms for the
week of history.

    python benchmarks/web.py [--quick] [--json PATH] [--seconds S] [--runs N] [--clients N]
"""

from __future__ import annotations

import asyncio
import contextlib
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
HISTORY_TARGET_MS = 200.0
#: the bank fields a history chart reads (benchmarks/history.py BANK_FIELDS)
HISTORY_FIELDS = ("soc_pct", "voltage_v", "current_a", "power_w", "cvl_v", "ccl_a", "dcl_a", "peer_soc_pct")
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
        """One request; a connection the server closed while idle (keep-alive timeout) is opened again first."""
        if self.reader is None or self.reader.at_eof():
            await self.close()
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        match = _LENGTH.search(head)
        if match:
            body = await self.reader.readexactly(int(match.group(1)))
        elif b"chunked" in head.lower():
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            body = b"".join(parts)
        else:
            body = b""
        return int(head.split()[1]), body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[k]


async def _clients(n: int, one: Callable[[int], Awaitable[list[float]]]) -> list[float]:
    results = await asyncio.gather(*(one(i) for i in range(n)))
    return [x for r in results for x in r]


async def polling(
    host: str, port: int, path: str, *, n: int, seconds: float, period_s: float | None, expect: bytes
) -> tuple[list[float], int]:
    """Latencies (ms) of GET ``path`` from ``n`` clients for ``seconds``: each every ``period_s`` (phases spread
    over the period), or back to back (None). An answer that is not 200 starting with ``expect`` is an error."""
    end = time.monotonic() + seconds
    errors = 0

    async def one(i: int) -> list[float]:
        nonlocal errors
        client = HttpClient(host, port)
        await client.open()
        out: list[float] = []
        if period_s is not None:
            await asyncio.sleep(period_s * random.Random(i).random())
        try:
            while (now := time.monotonic()) < end:
                t0 = time.perf_counter()
                try:
                    status, body = await client.get(path)
                except (asyncio.IncompleteReadError, ConnectionError):  # closed while idle (keep-alive timeout)
                    await client.close()
                    await client.open()
                    t0 = time.perf_counter()
                    status, body = await client.get(path)
                out.append(1000.0 * (time.perf_counter() - t0))
                if status != 200 or not body.startswith(expect):
                    errors += 1
                if period_s is not None:
                    await asyncio.sleep(max(0.0, now + period_s - time.monotonic()))
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


def fill_history(data_dir: Path, days: float) -> str:
    """A month (``days``) of 16-module history ending now in the data dir's store, as benchmarks/history.py
    builds it; what was filled."""
    import history as history_bench  # noqa: PLC0415  (benchmarks/history.py)
    from ml314.storage.history import HistoryStore, history_url  # noqa: PLC0415

    url = history_url(None, data_dir)
    assert url is not None
    data_dir.mkdir(parents=True, exist_ok=True)
    history_bench.T_END = int(time.time()) // 300 * 300
    store = HistoryStore(url, writer=False)
    try:
        took = history_bench.fill_month(store, days, raw_hours=0.5)
    finally:
        store.close()
    return f"{days:g} days of 16 modules filled in {sum(took.values()):.0f} s"


def _row(
    metric: str, runs: list[list[float]], seconds: float, target_ms: float = TARGET_MS, **extra: Any
) -> dict[str, Any]:
    p50 = [_percentile(r, 50) for r in runs]
    p99 = [_percentile(r, 99) for r in runs]
    return {
        "metric": metric,
        "p50": statistics.median(p50),
        "p99": statistics.median(p99),
        "unit": "ms",
        "p99_min": min(p99),
        "p99_max": max(p99),
        "n": sum(len(r) for r in runs),
        "rps": statistics.median(len(r) / seconds for r in runs),
        "target": f"p99 <= {target_ms:g} ms",
        "ok": statistics.median(p99) <= target_ms,
        **extra,
    }


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
        filled = fill_history(Path(tmp) / "data", 8.0 if args.quick else 30.0)
        print(f"history: {filled}", file=sys.stderr)
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
            now = int(time.time())
            week = f"/api/history?from={now - 7 * 86400}&to={now}&step=5min&fields=" + ",".join(HISTORY_FIELDS)
            phases = (
                (f"GET /api/bank, {n} clients at 1 Hz", "/api/bank", 1.0, b'{"bank"', TARGET_MS),
                (f"GET /api/bank, {n} clients closed loop", "/api/bank", None, b'{"bank"', TARGET_MS),
                (f"GET /api/history week@5min, {n} clients every 10 s", week, 10.0, b'{"from"', HISTORY_TARGET_MS),
            )
            for metric, path, period, expect, target in phases:
                # the history phase lasts at least one period, so every client asks at least once
                length = max(seconds, period or 0.0)
                results = [
                    asyncio.run(polling(host, port, path, n=n, seconds=length, period_s=period, expect=expect))
                    for _ in range(runs)
                ]
                errors = sum(e for _, e in results)
                rows.append(_row(metric, [r for r, _ in results], length, target, note=f"{errors} errors"))
            ws_url = bank.url.replace("http://", "ws://") + "/api/live"
            ages = [asyncio.run(live_ages(ws_url, n, seconds)) for _ in range(runs)]
            rows.append(_row(f"/api/live age, {n} clients", ages, seconds, note="receipt - publication"))
            bank.stop()
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)",
          file=sys.stderr)  # fmt: skip
    finish(NAME, rows, COLUMNS, args.json)


if __name__ == "__main__":
    main()
