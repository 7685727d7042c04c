"""The bank survives load (issue 10): 50 RS485 clients on loopback and a busy process on every core, and every
module stays online with the bank's limits unchanged; the bank link's timing allowance is measured."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ml314.adapters.serial_link import Rs485Spec
from ml314.bms.parameters import load_default_parameters
from ml314.domain.limits import ChargeLimits
from ml314.protocols.registry import resolve
from ml314.runtime.bank_link_runtime import SchedulingAllowance
from ml314.runtime.run import RunConfig, Runner

CLIENTS = Path(__file__).resolve().parents[1] / "peers" / "rs485_clients.py"
_HOG = "while True:\n    pass\n"  # busy until killed


def test_the_allowance_follows_what_it_measures() -> None:
    a = SchedulingAllowance(floor_s=0.01, ceiling_s=1.0)
    assert a.allowance_s() == 0.01  # nothing measured yet: a module's processing time
    a.observe(0.002)
    assert a.allowance_s() == 0.01
    a.observe(0.03)  # a late answer: twice the latest lateness
    assert a.allowance_s() == pytest.approx(0.06)
    a.missed()  # a timeout doubles it for the retry
    assert a.allowance_s() == pytest.approx(0.12)
    for _ in range(10):
        a.missed()
    assert a.allowance_s() == 1.0  # never past the ceiling


def settle(runner: Runner, modules: int) -> list[ChargeLimits]:
    """Wait until every module is online, the bank assembled and its limits settled (held: unchanged for 3 s), then
    sample the limits for 5 s without load.

    The published CCL/DCL are held against the current sensors' noise (system/limit_hold.py), so the samples
    hold one value."""
    live, loop = runner.live, runner.master_loop
    assert live is not None and loop is not None
    end = time.monotonic() + 600.0  # a guard against hanging, not a speed limit
    since = time.monotonic()
    last = live.status.limits
    while time.monotonic() < end:
        s = live.status
        if not (loop.master.assembled and s.module_count == modules and s.limits.ccl_a > 0) or s.limits != last:
            since = time.monotonic()  # not assembled yet, or the held limits still settling
            last = s.limits
        elif time.monotonic() - since >= 3.0:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the {modules}-module bank never assembled: {live.status.module_count}")
    samples = []
    t_end = time.monotonic() + 5.0
    while time.monotonic() < t_end:
        s = live.status
        assert s.module_count == modules
        samples.append(s.limits)
        time.sleep(0.05)
    return samples


@pytest.mark.parametrize("modules", [4, 16])
def test_every_module_stays_online_under_50_clients_and_a_busy_cpu(modules: int) -> None:
    config = RunConfig(
        params=load_default_parameters(),
        modules=modules,
        rs485_protocol=resolve("pylon-rs485"),
        rs485=Rs485Spec("tcp://127.0.0.1:0", ("127.0.0.1", 0)),
        peer=False,
        can_protocol=None,
    )
    runner = Runner(config, echo=lambda line: None)
    runner.start()
    worker = threading.Thread(target=runner.run, daemon=True)
    worker.start()
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        before = settle(runner, modules)
        live = runner.live
        assert live is not None and runner.listener is not None
        port = runner.listener.address[1]
        hogs = [subprocess.Popen([sys.executable, "-c", _HOG]) for _ in range(os.cpu_count() or 2)]
        clients = subprocess.Popen(
            [sys.executable, str(CLIENTS), "--port", str(port), "--clients", "50", "--requests", "200"],
            stdout=subprocess.PIPE,
            text=True,
        )
        seen: set[tuple[int, ChargeLimits]] = set()
        while clients.poll() is None:
            s = live.status
            seen.add((s.module_count, s.limits))
            time.sleep(0.02)
        out = clients.communicate()[0]
        assert '"answered"' in out
        assert {count for count, _ in seen} == {modules}, f"modules online under load: {sorted(seen, key=str)[:5]}"
        assert len(set(before)) == 1, f"the limits moved without load: {sorted(set(before), key=str)[:3]}"
        assert {lim for _, lim in seen} == set(before), (
            f"limits under load: {sorted({lim for _, lim in seen}, key=str)[:3]}"
        )
        master = runner.master_loop
        assert master is not None
        assert len(master.master.online()) == modules - 1
        assert runner.rs485_server is not None and runner.rs485_server.health_snapshot().refused > 0  # the cap
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        runner.stop()
        worker.join()
        runner.close()
