"""Modbus RTU protocols (Growatt RS485) through pymodbus in ``ml314 run``: server and poller on an asyncio loop.

pymodbus is asyncio-only; the runner is threads. Each service owns one event loop on its own thread, so the
pymodbus server (the battery) and client (the built-in inverter peer) run as they are meant to, and the runner
talks to them with thread-safe calls. Every register read of the server counts as a request and as the inverter's
keep-alive; the status it serves goes through the same keep-alive watch as every other link.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ml314.adapters.modbus_server import ModbusRtuPoller, ModbusRtuServer
from ml314.adapters.serial_link import Rs485TrafficLog
from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.protocols.base import Rs485Codec
from ml314.protocols.keepalive import LinkState, fresh_view, watch_for
from ml314.runtime.supervision import LinkHealth

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
    """The battery's register map served by pymodbus on ``link`` (``tcp://HOST:PORT``, a device or a URL)."""

    def __init__(
        self, codec: Rs485Codec, status: Callable[[], BankStatus], link: str, log: Rs485TrafficLog | None = None
    ) -> None:
        assert is_register_codec(codec)
        self.codec = codec
        self._status = status
        self.watch = watch_for(codec.info, time.monotonic())
        self.requests = 0
        self.health = LinkHealth(f"Modbus {codec.info.name}")
        self._loop = _LoopThread(f"modbus-{codec.info.name}")
        trace = None if log is None else (lambda data, sent: log.record(data, sent=sent))
        self.server = ModbusRtuServer(
            codec,  # type: ignore[arg-type]
            self._serve_status,
            link,
            baud=codec.info.baud,
            trace=trace,
        )
        try:
            self._loop.call(self.server.start())
        except BaseException:
            self._loop.close()
            raise

    def _serve_status(self) -> BankStatus:
        now = time.monotonic()
        self.requests += 1
        self.health.frame_in()
        self.watch.seen(now)
        return self.watch.apply(self._status(), now)

    def health_snapshot(self) -> LinkHealthSnapshot:
        return self.health.snapshot()

    @property
    def address(self) -> tuple[str, int] | None:
        return self.server.address

    def link_state(self) -> LinkState:
        return self.watch.state(time.monotonic())

    def close(self) -> None:
        try:
            self._loop.call(self.server.stop(), timeout_s=5.0)
        finally:
            self._loop.close()


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
        self.health = LinkHealth(f"Modbus peer {codec.info.name}")
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
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of one poll: counted, the next one runs on schedule
                self.errors.append(str(exc))
                self.health.exception(exc)
            due += self.interval_s
            await asyncio.sleep(max(0.0, due - loop.time()))

    def health_snapshot(self) -> LinkHealthSnapshot:
        return self.health.snapshot()

    def start(self) -> None:
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop.loop)  # type: ignore[assignment]

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._loop.loop.call_soon_threadsafe(self._poller.close)
        self._loop.close()
