"""Battery and inverter peer on two python-can virtual Bus objects: real threads, real frames, real timing."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import can

from ml314.adapters.can_link import CanTrafficLog, open_bus, parse_can_spec, read_can_log
from ml314.domain.battery_status import AlarmKind
from ml314.protocols.base import CanCodec
from ml314.protocols.examples import worked_example
from ml314.protocols.keepalive import LinkState
from ml314.protocols.registry import create, resolve
from ml314.runtime.can_links import CanBatteryLink, CanInverterPeer


def wait_for(condition: Callable[[], bool], limit_s: float = 30.0) -> bool:
    """Poll ``condition``; a guard against hanging, not a timing assertion."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def codec(name: str) -> CanCodec:
    c = create(resolve(name))
    assert isinstance(c, CanCodec)
    return c


def pair(name: str, channel: str, status_n: int = 16, log: CanTrafficLog | None = None):  # type: ignore[no-untyped-def]
    spec = parse_can_spec(f"virtual:{channel}")
    status = worked_example(status_n)
    battery = CanBatteryLink(codec(name), open_bus(spec, 500_000), lambda: status, log)
    peer = CanInverterPeer(codec(name), open_bus(spec, 500_000), log)
    return battery, peer, status


def test_a_sixteen_module_bank_reaches_the_peer_over_pylon_can(tmp_path: Path) -> None:
    log = CanTrafficLog(tmp_path / "can.log")
    battery, peer, _status = pair("pylon-can", "rt-pylon", log=log)
    battery.start()
    peer.start()
    try:

        def complete() -> bool:  # the cycle's frames arrive one by one: wait for the last one too (0x379)
            v = peer.view
            return v.limits() is not None and v.module_count is not None and v.installed_capacity_ah is not None

        assert wait_for(complete)
        v = peer.current_view()
        lim = v.limits()
        assert lim is not None
        assert (lim.cvl_v, lim.ccl_a, lim.dcl_a) == (56.8, 2400.0, 3200.0)
        assert v.module_count == 16
        assert v.installed_capacity_ah == 5024.0
        assert abs(v.current_a - (-196.8)) < 0.06  # type: ignore[operator]
        assert wait_for(lambda: battery.link_state() is LinkState.OK and battery.watch.frames_seen > 0)
    finally:
        peer.close()
        battery.close()
        log.close()
    frames = list(read_can_log(tmp_path / "can.log"))
    ids_sent = {f.frame.arbitration_id for f in frames if not f.received}
    assert {0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E, 0x305} <= ids_sent  # battery and peer both log


def test_growatt_answers_only_when_asked() -> None:
    spec = parse_can_spec("virtual:rt-growatt")
    status = worked_example(2)
    battery = CanBatteryLink(codec("growatt-can"), open_bus(spec, 500_000), lambda: status)
    listener = open_bus(spec, 500_000)
    battery.start()
    try:
        assert listener.recv(1.5) is None  # request-driven: nothing until the inverter's 0x301
        peer = CanInverterPeer(codec("growatt-can"), open_bus(spec, 500_000))
        peer.start()
        try:
            # the answer's frames arrive one by one: wait for the last of them too
            assert wait_for(lambda: peer.view.limits() is not None and peer.view.soc_pct is not None)
            assert peer.view.soc_pct == 50.0
        finally:
            peer.close()
    finally:
        battery.close()
        listener.shutdown()


def test_losing_the_inverter_raises_the_alarm_and_the_timeout_brings_safe_limits() -> None:
    spec = parse_can_spec("virtual:rt-lost")
    status = worked_example(1)
    c = codec("pylon-can")
    c.info = replace(c.info, keepalive_timeout_s=1.0)  # a short protocol timeout for the test
    battery = CanBatteryLink(c, open_bus(spec, 500_000), lambda: status)
    battery.watch.alarm_after_s = 0.3
    battery.watch.timeout_s = 1.0
    watcher = CanInverterPeer(codec("pylon-can"), open_bus(spec, 500_000))  # listens only, never sends 0x305
    battery.start()
    try:
        assert wait_for(lambda: battery.link_state() is LinkState.TIMED_OUT)
        sent = battery.current_status()
        assert AlarmKind.INVERTER_COMMUNICATION in sent.alarms
        assert sent.limits.ccl_a == 0.0 and sent.limits.dcl_a == 0.0
        # what goes on the wire says so too
        watcher.start_thread(watcher._receive_step, "rx-only")
        assert wait_for(lambda: watcher.view.ccl_a == 0.0 and watcher.view.charge_enable is False)
        # the first keep-alive restores the BMS's limits
        keepalive = open_bus(spec, 500_000)
        keepalive.send(can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=False))
        assert wait_for(lambda: battery.link_state() is LinkState.OK)
        assert battery.current_status().limits == status.limits
        keepalive.shutdown()
    finally:
        watcher.close()
        battery.close()


def test_the_cycle_keeps_its_period() -> None:
    battery, peer, _ = pair("pylon-can", "rt-period", status_n=1)
    battery.start()
    try:
        assert wait_for(lambda: len(battery.cycle_starts) >= 4, 8.0)
    finally:
        battery.close()
        peer.close()
    starts = list(battery.cycle_starts)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 0.9 < statistics.median(gaps) < 1.1, gaps  # the schedule is 1 s, not a busy loop or a stall
