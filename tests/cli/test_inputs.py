"""Inputs get one line: ``decode`` skips and names a bad line, streams, refuses an empty or unreadable capture,
guesses an RS485 capture's protocol; a full disk while writing outputs is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from ml314.adapters.can_link import iter_can_log
from ml314.adapters.serial_link import LoggedBytes, Rs485TrafficLog, iter_rs485_log
from ml314.protocols.base import Rs485Codec
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import create, resolve
from tests.cli.test_simulate_cli import ML314, TIMEOUT_S, assert_one_line_error, ml314


def pylon_rs485_log(path: Path, modules: int = 3) -> Path:
    codec = create(resolve("pylon-rs485"))
    assert isinstance(codec, Rs485Codec)
    log = Rs485TrafficLog(path)
    for req in codec.inverter_requests():
        log.record(req, sent=False)
        response = codec.respond(req, worked_example(modules))
        assert response is not None
        log.record(response, sent=True)
    log.close()
    return path


def test_a_bad_candump_line_is_skipped_counted_and_named(tmp_path: Path) -> None:
    path = tmp_path / "cap.log"
    path.write_text(
        "(1.000000) can0 355#32006400 R\n"
        "this is not a frame\n"
        "(1.100000) can0 355#33006400 R\n"
        "(1.2) can0 35G#00\n"
        "(1.300000) can0 355#34006400 R\n"
    )
    r = ml314("decode", path, "--protocol", "pylon-can")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert f"{path}:2: skipped" in r.stderr and f"{path}:4: skipped" in r.stderr
    assert "3 frames, 0 malformed, 0 of other protocols, 2 line(s) skipped" in r.stdout
    assert "soc_pct: 52" in r.stdout  # the frames after the bad lines were read


def test_a_bad_rs485_line_is_skipped_and_the_rest_decoded(tmp_path: Path) -> None:
    path = pylon_rs485_log(tmp_path / "rs485.log")
    lines = path.read_text().splitlines()
    lines.insert(2, "1.0 rx NOT-HEX")
    path.write_text("\n".join(lines) + "\n")
    r = ml314("decode", path, "--protocol", "pylon-rs485")
    assert r.returncode == 1
    assert f"{path}:3: skipped: not a hex line" in r.stderr
    assert "module_count: 3" in r.stdout and "1 line(s) skipped" in r.stdout


@pytest.mark.parametrize("name", ["empty.log", "empty.asc", "comments.log"])
def test_an_empty_capture_is_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("# nothing captured\n" if name.startswith("comments") else "")
    protocol = ("--protocol", "pylon-can") if name.endswith(".asc") else ()
    assert_one_line_error(ml314("decode", path, *protocol), "no frame to decode")


def test_a_broken_blf_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.blf"
    path.write_bytes(b"LOGG" + bytes(range(40)))
    assert_one_line_error(ml314("decode", path, "--protocol", "pylon-can"), "not a readable CAN capture")


def test_only_garbage_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "garbage.log"
    path.write_text("(1.0) can0 zz#zz\n")
    r = ml314("decode", path, "--protocol", "pylon-can")
    assert r.returncode == 2
    assert r.stderr.splitlines()[-1].startswith("ml314: error:") and "1 line(s) skipped, none a frame" in r.stderr


def test_an_rs485_capture_protocol_is_guessed(tmp_path: Path) -> None:
    path = pylon_rs485_log(tmp_path / "rs485.log")
    r = ml314("decode", path)
    assert r.returncode == 0, r.stderr
    assert "protocol guessed from the capture: pylon-rs485" in r.stderr
    assert "module_count: 3" in r.stdout


def test_an_rs485_capture_no_protocol_reads_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "mystery.txt"
    path.write_text("0102030405\nA1B2C3\n")
    assert_one_line_error(ml314("decode", path), "cannot tell the protocol", "--protocol", "pylon-rs485")


def test_captures_are_streamed_not_loaded_whole(tmp_path: Path) -> None:
    """Records come out while the capture is still being written (a FIFO): nothing waits for the whole file."""
    readers = (
        ("rs485.fifo", "1.0 rx 0102\n", iter_rs485_log),
        ("can.log", "(1.000000) can0 355#32006400 R\n", iter_can_log),
    )
    for name, line, reader in readers:
        fifo = tmp_path / name
        os.mkfifo(fifo)
        release = threading.Event()

        def writer(fifo: Path = fifo, line: str = line, release: threading.Event = release) -> None:
            with fifo.open("w") as f:
                f.write(line)
                f.flush()
                release.wait(TIMEOUT_S)  # the file stays open (unfinished) until the first record was read

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            no, first = next(reader(fifo))  # type: ignore[operator]
            assert no == 1 and not isinstance(first, str)
            if isinstance(first, LoggedBytes):
                assert first.data == b"\x01\x02"
        finally:
            unblock = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a writer still waiting for a reader goes on
            release.set()
            thread.join()
            os.close(unblock)


#: ``ml314`` allowed to write files of at most 64 KiB (a write past it fails with EFBIG instead of killing it)
ML314_SMALL_FILES = (
    ML314[0],
    "-c",
    "import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); "
    "sys.argv[0] = 'ml314'; runpy.run_module('ml314.cli.main', run_name='__main__')",
)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_full_disk_while_writing_is_one_line_and_exit_2(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "full"
    r = subprocess.run(
        [*ML314_SMALL_FILES, "simulate", "--days", "3", "--sample", "1s", "--format", fmt, "--no-link",
         "--modules", "2", "--out", str(out), "--quiet", "--no-report"],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    output = r.stdout + r.stderr
    assert r.returncode == 2, output
    assert "Traceback" not in output and "internal error" not in output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ml314: error: file too large")
    assert not (out / f"timeseries.{fmt}").exists()  # no half-written result left as if it were whole


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_no_space_left_on_a_real_small_filesystem_is_one_line_and_exit_2(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        r = ml314("simulate", "--days", "3", "--sample", "1s", "--format", "csv", "--no-link", "--modules", "2",
                  "--out", mount / "out", "--quiet", "--no-report")  # fmt: skip
        assert r.returncode == 2, r.stdout + r.stderr
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr
        assert r.stderr.strip().startswith("ml314: error: no space left on the device")
    finally:
        subprocess.run(["umount", str(mount)], check=False)
