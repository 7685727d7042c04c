"""``/api/live`` on a real ``ml314 run``: one message per second with every module's values that change, the cells on
request; the ``--http`` option; a clean stop with clients connected."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ml314.domain.battery_status import ModuleStatus
from ml314.domain.snapshot_json import from_jsonable
from tests.cli.test_simulate_cli import ml314
from tests.web.running import ML314, RunningBank


def _ws(bank: RunningBank, query: str = "") -> str:
    return bank.url.replace("http://", "ws://") + "/api/live" + query


def _messages(ws: Any, n: int) -> list[dict[str, Any]]:
    return [json.loads(ws.recv()) for _ in range(n)]


@pytest.mark.long
def test_live_values_change_once_a_second_and_cells_come_on_request(tmp_path: Path) -> None:
    with RunningBank(tmp_path, "--modules", "2", "--quiet") as bank:
        with connect(_ws(bank)) as ws:
            msgs = _messages(ws, 4)
            seqs = [m["seq"] for m in msgs]
            assert seqs == sorted(seqs) and len(set(seqs)) == 4  # each a newer view
            assert msgs[-1]["t_s"] > msgs[0]["t_s"]
            for m in msgs:
                assert m["modules_total"] == 2 and len(m["modules"]) == 2 and "modules" not in m["bank"]
                assert all(x["module"]["cell_voltages_v"] == [] for x in m["modules"])
            # simulated seconds advance with the wall clock at 1x: messages arrive about once a second
            assert 2.0 <= msgs[-1]["t_s"] - msgs[0]["t_s"] <= 12.0
            # the values are live: a module's state of charge or voltage changes between the messages
            first = from_jsonable(ModuleStatus, msgs[0]["modules"][0]["module"])
            moved = False
            for m in [*msgs[1:], *_messages(ws, 30)]:
                now = from_jsonable(ModuleStatus, m["modules"][0]["module"])
                if (now.soc_pct, now.voltage_v, now.current_a) != (first.soc_pct, first.voltage_v, first.current_a):
                    moved = True
                    break
            assert moved
            ws.send(json.dumps({"cells": True}))  # subscribe to the cells
            while not (with_cells := json.loads(ws.recv()))["modules"][0]["module"]["cell_voltages_v"]:
                pass  # a message sent before the server read the request
            assert all(len(x["module"]["cell_voltages_v"]) == 16 for x in with_cells["modules"])
        with connect(_ws(bank, "?cells=1")) as ws:
            assert len(json.loads(ws.recv())["modules"][1]["module"]["cell_voltages_v"]) == 16
        # Ctrl-C with clients connected: the run stops cleanly, the clients see the close
        with connect(_ws(bank)) as ws:
            ws.recv()
            out = bank.stop()
            assert bank.proc.returncode == 0, bank.errors
            assert "stopped after" in out and not any("Traceback" in e for e in bank.errors), bank.errors
            closed = False
            try:
                while True:
                    ws.recv()  # the process has ended: the connection is closed either way
            except ConnectionClosed:
                closed = True
            assert closed


def test_http_off_and_bad_values_of_the_option(tmp_path: Path) -> None:
    off = ml314("run", "--http", "off", "--for", "1s", "--quiet", "--data-dir", tmp_path / "a")
    assert off.returncode == 0, off.stderr
    assert "web:" not in off.stdout
    bad = ml314("run", "--http", "localhost", "--for", "1s", "--data-dir", tmp_path / "b")
    assert bad.returncode != 0 and "--http 'localhost': HOST:PORT" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = ml314("run", "--http", f"127.0.0.1:{port}", "--for", "1s", "--data-dir", tmp_path / "c")
    assert busy.returncode != 0 and f"--http 127.0.0.1:{port}: cannot listen" in busy.stderr + busy.stdout
    assert "Traceback" not in busy.stderr


def test_the_option_is_read_from_the_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "ml314.toml"
    settings.write_text('[run]\nhttp = "127.0.0.1:0"\n')
    env = {k: v for k, v in os.environ.items() if k != "ML314_HTTP"}  # the option not given: the file decides
    r = subprocess.run(
        [*ML314, "run", "--config", str(settings), "--for", "1s", "--quiet", "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("web: http://127.0.0.1:")
