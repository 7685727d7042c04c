from __future__ import annotations

from ml314.domain.battery_status import AlarmKind, BatteryView
from ml314.protocols.examples import worked_example
from ml314.protocols.keepalive import PEER_STALE_S, KeepAliveWatch, LinkState, fresh_view, safe_status, watch_for
from ml314.protocols.registry import info, resolve


def test_silence_raises_the_alarm_then_brings_safe_limits() -> None:
    watch = KeepAliveWatch(alarm_after_s=5.0, timeout_s=60.0, last_seen_s=0.0)
    status = worked_example(2)
    assert watch.state(4.0) is LinkState.OK
    assert watch.apply(status, 4.0) is status
    lost = watch.apply(status, 6.0)
    assert watch.state(6.0) is LinkState.LOST
    assert AlarmKind.INVERTER_COMMUNICATION in lost.alarms
    assert lost.limits == status.limits
    timed_out = watch.apply(status, 61.0)
    assert watch.state(61.0) is LinkState.TIMED_OUT
    assert timed_out.limits.ccl_a == 0.0 and timed_out.limits.dcl_a == 0.0
    assert not timed_out.charge_enable and not timed_out.discharge_enable
    assert timed_out.limits.cvl_v == status.limits.cvl_v


def test_a_keep_alive_restores_the_bms_limits() -> None:
    watch = KeepAliveWatch(alarm_after_s=5.0, timeout_s=60.0, last_seen_s=0.0)
    watch.seen(100.0)
    assert watch.state(101.0) is LinkState.OK
    assert watch.frames_seen == 1
    assert watch.apply(worked_example(1), 101.0) == worked_example(1)


def test_safe_status_keeps_voltage_limits() -> None:
    s = safe_status(worked_example(1))
    assert (s.limits.cvl_v, s.limits.dvl_v) == (56.8, 48.0)


def test_the_watch_of_a_link_and_the_peers_stale_view() -> None:
    watch = watch_for(info(resolve("pylon-can")), 100.0)
    assert (watch.alarm_after_s, watch.last_seen_s) == (5.0, 100.0)
    assert watch_for(info(resolve("sma-can")), 0.0).timeout_s == 60.0
    view = BatteryView(soc_pct=50.0)
    assert fresh_view(view, 10.0, 10.0 + PEER_STALE_S) is view
    assert fresh_view(view, 10.0, 10.5 + PEER_STALE_S) == BatteryView()
    assert fresh_view(view, None, 0.0) == BatteryView()
