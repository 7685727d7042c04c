"""The CAN link survives what killed its threads (issue 10): a frame with DLC 15 on python-can's ``serial``
interface over ``socket://``, the inverter closing the socket, and any exception from the bank's status.

The inverter is a real second process (``tests/peers/serial_can_inverter.py``) listening on a loopback port;
the battery connects to it as ``serial:socket://127.0.0.1:PORT``, as ``ml314 run --can`` does.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ml314.adapters.can_link import CanSpec, open_bus, parse_can_spec
from ml314.domain.faults import SystemFaultKind
from ml314.protocols.examples import worked_example
from ml314.protocols.keepalive import LinkState
from ml314.runtime.can_links import CanBatteryLink
from tests.peers.process import InverterProcess
from tests.runtime.test_can_links import codec, wait_for

ML314 = (sys.executable, "-m", "ml314.cli.main")


@contextmanager
def inverter() -> Iterator[InverterProcess]:
    peer = InverterProcess()
    try:
        yield peer
    finally:
        peer.close()


def serial_spec(port: int) -> CanSpec:
    return parse_can_spec(f"serial:socket://127.0.0.1:{port}")


def test_a_dlc_15_frame_is_counted_and_the_receiver_goes_on() -> None:
    status = worked_example(4)
    with inverter() as peer:
        spec = serial_spec(peer.port)
        battery = CanBatteryLink(codec("pylon-can"), open_bus(spec, 500_000), lambda: status)
        battery.start()
        try:
            assert peer.cmd("wait-connected 1") == "ok wait-connected"
            assert wait_for(lambda: battery.watch.frames_seen >= 2)  # keep-alives are heard
            peer.cmd("bad-dlc")
            assert wait_for(lambda: battery.health.snapshot().count(SystemFaultKind.LINK_BAD_FRAME) >= 1)
            seen = battery.watch.frames_seen
            assert wait_for(lambda: battery.watch.frames_seen >= seen + 2)  # the receiver lives on
            snap = battery.health.snapshot()
            assert not snap.lost
            assert any(f.kind is SystemFaultKind.LINK_BAD_FRAME for f in snap.faults)
            assert battery.link_state() is LinkState.OK
            assert battery.current_status().limits == status.limits  # no fall to zero limits
            rx = peer.rx()
            assert wait_for(lambda: peer.rx() > rx)  # and the sender too
        finally:
            battery.close()


def test_a_closed_socket_is_a_lost_link_reopened_with_backoff() -> None:
    status = worked_example(4)
    with inverter() as peer:
        spec = serial_spec(peer.port)
        battery = CanBatteryLink(
            codec("pylon-can"), open_bus(spec, 500_000), lambda: status, reopen=lambda: open_bus(spec, 500_000)
        )
        battery.start()
        try:
            assert peer.cmd("wait-connected 1") == "ok wait-connected"
            assert wait_for(lambda: battery.sent > 0)
            peer.cmd("drop")
            assert peer.cmd("wait-connected 2") == "ok wait-connected"  # the battery came back by itself
            assert wait_for(lambda: battery.health.reopens >= 1)
            snap = battery.health.snapshot()
            kinds = [e.kind for e in snap.events]
            assert SystemFaultKind.LINK_LOST in kinds and SystemFaultKind.LINK_REOPENED in kinds
            assert not snap.lost and snap.count(SystemFaultKind.LINK_LOST) >= 1
            sent = battery.sent
            assert wait_for(lambda: battery.sent > sent)  # the tx counter moves again
            seen = battery.watch.frames_seen
            assert wait_for(lambda: battery.watch.frames_seen > seen)  # and keep-alives are heard again
        finally:
            battery.close()


def test_a_link_with_no_way_to_reopen_reports_itself_lost() -> None:
    status = worked_example(1)
    with inverter() as peer:
        battery = CanBatteryLink(codec("pylon-can"), open_bus(serial_spec(peer.port), 500_000), lambda: status)
        battery.start()
        try:
            assert peer.cmd("wait-connected 1") == "ok wait-connected"
            peer.cmd("drop")
            assert wait_for(lambda: battery.health.snapshot().lost)
            snap = battery.health.snapshot()
            assert [f.kind for f in snap.faults][:1] == [SystemFaultKind.LINK_LOST]
            assert "link lost" in snap.brief()
        finally:
            battery.close()


def test_any_exception_from_the_status_is_counted_and_the_cycle_goes_on() -> None:
    status = worked_example(2)
    calls = [0]

    def flaky() -> object:
        calls[0] += 1
        if calls[0] % 2:
            raise RuntimeError("the snapshot is not there")
        return status

    spec = parse_can_spec("virtual:rt-supervised")
    battery = CanBatteryLink(codec("pylon-can"), open_bus(spec, 500_000), flaky)  # type: ignore[arg-type]
    battery.start()
    try:
        assert wait_for(lambda: battery.health.snapshot().count(SystemFaultKind.LINK_ERROR) >= 2)
        assert wait_for(lambda: battery.sent > 0)  # the other cycles went out
        assert all(t.is_alive() for t in battery.threads)
        assert dict(battery.health.snapshot().errors).get("link_error:RuntimeError", 0) >= 2
    finally:
        battery.close()


def test_ml314_run_survives_the_issues_cases_and_says_so(tmp_path: Path) -> None:
    """The reproduction of issue 10 against the real command."""
    with inverter() as peer:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ml314.cli.main",
                "run",
                "--can",
                f"serial:socket://127.0.0.1:{peer.port}",
                "--no-peer",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        try:
            assert peer.cmd("wait-connected 1") == "ok wait-connected"
            assert peer.cmd("wait-rx 20") == "ok wait-rx"
            peer.cmd("bad-dlc")
            peer.cmd("drop")
            assert peer.cmd("wait-connected 2") == "ok wait-connected"
            rx = peer.rx()
            assert peer.cmd(f"wait-rx {rx + 20}") == "ok wait-rx"  # the battery sends again after reconnecting
            stats = peer.stats()
            assert float(stats["ccl"]) > 0.0  # the limits it sends are the BMS's, not the zero of a dead link
        finally:
            run.terminate()
            out, _ = run.communicate()
    assert run.returncode == 0, out
    assert "Traceback" not in out
    link = next(line for line in out.splitlines() if line.strip().startswith("link CAN pylon-can"))
    assert "reopened 1" in link
    assert "link_bad_frame:ValueError=1" in link
    assert "link_lost:lost=1" in link


def test_a_burst_of_malformed_frames_is_counted_not_taken_for_a_lost_link() -> None:
    status = worked_example(2)
    with inverter() as peer:
        spec = serial_spec(peer.port)
        battery = CanBatteryLink(
            codec("pylon-can"), open_bus(spec, 500_000), lambda: status, reopen=lambda: open_bus(spec, 500_000)
        )
        battery.start()
        try:
            assert peer.cmd("wait-connected 1") == "ok wait-connected"
            peer.cmd("garbage 100")  # DLC 15, a wrong delimiter, stray bytes, DLC 9: 100 times in one write
            assert wait_for(lambda: battery.health.snapshot().count(SystemFaultKind.LINK_BAD_FRAME) >= 100)
            seen = battery.watch.frames_seen
            assert wait_for(lambda: battery.watch.frames_seen > seen)
            snap = battery.health.snapshot()
            assert snap.reopens == 0 and not snap.lost and snap.count(SystemFaultKind.LINK_LOST) == 0
        finally:
            battery.close()
