"""``Monitor`` in process against a real Pylon RS485 battery server on loopback TCP: it finds every pack, a pack
that stops answering goes offline (the view, the faults and the event log say so) and comes back, and what the
external battery cannot do is a typed refusal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TypeVar

import pytest

from ml314.adapters.serial_link import TcpListener
from ml314.domain.battery_status import AlarmKind, BankStatus
from ml314.domain.faults import SystemFaultKind
from ml314.protocols.examples import worked_example
from ml314.protocols.pylon_rs485 import Codec
from ml314.protocols.registry import resolve
from ml314.runtime.monitor import Monitor, MonitorConfig
from ml314.runtime.rs485_links import Rs485BatteryServer
from ml314.runtime.surface import ConflictError, LiveView, NotReadyError

T = TypeVar("T")


class Battery:
    """A Pylon RS485 server whose bank the test changes."""

    def __init__(self, modules: int) -> None:
        self.bank: BankStatus = worked_example(modules)
        self.listener = TcpListener("127.0.0.1", 0)
        self.server = Rs485BatteryServer(Codec(), lambda: self.bank)
        self.server.serve_listener(self.listener)
        self.url = f"tcp://127.0.0.1:{self.listener.address[1]}"

    def close(self) -> None:
        self.server.close()
        self.listener.close()


@pytest.fixture
def battery() -> Iterator[Battery]:
    b = Battery(3)
    yield b
    b.close()


def until(monitor: Monitor, check: Callable[[LiveView], T | None]) -> T:
    """Tick the monitor until ``check`` of its latest view holds (the poller runs on its own thread)."""
    while True:
        monitor.tick()
        try:
            found = check(monitor.surface.view())
        except NotReadyError:
            found = None
        if found is not None:
            return found
        time.sleep(0.05)


def test_a_pack_that_stops_answering_goes_offline_and_comes_back(battery: Battery) -> None:
    config = MonitorConfig(
        protocol=resolve("pylon-rs485"), rs485=battery.url, addresses=(2, 3, 4, 5), interval_s=0.05,
        response_timeout_s=0.2, misses_offline=2, db="off",
    )  # fmt: skip
    monitor = Monitor(config, echo=lambda line: None)
    with pytest.raises(NotReadyError, match="no battery has answered yet"):
        monitor.surface.view()
    monitor.start()
    try:
        view = until(monitor, lambda v: v if v.modules_online == 3 and all(m.serial for m in v.modules) else None)
        assert [p.module_id for p in view.panels] == [1, 2, 3]
        assert view.bank.soc_pct == pytest.approx(50.0, abs=0.01)
        assert view.modules[2].serial == battery.bank.modules[2].serial
        assert view.rs485_protocol == "pylon-rs485"

        battery.bank = replace(battery.bank, modules=battery.bank.modules[:2])  # the third pack falls silent
        view = until(monitor, lambda v: v if not v.panels[2].online else None)
        assert view.panels[2].link_state == "offline" and view.bank.module_count == 2
        lost_fault = next(f for f in view.faults if f.kind is SystemFaultKind.MODULE_LOST)
        assert (
            lost_fault.module_id == 3 and "ADR 4, last seen" in lost_fault.details and "timeouts" in lost_fault.details
        )
        lost = monitor.packs()[2]
        assert lost.misses >= 2 and lost.last_seen_s is not None and lost.last_seen_s < time.time()

        battery.bank = worked_example(3)
        view = until(monitor, lambda v: v if v.panels[2].online else None)
        assert view.bank.module_count == 3 and view.panels[2].link_state == "online"
        keys = [e.key for e in view.events if e.module_id == 3]
        assert keys == ["monitor.found", "monitor.lost", "monitor.back"]

        tripped = replace(battery.bank.modules[1], protections=frozenset({AlarmKind.CELL_UNDERVOLTAGE}))
        battery.bank = replace(battery.bank, modules=(battery.bank.modules[0], tripped, battery.bank.modules[2]))
        view = until(monitor, lambda v: v if v.modules[1].protections else None)
        assert view.modules[1].state == "protection" and view.panels[1].led_row.mode.name == "DISCHARGE_PROTECTION"
        trip = [e for e in view.events if e.module_id == 2 and e.kind == "trip"]
        assert [e.key for e in trip] == ["monitor.cell_undervoltage"]

        with pytest.raises(ConflictError, match="RESET: not available") as refused:
            monitor.surface.press_reset(1)
        assert refused.value.code == "not_available"
        with pytest.raises(ConflictError):
            monitor.surface.parameters()
    finally:
        monitor.close()


def test_no_pack_answering_is_said_and_the_monitor_keeps_looking() -> None:
    listener = TcpListener("127.0.0.1", 0)  # accepts, never answers
    accepted: list[object] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept(30.0)), daemon=True)
    thread.start()
    config = MonitorConfig(
        protocol=resolve("pylon-rs485"), rs485=f"tcp://127.0.0.1:{listener.address[1]}", addresses=(2, 3),
        interval_s=0.05, response_timeout_s=0.05, db="off",
    )  # fmt: skip
    monitor = Monitor(config, echo=lambda line: None)
    monitor.start()
    try:
        while monitor.poller is None or monitor.poller.cycles < 2:
            time.sleep(0.05)
        monitor.tick()
        with pytest.raises(NotReadyError, match=r"no pack answers at ADR 2\.\.3"):
            monitor.surface.view()
        assert "still looking" in monitor.status_line()
    finally:
        monitor.close()
        listener.close()
