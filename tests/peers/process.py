"""The driver of ``serial_can_inverter.py``: the inverter as a second process on python-can's ``serial`` framing
over TCP, one command per line on its stdin, one answer per line on its stdout (tests and benchmarks/robustness)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "serial_can_inverter.py"


class InverterProcess:
    """Starts the inverter process; :attr:`port` is where it listens, :meth:`cmd` sends one command."""

    def __init__(self, protocol: str = "pylon-can") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--protocol", protocol],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def cmd(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stats(self) -> dict[str, str]:
        return dict(kv.split("=") for kv in self.cmd("stats").split()[1:])

    def rx(self) -> int:
        return int(self.stats()["rx"])

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.cmd("quit")
        self.proc.wait()


def stop_all(procs: list[subprocess.Popen[bytes]], grace_s: float = 30.0) -> None:
    """Ask every process to stop (SIGTERM), newest first, and kill the ones still there after ``grace_s`` (a dask
    worker cancelled in the middle of closing its connections never exits on SIGTERM alone; a guard against a hang,
    not a speed limit)."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
