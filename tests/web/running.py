"""A real ``ml314 run`` with its web application on a free loopback port, for the web tests and the benchmark.

:class:`RunningBank` starts the process with ``--http 127.0.0.1:0`` and its own data dir and settings file,
reads its output on a thread (so a full pipe never stalls it), and knows the URL it printed first and the device's
PIN from its label page (printed at the first start only: "" when started again on the same data dir).
:meth:`RunningBank.stop` ends it as Ctrl-C does and returns everything it printed.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from tests.processes import OutputProcess

ML314 = (sys.executable, "-m", "ml314.cli.main")
URL = re.compile(r"^web: (http://\S+)")
PIN = re.compile(r"technician PIN\s+(\d+)")
READY = "ml314 run:"

T = TypeVar("T")


class RunningBank(OutputProcess):
    """``ml314 run`` in a subprocess; ``args`` are added to ``--http 127.0.0.1:0 --data-dir DIR --config FILE``."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.data_dir = tmp / "data"
        self.settings = tmp / "ml314.toml"
        again = self.data_dir.exists()  # a restart on the same data dir: the label (with the PIN) is not shown again
        cmd = [*ML314, "run", "--http", "127.0.0.1:0", "--data-dir", str(self.data_dir), "--config", str(self.settings)]
        super().__init__([*cmd, *args], cwd=tmp, what="ml314 run")
        try:
            self.wait_line(READY)
            first = URL.match(self.lines[0])
            assert first, f"the URL is not the first line: {self.lines[:3]}"
            pin = next((m.group(1) for line in self.lines if (m := PIN.search(line))), None)
            assert pin is not None or again, self.lines
        except BaseException:
            self.stop()  # a failed start leaves no process behind
            raise
        self.url = first.group(1)
        self.pin = pin or ""  # "" after a restart

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def stop(self) -> str:
        """SIGINT (Ctrl-C), wait for the end; everything printed on stdout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # pragma: no cover - reported by the caller's assertion
            self.proc.kill()
            self.proc.wait()
        self.join_readers()
        return "\n".join(self.lines)

    def __enter__(self) -> RunningBank:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()


def wait_for(probe: Callable[[], T | None], what: str, *, alive: RunningBank | None = None) -> T:
    """Call ``probe`` until it returns something other than None (the condition holds); fails only if the
    process under test ended meanwhile."""
    while True:
        value = probe()
        if value is not None:
            return value
        if alive is not None and alive.proc.poll() is not None:
            raise AssertionError(f"ml314 run ended while waiting for {what}: {alive.lines} {alive.errors}")
        time.sleep(0.1)
