from __future__ import annotations

from ml314.domain.battery_status import AlarmKind
from ml314.protocols.examples import worked_example
from ml314.protocols.keepalive import KeepAliveWatch, LinkState, safe_status


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
