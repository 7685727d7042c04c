"""``ml314 cloud`` worker processes for the tests (and the benchmark), and waiting on the fleet store's rows."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

ML314 = (sys.executable, "-m", "ml314.cli.main")
READY = "ml314 cloud: storing"
T = TypeVar("T")


class CloudProcess:
    """``ml314 cloud --mqtt URL --db URL --name NAME [args]``; stdout and stderr are read on threads."""

    def __init__(self, mqtt_url: str, db_url: str, name: str, *args: str, cwd: Path | None = None) -> None:
        http = () if "--http" in args else ("--http", "off")  # no app unless asked: workers never contend for a port
        cmd = [*ML314, "cloud", "--mqtt", mqtt_url, "--db", db_url, "--name", name, *http, *args]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_line(self, needle: str, *, errors: bool = False) -> str:
        """The first line (of stdout, or stderr with ``errors``) containing ``needle``; fails if the process ends
        first."""
        lines = self.errors if errors else self.lines
        with self._changed:
            while True:
                found = next((x for x in lines if needle in x), None)
                if found is not None:
                    return found
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._readers):
                    raise AssertionError(f"ml314 cloud ended before {needle!r}: {self.lines} {self.errors}")
                self._changed.wait(0.5)

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
        for t in self._readers:
            t.join(timeout=10)
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
