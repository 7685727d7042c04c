"""A subprocess whose stdout and stderr are read line by line on threads (so a full pipe never stalls it), with
:meth:`OutputProcess.wait_line` to wait for a line: the base of the tests' ``ml314 run``, ``ml314 monitor`` and
``ml314 cloud`` processes."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO


class OutputProcess:
    """``cmd`` started in ``cwd``; ``lines`` and ``errors`` fill as it prints (newlines stripped)."""

    def __init__(self, cmd: Sequence[str], *, cwd: Path | None = None, what: str = "the process") -> None:
        self.what = what
        self.proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, stream: IO[str], into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_line(self, needle: str, *, errors: bool = False) -> str:
        """The first line of stdout (stderr with ``errors``) containing ``needle``, once printed; fails if the
        process ends first."""
        lines = self.errors if errors else self.lines
        with self._changed:
            while True:
                found = next((x for x in lines if needle in x), None)
                if found is not None:
                    return found
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._readers):
                    raise AssertionError(f"{self.what} ended before {needle!r}: {self.lines} {self.errors}")
                self._changed.wait(0.5)

    def join_readers(self) -> None:
        for t in self._readers:
            t.join(timeout=10)
