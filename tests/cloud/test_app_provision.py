"""``ml314 cloud-provision``: the claim-code hashes from the devices' data dirs (or SERIAL:HASH lines) into the
cloud's database, after which the label's claim code binds; and the cloud app's options of ``ml314 cloud``, where
bad input is one line and exit code 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ml314.cloud.devices import parse_claim_lines
from ml314.errors import InputError
from tests.cloud.app_server import new_device, serving
from tests.cloud.workers import ML314
from tests.postgres import PostgresServer


def ml314(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ML314, *args], capture_output=True, text=True, cwd=cwd, check=False)


def test_provision_from_data_dirs_through_a_file_then_bind(tmp_path: Path, postgres_server: PostgresServer) -> None:
    d1, d2 = new_device(tmp_path / "d1"), new_device(tmp_path / "d2")
    lines = tmp_path / "claims.txt"
    out = ml314(
        "cloud-provision", "--device", str(d1.data_dir), "--device", str(d2.data_dir), "--out", str(lines), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    text = lines.read_text()
    assert [s for s, _ in parse_claim_lines(text, "claims")] == [d1.serial, d2.serial]
    assert d1.claim_code not in text and d1.claim_code.replace("-", "") not in text  # only hashes leave the device
    db = postgres_server.new_database()
    done = ml314("cloud-provision", "--db", db, "--devices", str(lines), cwd=tmp_path)
    assert done.returncode == 0 and "provisioned 2 new device(s), updated 0" in done.stdout, done.stderr
    again = ml314("cloud-provision", "--db", db, "--device", str(d1.data_dir), cwd=tmp_path)
    assert "provisioned 0 new device(s), updated 1" in again.stdout
    with serving(db) as app, app.account("owner") as owner:
        r = owner.post("/api/devices", json={"serial": d2.serial, "claim_code": d2.claim_code})
        assert r.status_code == 201


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["cloud-provision", "--device", "nowhere", "--out", "x.txt"], "--device nowhere: no device identity there"),
        (["cloud-provision", "--devices", "bad.txt", "--out", "x.txt"], "bad.txt:1: expected SERIAL:$argon2id$"),
        (
            ["cloud", "--mqtt", "mqtt://c:p@127.0.0.1:1", "--db", "postgresql://u@h/d", "--password-policy", "x"],
            "--password-policy 'x'",
        ),
        (
            ["cloud", "--mqtt", "mqtt://c:p@127.0.0.1:1", "--db", "postgresql://u@h/d", "--http", "nowhere"],
            "--http 'nowhere': HOST:PORT",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "bad.txt").write_text("ML314-AAAAAAAAAAAA:plaintext\n")
    r = ml314(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_claim_lines_name_the_bad_line() -> None:
    with pytest.raises(InputError, match="f:2"):
        parse_claim_lines("# comment\nML314-A:$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA$x\n", "f")
