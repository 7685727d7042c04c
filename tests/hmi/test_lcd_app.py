"""``ml314 lcd`` (Textual) driven with ``App.run_test`` against a real ``ml314 run --http``: the pages, the PIN
flow (a wrong PIN refused by the device, the right one saves the protocol: "restart required"), wake and dim, and
one clear line for a server that is not there."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button

from ml314.hmi.lcd import DIM_AFTER_S, LcdPage
from ml314.hmi.lcd_app import LcdApp
from ml314.hmi.lcd_client import LcdClient
from ml314.storage.settings_store import load_selection
from tests.cli.test_simulate_cli import ml314
from tests.web.running import RunningBank


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBank]:
    with RunningBank(tmp_path_factory.mktemp("lcd-app"), "--modules", "2", "--quiet") as s:
        yield s


async def until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    """Let the app run until ``condition`` holds (no time limit: the condition decides)."""
    while not condition():
        await pilot.pause(0.02)


def page(app: LcdApp) -> LcdPage:
    return app.lcd_screen.page


def values(app: LcdApp) -> dict[str, str]:
    return {r.label: r.value for r in app.lcd_screen.rows}


async def keys(pilot: Pilot[None], *names: str) -> None:
    for name in names:
        await pilot.press(name)


async def pick(pilot: Pilot[None], app: LcdApp, protocol: str) -> None:
    button = next(b for b in app.query(Button) if b.name == f"pick:{protocol}")
    await pilot.click(button)


def test_pages_and_the_protocol_change_with_the_devices_pin(server: RunningBank) -> None:
    async def drive() -> None:
        app = LcdApp(LcdClient(server.url), 2)
        async with app.run_test(size=(100, 40)) as pilot:
            await until(pilot, lambda: app.data.module is not None)
            assert app.lcd_screen.dimmed  # dark at power on
            await pilot.click("#lcd")  # a touch wakes it
            await until(pilot, lambda: not app.lcd_screen.dimmed)
            main = values(app)
            assert page(app) is LcdPage.MAIN and main["Battery ID"] == "2"
            assert main["Battery SOC"].startswith("SOC: ") and main["Battery module voltage"].endswith("V")
            assert main["PROTOCOL"].startswith("CAN: ") and main["System time"][:2] == "20"

            await keys(pilot, "s", "v")
            assert page(app) is LcdPage.CELLS
            assert len([r for r in app.lcd_screen.rows if r.label.startswith("Cell")]) == 16
            assert {r.mark for r in app.lcd_screen.rows} >= {"max", "min"}
            await keys(pilot, "escape", "t")
            assert page(app) is LcdPage.TEMPERATURES and "MOSFET" in values(app)
            await keys(pilot, "escape")
            assert page(app) is LcdPage.SETTINGS
            await keys(pilot, "escape")  # Back on every page: settings -> main, PIN -> settings
            assert page(app) is LcdPage.MAIN
            await keys(pilot, "s")
            settings = next(b for b in app.query(Button) if b.name == "can")
            await pilot.click(settings)
            assert page(app) is LcdPage.PIN
            await keys(pilot, "escape")
            assert page(app) is LcdPage.SETTINGS
            settings = next(b for b in app.query(Button) if b.name == "can")
            await pilot.click(settings)  # the buttons are touch buttons
            assert page(app) is LcdPage.PIN

            wrong = "0" * len(server.pin) if server.pin != "0" * len(server.pin) else "1" * len(server.pin)
            await keys(pilot, *wrong, "enter")
            assert page(app) is LcdPage.PROTOCOLS
            await pick(pilot, app, "victron-can")
            await until(pilot, lambda: len(app.replies) == 1)
            assert not app.replies[0].accepted
            assert page(app) is LcdPage.PIN and "wrong technician PIN" in app.lcd_screen.notice
            assert not app.lcd_screen.restart_required

            await keys(pilot, *server.pin, "enter")
            await pick(pilot, app, "victron-can")
            await until(pilot, lambda: len(app.replies) == 2)
            assert app.replies[1].accepted, app.replies[1]
            assert "restart required" in app.lcd_screen.notice and app.lcd_screen.restart_required
            await keys(pilot, "escape")
            assert page(app) is LcdPage.MAIN
            assert values(app)["PROTOCOL"].endswith("-> P05-VCT (restart required)")

    asyncio.run(drive())
    assert load_selection(server.settings).can.name == "victron-can"  # saved for the next start


def test_dims_when_idle_and_the_first_key_only_wakes(server: RunningBank) -> None:
    now = [1_700_000_000.0]

    async def drive() -> None:
        app = LcdApp(LcdClient(server.url), 1, clock=lambda: now[0])
        async with app.run_test() as pilot:
            await until(pilot, lambda: app.data.module is not None)
            await keys(pilot, "space", "s")
            assert page(app) is LcdPage.SETTINGS and not app.lcd_screen.dimmed
            now[0] += DIM_AFTER_S
            polls = app.polls
            await until(pilot, lambda: app.polls > polls)  # the next poll redraws at the new time
            assert app.lcd_screen.dimmed and app.query_one("#lcd").has_class("dimmed")
            await keys(pilot, "v")  # would open the cells if the screen were lit
            assert not app.lcd_screen.dimmed and page(app) is LcdPage.MAIN

    asyncio.run(drive())


def test_a_missing_server_or_module_is_one_clear_line(server: RunningBank) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: nothing answers there
        r = ml314("lcd", "--url", f"http://127.0.0.1:{port}")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ml314: error: cannot reach ml314 run at http://127.0.0.1:{port} (")
    r = ml314("lcd", "--url", server.url, "--module", "9")
    assert r.returncode == 2 and r.stderr.strip() == f"ml314: error: no module 9 at {server.url} (modules: 1, 2)"


def test_the_client_reads_the_same_snapshots_as_the_api(server: RunningBank, tmp_path: Path) -> None:
    async def read() -> None:
        client = LcdClient(server.url)
        try:
            data = await client.fetch(1)
        finally:
            await client.close()
        assert data.bank is not None and data.module is not None and data.online
        assert data.module.address == 1 and len(data.module.cell_voltages_v) == 16
        assert data.bank.module_count == 2

    asyncio.run(read())
