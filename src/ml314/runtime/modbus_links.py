"""Modbus RTU protocols (Growatt RS485) in ``ml314 run``: the battery served by its codec, the peer by pymodbus.

The battery side is the RS485 server every protocol uses, answering with the codec's Modbus rules (exceptions and
device identification as the Modbus specification says); every request counts as the inverter's keep-alive
through the same watch as every other link. The built-in inverter peer is pymodbus' client: pymodbus is
asyncio-only and the runner is threads, so the peer owns one event loop on its own thread and the runner talks to
it with thread-safe calls.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ml314.adapters.modbus_server import ModbusRtuPoller, parse_link
from ml314.adapters.serial_link import Rs485TrafficLog, TcpListener, open_serial
from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import InputError, TransportError
from ml314.protocols.base import Rs485Codec
from ml314.protocols.keepalive import KeepAliveWatch, LinkState, fresh_view
from ml314.runtime.rs485_links import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_CLIENTS, Rs485BatteryServer

__all__ = ["ModbusBatteryService", "ModbusInverterPeer", "is_register_codec"]

T = TypeVar("T")


def is_register_codec(codec: object) -> bool:
    """True for codecs the pymodbus edge can serve (a standard Modbus register map)."""
    return all(hasattr(codec, a) for a in ("registers", "decode_registers", "register_reads", "slave_address"))


class _LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5.0)
        if not self.loop.is_running():
            self.loop.close()


class ModbusBatteryService:
    """The battery's register map served on ``link`` (``tcp://HOST:PORT``, a device or a URL), framed by the codec.

    The battery side answers through the codec's own Modbus RTU rules (``protocols.growatt_modbus``,
    ``protocols.modbus_rtu``) on the same server as every other RS485 protocol, so an unknown function gets
    exception 01, a read of 0 or more than 125 registers exception 03, and 0x11 / 0x2B/0x0E name the product:
    pymodbus' server drops the first, answers the second with a malformed ``80 01`` and names itself in the third.
    pymodbus stays the built-in inverter peer (:class:`ModbusInverterPeer`), an independent client of that server.
    """

    def __init__(
        self,
        codec: Rs485Codec,
        status: Callable[[], BankStatus],
        link: str,
        log: Rs485TrafficLog | None = None,
        *,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
    ) -> None:
        assert is_register_codec(codec)
        self.codec = codec
        self.server = Rs485BatteryServer(codec, status, log, max_clients=max_clients, idle_timeout_s=idle_timeout_s)
        self._listener: TcpListener | None = None
        parsed = parse_link(link)
        tcp = parsed.tcp or _socket_url(parsed.serial or "")
        if tcp is not None:
            self._listener = TcpListener(*tcp)
            self.server.serve_listener(self._listener)
        else:
            device = parsed.serial or ""
            self.server.serve_device(lambda: open_serial(device, codec.info.baud))

    @property
    def watch(self) -> KeepAliveWatch:
        return self.server.watch

    @property
    def requests(self) -> int:
        return self.server.requests

    @property
    def heard(self) -> deque[bytes]:
        """The byte chunks received lately (the server's)."""
        return self.server.heard

    @property
    def address(self) -> tuple[str, int] | None:
        return self._listener.address if self._listener is not None else None

    def link_state(self) -> LinkState:
        return self.server.link_state()

    def health_snapshot(self) -> LinkHealthSnapshot:
        """The link's counters and open faults (the supervised server's)."""
        return self.server.health_snapshot()

    def close(self) -> None:
        self.server.close()
        if self._listener is not None:
            self._listener.close()


def _socket_url(spec: str) -> tuple[str, int] | None:
    """``socket://host:port`` served as a listener, as pymodbus' server did."""
    if not spec.lower().startswith("socket://"):
        return None
    parts = urlsplit(spec)
    if not parts.hostname or parts.port is None:
        raise InputError(f"link {spec!r} needs a host and a port, e.g. socket://127.0.0.1:5020")
    return parts.hostname, parts.port


class ModbusInverterPeer:
    """The built-in inverter polling the register map with pymodbus once a second."""

    def __init__(self, codec: Rs485Codec, link: str, interval_s: float = 1.0) -> None:
        assert is_register_codec(codec)
        self.codec = codec
        self.view = BatteryView()
        self.interval_s = interval_s
        self.latencies_s: deque[float] = deque(maxlen=100_000)
        self.last_response_s: float | None = None
        self.errors: deque[str] = deque(maxlen=20)
        self._loop = _LoopThread(f"modbus-peer-{codec.info.name}")
        self._task: asyncio.Future[None] | None = None

        async def connect() -> ModbusRtuPoller:  # pymodbus clients are made inside their running loop
            poller = ModbusRtuPoller(
                codec,  # type: ignore[arg-type]
                link,
                baud=codec.info.baud,
                timeout_s=max(codec.info.response_timeout_s, 0.5),
            )
            await poller.connect()
            return poller

        try:
            self._poller = self._loop.call(connect())
        except BaseException:
            self._loop.close()
            raise

    def current_view(self) -> BatteryView:
        """What the inverter acts on: its decoded view, or nothing once the battery has gone silent."""
        return fresh_view(self.view, self.last_response_s, time.monotonic())

    def poll_once(self) -> BatteryView:
        """One polling cycle from the caller's thread (tests, benchmarks)."""
        return self._loop.call(self._poll())

    async def _poll(self) -> BatteryView:
        t0 = time.perf_counter()
        view = await self._poller.poll()
        self.latencies_s.append(time.perf_counter() - t0)
        self.view = self.view.merge(view)
        self.last_response_s = time.monotonic()
        return self.view

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                await self._poll()
            except TransportError as exc:
                self.errors.append(str(exc))
            due += self.interval_s
            await asyncio.sleep(max(0.0, due - loop.time()))

    def start(self) -> None:
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop.loop)  # type: ignore[assignment]

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._loop.loop.call_soon_threadsafe(self._poller.close)
        self._loop.close()
