"""A private Mosquitto broker for tests: the installed ``mosquitto`` binary on a free loopback port, its generated
configuration, persistence and log in a temporary folder, stopped and removed afterwards (never a system service).

``broker = mosquitto()`` (the fixture is a factory) starts one with anonymous access; ``mosquitto(conf=PATH)`` runs a
configuration of its own (e.g. one ``ml314 broker-config`` wrote for ``broker.port``). :meth:`MosquittoBroker.stop`
ends it with SIGTERM, so it saves its persistence file as a real broker would on a restart; :meth:`start` brings it
back on the same port with the same sessions and queued messages.

A missing binary skips the test with the reason (``make test`` installs it where it may), and fails it on CI
(``tests/needs.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.needs import missing

__all__ = ["MosquittoBroker", "free_port", "mosquitto", "mosquitto_binary"]

#: a broker that has not opened its port by then has failed (its log says why); a guard, not a test limit
_START_GUARD_S = 60.0


def mosquitto_binary() -> Path | None:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    """One private broker; ``conf`` None: anonymous access on ``port`` with persistence in ``root``."""

    def __init__(self, binary: Path, conf: Path | None = None, port: int | None = None) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="ml314-mqtt-"))
        self.port = port or free_port()
        self.log = self.root / "mosquitto.log"
        self._conf = conf
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        """The configuration to run: the given one, or an anonymous one; as root, the broker stays root (it would
        drop to the ``mosquitto`` user, which cannot write the temporary folder)."""
        head = "user root\n" if os.geteuid() == 0 else ""
        if self._conf is not None:
            body = self._conf.read_text(encoding="utf-8")
        else:
            body = (
                f"listener {self.port} 127.0.0.1\n"
                "allow_anonymous true\n"
                "persistence true\n"
                f"persistence_location {self.root}/\n"
            )
        path = self.root / "run.conf"
        path.write_text(head + body + f"log_dest file {self.log}\nlog_type all\n", encoding="utf-8")
        return path

    def start(self) -> None:
        """Start the broker and return once its port accepts connections."""
        if self._process is not None:
            raise RuntimeError("the broker already runs")
        conf = self._config()
        self._process = subprocess.Popen(
            [str(self.binary), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_GUARD_S
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RuntimeError(f"mosquitto exited with {code} at start:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mosquitto did not open port {self.port}:\n{self.log_text()}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM (the broker saves its persistence file) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_START_GUARD_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def reload(self) -> None:
        """SIGHUP: the broker reads its password and ACL files again (a device provisioned on a live broker)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGHUP)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def mosquitto() -> Iterator[Callable[..., MosquittoBroker]]:
    """A factory of started private brokers (``conf``, ``port`` as :class:`MosquittoBroker` takes them); each is
    stopped and removed at the end of the test."""
    binary = mosquitto_binary()
    if binary is None:
        missing("Mosquitto (the mosquitto binary)")
    brokers: list[MosquittoBroker] = []

    def make(conf: Path | None = None, port: int | None = None, *, start: bool = True) -> MosquittoBroker:
        broker = MosquittoBroker(binary, conf, port)
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    try:
        yield make
    finally:
        for broker in brokers:
            broker.close()
