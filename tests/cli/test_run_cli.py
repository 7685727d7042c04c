"""``ml314 run`` as a process: its links, its live status, and a clean stop on SIGTERM and Ctrl-C (SIGINT)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ml314.protocols.base import Rs485Codec
from ml314.protocols.registry import create, resolve
from tests.cli.test_simulate_cli import ML314, ml314


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: a safety net only: every wait below ends on its condition (a first start may compile the model for minutes)
SAFETY_S = 900.0


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    """Poll ``condition`` while ``proc`` runs; fail if it exits first (or, as a safety net, never comes)."""
    end = time.monotonic() + SAFETY_S
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"ml314 run never {what}")


def listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    return check


def wait_for_port(port: int, proc: subprocess.Popen[str]) -> None:
    wait_until(listening(port), proc, "listened")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_a_pylon_client_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    can_log = tmp_path / "can.log"
    rs_log = tmp_path / "rs485.log"
    proc = subprocess.Popen(
        [*ML314, "run", "--modules", "2", "--rs485", f"tcp://127.0.0.1:{port}", "--can-log", str(can_log),
         "--rs485-log", str(rs_log), "--no-peer"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_port(port, proc)
        codec = create(resolve("pylon-rs485"))
        assert isinstance(codec, Rs485Codec)
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as client:
            for request in codec.inverter_requests():
                client.sendall(request)
                buf = bytearray()
                frame = None
                while frame is None:
                    chunk = client.recv(4096)
                    assert chunk, "the battery closed the connection"
                    buf += chunk
                    frame = codec.take_frame(buf, response=True)
                codec.decode_response(request, frame)
        wait_until(lambda: "351#" in can_log.read_text(), proc, "sent a CAN cycle")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "listening on tcp://127.0.0.1" in out
    assert "stopped after" in out
    assert "351#" in can_log.read_text()
    assert len(rs_log.read_text().splitlines()) >= 2 * len(codec.inverter_requests())


def test_run_for_a_while_with_a_compatibility_protocol() -> None:
    r = ml314("run", "--protocol", "CAN:P16", "--for", "4s", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "compatibility mode: pylon-can" in r.stdout
    assert "the home inverter obeys what the built-in peer decodes on hubble-can" in r.stdout
    assert "stopped after" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--protocol", "CAN:P13"), "unknown protocol 'CAN:P13'"),
        (("--protocol", "CAN:P14", "--protocol", "CAN:P05"), "one protocol per port"),
        (("--modules", "17"), "--modules 17"),
        (("--can", "nosuch:can0"), "unknown CAN interface"),
        (("--can", "socketcan:nosuchcan7"), "cannot open CAN"),
        (("--rs485", "/dev/nonexistent-tty"), "cannot open RS485"),
        (("--rs485", "tcp://127.0.0.1"), "tcp://HOST:PORT"),
        (("--speed", "0"), "--speed"),
        (("--for", "soon"), "not a duration"),
        (("--rs485-baud", "1234"), "--rs485-baud 1234"),
        (("--ids", "1,x"), "--ids"),
        (("--modules", "2", "--ids", "1"), "--ids: 1 values for 2 modules"),
        (("--modules", "2", "--bank-link", "a,b,c"), "--bank-link"),
    ],
)
def test_bad_run_options_are_one_line_errors(args: tuple[str, ...], message: str) -> None:
    r = ml314("run", "--for", "1s", *args) if "--for" not in args else ml314("run", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_settings_file_selects_the_protocol_at_start(tmp_path: Path) -> None:
    config = tmp_path / "ml314.toml"
    label = ml314("label")  # the device's own PIN (ML314_DATA_DIR: this test's data dir)
    pin = next(line.split()[-1] for line in label.stdout.splitlines() if "technician PIN" in line)
    r = ml314("protocols", "set", "CAN:P05", "--pin", pin, "--config", config)
    assert r.returncode == 0, r.stderr
    assert "restart" in r.stdout
    r = ml314("protocols", "set", "CAN:P07", "--pin", "123456", "--config", config)  # the manual's: not this device's
    assert r.returncode == 2 and "wrong technician PIN" in r.stderr
    r = ml314("run", "--config", config, "--for", "1s", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "CAN:P05-VCT Victron" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[protocols]\ncann = 'CAN:P14'\n")
    r = ml314("run", "--config", bad, "--for", "1s")
    assert r.returncode == 2 and "did you mean 'can'" in r.stderr


def test_protocols_lists_table_10_3() -> None:
    r = ml314("protocols")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for code in [f"CAN:P{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16)] + [
        f"RS485:P{n:02d}" for n in range(1, 9)
    ]:
        assert any(line.startswith(code) for line in lines), code
    studer = next(line for line in lines if line.startswith("CAN:P11"))
    assert "compatibility mode: pylon-can" in studer
    sma = next(line for line in lines if line.startswith("CAN:P07"))
    assert "compatibility" not in sma and "SMA" in sma


def test_protocols_verbose_says_why() -> None:
    r = ml314("protocols", "-v")
    assert r.returncode == 0 and "why:" in r.stdout


def test_growatt_modbus_is_served_and_logged(tmp_path: Path) -> None:
    log = tmp_path / "growatt.log"
    r = ml314(
        "run", "--protocol", "RS485:P01", "--rs485", "tcp://127.0.0.1:0", "--rs485-baud", "9600",
        "--rs485-log", log, "--for", "3s", "--quiet",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "(Modbus RTU)" in r.stdout
    lines = log.read_text().splitlines()
    assert any(" rx 0103" in line for line in lines) and any(" tx 0103" in line for line in lines)
    decoded = ml314("decode", log, "--protocol", "growatt-modbus")
    assert decoded.returncode == 0, decoded.stdout
    assert "ccl_a:" in decoded.stdout
