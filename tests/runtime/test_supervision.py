"""The ledger of a link: errors counted per kind, logged once per kind with a rate limit; lost and reopened as
faults; a supervised step that raises is counted and stepped again."""

from __future__ import annotations

import logging
import threading

import pytest

from ml314.domain.faults import SystemFaultKind
from ml314.runtime.supervision import Backoff, LinkHealth, start_supervised
from tests.runtime.test_can_links import wait_for


def test_errors_are_counted_every_time_and_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    health = LinkHealth("CAN test", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="ml314.links"):
        for _ in range(1000):
            health.error(SystemFaultKind.LINK_BAD_FRAME, "DLC 15", reason="ValueError")
        health.error(SystemFaultKind.LINK_ERROR, "driver hiccup", reason="CanError")
        now[0] = 61.0
        health.error(SystemFaultKind.LINK_BAD_FRAME, "DLC 15", reason="ValueError")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "(1000 more since)" in lines[-1]
    snap = health.snapshot()
    assert dict(snap.errors) == {"link_bad_frame:ValueError": 1001, "link_error:CanError": 1}
    assert snap.count(SystemFaultKind.LINK_BAD_FRAME) == 1001 and snap.error_count == 1002


def test_lost_and_reopened_open_and_close_a_fault() -> None:
    now = [5.0]
    health = LinkHealth("RS485 test", clock=lambda: now[0])
    assert health.lost("socket disconnected") is True
    assert health.lost("socket disconnected") is False  # one fault per loss, however many threads see it
    snap = health.snapshot()
    assert snap.lost and [f.kind for f in snap.faults] == [SystemFaultKind.LINK_LOST]
    assert snap.faults[0].link == "RS485 test" and snap.faults[0].t_s == 5.0
    health.reopened("socket://127.0.0.1:1")
    snap = health.snapshot()
    assert not snap.lost and snap.reopens == 1 and snap.faults == ()
    assert [e.kind for e in snap.events] == [SystemFaultKind.LINK_LOST, SystemFaultKind.LINK_REOPENED]
    assert snap.as_dict()["reopens"] == 1


def test_backoff_doubles_to_its_ceiling_and_resets() -> None:
    b = Backoff(0.1, 0.5)
    assert [b.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next() == 0.1


def test_a_supervised_step_that_raises_steps_again() -> None:
    health = LinkHealth("bank link test")
    stop = threading.Event()
    steps = [0]

    def step() -> None:
        steps[0] += 1
        if steps[0] <= 3:
            raise KeyError("a bug")

    thread = start_supervised(step, stop, health, "test-step")
    try:
        assert wait_for(lambda: steps[0] > 10)
        assert thread.is_alive()
        assert dict(health.snapshot().errors) == {"link_error:KeyError": 3}
    finally:
        stop.set()
        thread.join()
