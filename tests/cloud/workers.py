"""``ml314 cloud`` worker processes for the tests (and the benchmark), and waiting on the fleet store's rows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from tests.processes import OutputProcess

ML314 = (sys.executable, "-m", "ml314.cli.main")
READY = "ml314 cloud: storing"
T = TypeVar("T")


class CloudProcess(OutputProcess):
    """``ml314 cloud --mqtt URL --db URL --name NAME [args]``; stdout and stderr are read on threads."""

    def __init__(self, mqtt_url: str, db_url: str, name: str, *args: str, cwd: Path | None = None) -> None:
        http = () if "--http" in args else ("--http", "off")  # no app unless asked: workers never contend for a port
        cmd = [*ML314, "cloud", "--mqtt", mqtt_url, "--db", db_url, "--name", name, *http, *args]
        self.name = name
        super().__init__(cmd, cwd=cwd, what="ml314 cloud")

    def ready(self) -> CloudProcess:
        self.wait_line(READY)
        return self

    def kill(self) -> None:
        """SIGKILL: no batch finished, nothing acknowledged that was not stored."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        self.join_readers()
        return code


def wait_until(probe: Callable[[], T | None], what: str, *, alive: list[subprocess.Popen] = ()) -> T:
    """Poll ``probe`` until it returns something other than None; fails only if a process of ``alive`` ended."""
    while True:
        value = probe()
        if value is not None:
            return value
        for p in alive:
            if p.poll() is not None:
                raise AssertionError(f"a process ended (code {p.returncode}) while waiting for {what}")
        time.sleep(0.1)


def seqs_by_serial(engine: sa.Engine) -> dict[str, list[int]]:
    """Every stored sample's seq per serial (sorted; a duplicate would show twice)."""
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT serial, seq FROM fleet_bank_sample ORDER BY serial, seq")).all()
    out: dict[str, list[int]] = {}
    for serial, seq in rows:
        out.setdefault(serial, []).append(seq)
    return out


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text(sql)).scalar_one())
