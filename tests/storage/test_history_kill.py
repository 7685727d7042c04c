"""SIGKILL never corrupts the history and a restart continues it: a real ``ml314 run`` killed again and again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ml314.storage.history import HistoryStore, history_url

KILLS = 3
ROWS_PER_RUN = 4  # seconds of history each run writes before it is killed


def bank_seconds(url: str) -> list[int]:
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []  # not created yet (connecting would create it)
    engine = sa.create_engine(history_url(url, None) or "")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("history_bank_1s"):
                return []
            return [int(r[0]) for r in conn.exec_driver_sql("SELECT t_s FROM history_bank_1s ORDER BY t_s")]
    finally:
        engine.dispose()


def wait_for_rows(url: str, at_least: int, proc: subprocess.Popen[str], limit_s: float = 300.0) -> int:
    """Poll until the run has committed ``at_least`` bank rows; a guard against hanging, not a timing check."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"ml314 run ended by itself ({proc.returncode}):\n{out}\n{err}")
        n = len(bank_seconds(url))
        if n >= at_least:
            return n
        time.sleep(0.1)
    pytest.fail(f"no {at_least} rows of history within the guard")


@pytest.mark.long
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_loses_at_most_the_last_seconds_and_never_corrupts(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    if backend == "sqlite":
        url = f"sqlite:///{data / 'history.sqlite'}"
        db_args: list[str] = []  # the default: history.sqlite in the data dir
    else:
        url = request.getfixturevalue("postgres_server").new_database()
        db_args = ["--db", url]
    seen = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ml314.cli.main",
                "run",
                "--modules",
                "4",
                "--quiet",
                "--data-dir",
                str(data),
                *db_args,
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "ML314_DATA_DIR": str(data)},
        )
        try:
            committed = wait_for_rows(url, seen + ROWS_PER_RUN, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        seconds = bank_seconds(url)
        assert len(seconds) >= committed  # what was committed before the kill is still there
        assert seconds == sorted(set(seconds))  # one row per second, in order
        seen = len(seconds)

    store = HistoryStore(url, writer=False)
    try:
        assert store.integrity() == "ok"
        with store.engine.connect() as conn:
            # every 1-min bucket agrees with the raw seconds it was computed from (same transaction)
            mismatched = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM history_module_1m m WHERE m.n <> (SELECT COUNT(*) FROM history_module_1s r "
                "WHERE r.module_id = m.module_id AND r.t_s >= m.t_s AND r.t_s < m.t_s + 60)"
            ).scalar()
        assert mismatched == 0
        r = store.query(0, 4e9, ["voltage_v"], 1, "all")
        assert set(r.columns["module_id"]) == {1, 2, 3, 4}
        assert len(r) == 4 * seen
    finally:
        store.close()


@pytest.mark.parametrize(
    ("db", "words"),
    [
        ("mysql://x/y", "--db 'mysql://x/y': sqlite:///FILE, postgresql://USER@HOST/DB, or off"),
        (
            "postgresql://nobody@127.0.0.1:1/none",
            "history postgresql+psycopg://nobody@127.0.0.1:1/none: connection failed",
        ),
    ],
)
def test_a_bad_db_is_one_clear_line(db: str, words: str, tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ml314.cli.main", "run", "--db", db, "--for", "1s", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert r.returncode != 0
    assert "Traceback" not in r.stdout + r.stderr
    assert words in r.stdout + r.stderr
