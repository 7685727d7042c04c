"""``ml314 commission`` against real processes: a running ``ml314 run`` (its HTTP API), its data dir afterwards, and a
battery whose selected protocol does not match the inverter process on its CAN bus. The installer report is written
and its PDF rendered with pdftoppm (poppler-utils); with ``ML314_SCREENSHOTS=docs`` its first page becomes the
README's picture (docs/screenshots/installer-report.png)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By

from ml314.adapters.can_link import CanTrafficLog
from ml314.diagnostics.commissioning import SITE_STEPS
from ml314.domain.battery_status import BatteryView
from ml314.protocols.base import CanCodec, CanFrame, Rs485Codec
from ml314.protocols.registry import create, resolve
from tests.browser import chromium, until
from tests.needs import missing
from tests.peers.process import InverterProcess
from tests.web.running import RunningBank, wait_for

ML314 = (sys.executable, "-m", "ml314.cli.main")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def commission(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ML314, "commission", *args], capture_output=True, text=True, cwd=cwd, check=False)


def heard_frames(client: httpx.Client, port: str = "can", at_least: int = 3) -> list[str] | None:
    frames: list[str] = client.get("/api/commission/inputs").json()[port]
    return frames if len(frames) >= at_least else None  # a few keep-alives or polls: a whole cycle of the inverter


def render_first_page(pdf: Path, out_prefix: Path) -> Path:
    tool = shutil.which("pdftoppm")
    if tool is None:
        missing("pdftoppm (Debian poppler-utils)")
    subprocess.run([str(tool), "-png", "-r", "70", "-f", "1", "-l", "1", str(pdf), str(out_prefix)], check=True)
    (page,) = out_prefix.parent.glob(out_prefix.name + "*.png")
    return page


def guided_page(url: str) -> None:
    """The browser page: the measured checks appear; ticking an on-site step makes it pass on the report link."""
    with chromium() as driver:
        driver.get(url + "/commission")
        until(lambda: driver.execute_script("return document.querySelectorAll('#checks tbody tr').length") >= 10)
        row = '#checks tr[data-key="protocol_can"]'
        assert until(lambda: driver.execute_script(f"return document.querySelector('{row}')?.dataset.result")) == "pass"
        boxes = driver.find_elements(By.CSS_SELECTOR, "#site input[type=checkbox]")
        assert len(boxes) == len(SITE_STEPS)
        boxes[0].click()
        until(lambda: "confirm=diagram" in (driver.find_element(By.ID, "report").get_attribute("href") or ""))
        heard = driver.find_element(By.CSS_SELECTOR, "#heard tbody").text
        assert "Pylon" in heard


def test_commission_a_running_bank_writes_the_installer_report(tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        missing("Debian's chromium (it prints the PDF)")
    rs485 = ("--rs485", "tcp://127.0.0.1:0", "--protocol", "RS485:P04")
    bank = RunningBank(tmp_path, "--modules", "3", "--protocol", "CAN:P14", *rs485)
    try:
        with bank.client() as client:
            wait_for(lambda: heard_frames(client), "the inverter peer's keep-alives", alive=bank)
            wait_for(lambda: heard_frames(client, "rs485", 4), "the inverter peer's polls", alive=bank)
            serials = [m["module"]["serial"] for m in client.get("/api/modules").json()]

            def with_first_day() -> dict[str, object] | None:
                body: dict[str, object] = client.get("/api/commission", params={"confirm": "all"}).json()
                return body if body["first_day"] is not None else None  # the history has its first samples

            doc: dict[str, Any] = wait_for(with_first_day, "the first day in the history", alive=bank)
            page = client.get("/api/commission/report.html")
            bad = client.get("/api/commission", params={"confirm": "cables,nonsense"})
            live_cautions = client.get("/api/commission/cautions").json()
        checks = {c["key"]: c for c in doc["checks"]}
        assert checks["protocol_can"]["result"] == "pass", checks["protocol_can"]
        assert checks["protocol_rs485"]["result"] == "pass", checks["protocol_rs485"]
        assert checks["unique_ids"]["result"] == "pass" and checks["termination"]["result"] == "pass"
        assert all(checks[f"site_{s['key']}"]["result"] == "pass" for s in doc["site_steps"])
        assert doc["first_day"]["soc_max_pct"] > 0
        assert "0x305 [00 00 00 00 00 00 00 00]" in " ".join(checks["protocol_can"]["evidence"])
        assert page.status_code == 200 and all(s in page.text for s in serials)
        assert [c["key"] for c in live_cautions["checks"]] == ["mixed_modules", "hot_battery", "temperature_range"]
        assert live_cautions["result"] == "pass", live_cautions
        assert bad.status_code == 400 and "nonsense" in bad.json()["error"]["message"]
        guided_page(bank.url)

        report_dir = tmp_path / "report"
        done = commission(
            "--url", bank.url, "--confirm", "all", "--report", str(report_dir), "--installer", "A. Installer",
            "--site", "Test bench", cwd=tmp_path,
        )  # fmt: skip
        failed = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
        assert done.returncode == (1 if failed else 0), done.stdout + done.stderr
        # on a loaded machine the bank link may miss a module for a moment: the run reports it, and so does the check
        assert all("Every module online" in line for line in failed), done.stdout
        assert "PASS  CAN protocol matches the inverter" in done.stdout
        assert "WARN  Charged fully before use" in done.stdout
        html = (report_dir / "installer-report.html").read_text(encoding="utf-8")
        for text in (*serials, "A. Installer", "Test bench", "P14-PYL", "First day", "Unique module IDs"):
            assert text in html
    finally:
        bank.stop()
    pdf = report_dir / "installer-report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    png = render_first_page(pdf, tmp_path / "page")
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 10_000  # a drawn page, not a blank
    target = os.environ.get("ML314_SCREENSHOTS")
    if target:
        shutil.copyfile(png, Path(target) / "screenshots" / "installer-report.png")

    # the data dir afterwards, with a capture of a Growatt inverter: the selection (Pylon) does not match it
    capture = tmp_path / "growatt.log"
    log = CanTrafficLog(capture)
    for i in range(3):
        log.record(CanFrame(0x301, bytes.fromhex("1122334455667788")), timestamp=1.0 + i, sent=False)
    log.close()
    done = commission("--data-dir", str(bank.data_dir), "--capture", str(capture), "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # a check fails
    checks = {c["key"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["protocol_can"]["result"] == "fail"
    assert "CAN:P01-GRW" in checks["protocol_can"]["instruction"]
    assert checks["unique_ids"]["result"] == "skip"  # a data dir knows no DIP switches


def test_a_battery_set_to_pylon_hears_a_growatt_inverter(tmp_path: Path) -> None:
    """The live buses: on CAN the inverter is another process (the project's peer speaking Growatt CAN); on RS485 a
    client sends Voltronic's polls to a battery set to a Pylon-ASCII protocol, which cannot answer them. The bank
    mixes a 280 Ah module with a 314 Ah one: the caution of 13.1 (5), from the master's check on the bank link."""
    peer = InverterProcess("growatt-can")
    try:
        can = ("--can", f"serial:socket://127.0.0.1:{peer.port}", "--protocol", "CAN:P14")
        mixed = ("--modules", "2", "--capacity-ah", "314,280")  # and a module of another capacity: 13.1 (5)
        rs485 = ("--rs485", "tcp://127.0.0.1:0", "--protocol", "RS485:P02", "--no-peer")
        bank = RunningBank(tmp_path, *can, *rs485, *mixed)
        try:
            port = int(bank.wait_line("RS485 listening on tcp://127.0.0.1:").split(":")[2])
            voltronic = create(resolve("RS485:P04"))
            assert isinstance(voltronic, Rs485Codec)
            with socket.create_connection(("127.0.0.1", port)) as sock, bank.client() as client:
                for request in voltronic.inverter_requests() * 3:
                    sock.sendall(request)
                wait_for(lambda: heard_frames(client), "the Growatt inverter's requests", alive=bank)
                wait_for(lambda: heard_frames(client, "rs485", 1), "the Voltronic polls", alive=bank)

                def mix_seen() -> dict[str, Any] | None:
                    body: dict[str, Any] = client.get("/api/commission").json()
                    return (
                        body
                        if any(c["key"] == "mixed_modules" and c["result"] == "fail" for c in body["checks"])
                        else None
                    )

                doc = wait_for(mix_seen, "the master's mix caution", alive=bank)
        finally:
            bank.stop()
    finally:
        peer.close()
    check = next(c for c in doc["checks"] if c["key"] == "protocol_can")
    assert check["result"] == "fail"
    assert "Growatt" in check["evidence"][0] and "CAN:P01-GRW" in check["instruction"]
    assert doc["heard"]["can"]["candidates"] == ["growatt-can"]
    mix = next(c for c in doc["checks"] if c["key"] == "mixed_modules")
    assert mix["module_ids"] == [2] and "capacity 280 Ah" in " ".join(mix["evidence"]), mix
    rs = next(c for c in doc["checks"] if c["key"] == "protocol_rs485")
    assert rs["result"] == "fail" and "RS485:P04-VOL" in rs["instruction"], rs


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = (
        ("--data-dir", str(tmp_path / "nowhere")),
        ("--url", "http://127.0.0.1:1"),  # nothing listens there
        ("--confirm", "cabels"),
    )
    procs = [  # all at once: each is a fresh interpreter
        subprocess.Popen(
            [*ML314, "commission", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
        )
        for args in cases
    ]
    for args, proc in zip(cases, procs, strict=True):
        out, err = proc.communicate()
        assert proc.returncode == 2, (args, out, err)
        assert err.count("\n") == 1 and err.startswith("ml314: error:"), err
        assert "Traceback" not in err


def test_the_detective_alone_on_a_capture(tmp_path: Path) -> None:
    """Only a capture (the project's Victron inverter side, as the battery logged it): the family and its P-code;
    against a selection that does not fit, a failed check and exit 1."""
    victron = create(resolve("CAN:P05"))
    assert isinstance(victron, CanCodec)
    log = CanTrafficLog(tmp_path / "victron.log")
    for i in range(3):
        for frame in victron.inverter_cycle(BatteryView()):
            log.record(frame, timestamp=1.0 + i, sent=False)
    log.close()
    named = commission("--capture", "victron.log", cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    assert "CAN: Victron (9 inverter frames)" in named.stdout and "select: CAN:P05-VCT (Victron)" in named.stdout
    wrong = commission("--capture", "victron.log", "--protocol", "CAN:P14", "--json", cwd=tmp_path)
    assert wrong.returncode == 1, wrong.stderr
    (row,) = json.loads(wrong.stdout)
    assert row["check"]["result"] == "fail" and "CAN:P05-VCT" in row["check"]["instruction"]
