"""A real ``ml314 run --http 127.0.0.1:0`` for the LCD tests: its own data dir and settings file, the URL it prints,
and the technician PIN from its label (``ml314 label`` creates the identity first)."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.cli.test_simulate_cli import ML314

URL = re.compile(r"(http://127\.0\.0\.1:\d+)")


@dataclass
class Server:
    url: str
    pin: str
    config: Path
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)


def _drain(proc: subprocess.Popen[str], into: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        into.append(line)


@contextlib.contextmanager
def ml314_run(tmp: Path, modules: int = 2) -> Iterator[Server]:
    data, config = tmp / "data", tmp / "ml314.toml"
    label = subprocess.run([*ML314, "label", "--data-dir", str(data)], capture_output=True, text=True, check=True)
    pin = re.search(r"technician PIN\s+(\d+)", label.stdout)
    assert pin, label.stdout
    proc = subprocess.Popen(
        [*ML314, "run", "--http", "127.0.0.1:0", "--modules", str(modules), "--data-dir", str(data),
         "--config", str(config), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp,
    )  # fmt: skip
    output: list[str] = []
    try:
        assert proc.stdout is not None
        url = None
        while url is None:
            line = proc.stdout.readline()
            assert line, f"ml314 run ended before printing its URL: {proc.communicate()}"
            output.append(line)
            match = URL.search(line)
            url = match.group(1) if match else None
        threading.Thread(target=_drain, args=(proc, output), daemon=True).start()
        while True:  # the URL is printed when the server listens; the bank answers once its first tick is out
            assert proc.poll() is None, proc.communicate()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/bank").status_code == 200:
                    break
            time.sleep(0.05)  # poll interval of the condition above, not a wait for time to pass
        yield Server(url, pin.group(1), config, proc, output)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
        assert "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
