"""The surfaces' port on an in-process Runner: views are published by the run loop, requests wait for its next tick,
and nothing a surface does runs on the run loop's thread except the applying."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from ml314.runtime.run import RunConfig, Runner
from ml314.runtime.surface import (
    ConflictError,
    LiveView,
    NotFoundError,
    NotReadyError,
    PinRefusedError,
    PinRequiredError,
    Surface,
    SurfaceError,
)
from ml314.storage.data_dir import DataDir
from ml314.storage.parameter_store import load_parameters
from ml314.twin.frontpanel import DipSwitches


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Runner, Surface]]:
    data = DataDir(tmp_path / "data")
    data.identity()
    config = RunConfig(params=load_parameters(None), modules=2, speed=20.0, data_dir=data.path, http="off")
    runner = Runner(config, echo=lambda line: None)
    surface = Surface(runner, settings_path=tmp_path / "ml314.toml")
    with pytest.raises(NotReadyError):
        surface.view()  # not started: nothing to show yet
    runner.start()
    surface.on_tick()
    thread = threading.Thread(target=runner.run, name="run-loop")
    thread.start()
    try:
        yield runner, surface
    finally:
        runner.stop()
        thread.join()
        surface.drain()
        runner.close()


def _wait(future: Future[dict[str, object]]) -> dict[str, object]:
    return future.result()  # completed by the run loop's next tick


def test_views_are_immutable_snapshots_published_by_the_run_loop(running: tuple[Runner, Surface]) -> None:
    _, surface = running
    seen: list[tuple[LiveView, str]] = []
    done = threading.Event()

    def listener(view: LiveView) -> None:
        seen.append((view, threading.current_thread().name))
        if len(seen) >= 3:
            done.set()

    unsubscribe = surface.subscribe(listener)
    done.wait()
    unsubscribe()
    views = [v for v, _ in seen]
    assert {name for _, name in seen} == {"run-loop"}
    assert [v.seq for v in views] == list(range(views[0].seq, views[0].seq + len(views)))
    assert views[-1].t_s > views[0].t_s
    assert views[0].modules_total == 2 and len(views[0].panels) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        views[0].t_s = 0.0  # type: ignore[misc]
    assert surface.view().seq >= views[-1].seq


def test_requests_are_applied_at_the_next_tick(running: tuple[Runner, Surface]) -> None:
    _, surface = running
    before = surface.view().seq
    result = _wait(surface.set_breaker(2, False))
    assert result == {"module_id": 2, "closed": False}
    after = surface.view()
    assert after.seq > before and not after.panels[1].breaker_closed and after.panels[0].breaker_closed
    with pytest.raises(NotFoundError):
        surface.set_breaker(9, True)
    with pytest.raises(SurfaceError) as bad:
        surface.set_dip(1, (True,) * 3)
    assert bad.value.field == "switches"


def test_dip_switches_are_read_at_reset_only(running: tuple[Runner, Surface]) -> None:
    runner, surface = running
    nine = DipSwitches.from_id(9, termination=True)
    assert _wait(surface.set_dip(2, nine.positions))["id_at_reset"] == 9
    view = surface.view()
    assert view.panels[1].module_id == 2 and view.panels[1].dip_pending == nine.positions
    assert _wait(surface.press_reset(2)) == {"module_id": 9, "previous_id": 2, "dip_read": True}
    view = surface.view()
    assert view.panels[1].module_id == 9 and view.panels[1].dip == nine.positions
    assert view.modules[1].address == 9 and view.panels[1].dip_pending is None
    assert runner.live is not None and runner.live.linked is not None
    assert runner.live.linked.identities[1].module_id == 9
    with pytest.raises(NotFoundError):
        surface.module(2)
    # two modules with one ID: the API cannot tell them apart
    _wait(surface.set_dip(9, DipSwitches.from_id(1).positions))
    _wait(surface.press_reset(9))
    with pytest.raises(ConflictError):
        surface.module(1)


def test_protected_changes_need_the_device_pin(running: tuple[Runner, Surface], tmp_path: Path) -> None:
    _, surface = running
    with pytest.raises(PinRequiredError):
        surface.set_protocols(None, "CAN:P14", None)
    with pytest.raises(PinRefusedError) as wrong:
        surface.set_protocols("123", "CAN:P14", None)
    assert wrong.value.code == "pin_wrong" and wrong.value.retry_after_s == 0
    assert not (tmp_path / "ml314.toml").exists()


def test_requests_left_when_the_loop_stops_fail_cleanly(tmp_path: Path) -> None:
    config = RunConfig(params=load_parameters(None), modules=1, speed=20.0, http="off")
    runner = Runner(config, echo=lambda line: None)
    runner.start()
    surface = Surface(runner)
    try:
        future = surface.press_reset(1)  # the run loop never runs: nothing applies it
        surface.drain()
        with pytest.raises(NotReadyError):
            future.result()
        runner.stop()
        with pytest.raises(NotReadyError):
            surface.press_reset(1)
    finally:
        runner.close()
