"""The history store against SQLite and a private PostgreSQL server (the same tests on both)."""

from __future__ import annotations

import io
import math
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from ml314.errors import InputError
from ml314.storage.history import HistoryRetention, HistorySample, HistoryStore, history_url
from ml314.storage.history_query import HistoryQueryError

T0 = 1_767_225_600  # 2026-01-01 00:00:00 UTC, a multiple of 900


def sample(t: int, modules: int = 2) -> HistorySample:
    """A deterministic second: values that vary with ``t`` so averages, minima and maxima differ."""
    x = (t * 7919) % 1000 / 1000.0
    bank = {"voltage_v": 52.0 + x, "current_a": 40.0 * x - 20.0, "soc_pct": 50.0 + 10.0 * x, "peer_soc_pct": None}
    mods = tuple(
        {
            "module_id": i,
            "voltage_v": 52.0 + x + i / 10.0,
            "current_a": 10.0 * x,
            "state": 3 if x < 0.9 else 5,
            "cell_max_index": 1 + (t % 16),
            "online": 1.0 if x < 0.75 else 0.0,
            "cells": tuple(3.2 + x / 10.0 + c / 1000.0 for c in range(16)),
        }
        for i in range(1, modules + 1)
    )
    return HistorySample(t, bank, mods)


def bank_v(t: int) -> float:
    return 52.0 + (t * 7919) % 1000 / 1000.0


@pytest.fixture
def store(history_db_url: str) -> HistoryStore:
    s = HistoryStore(history_db_url, flush_every_s=0.05)
    yield s  # type: ignore[misc]
    s.close()


def fill(s: HistoryStore, t_from: int, t_to: int, modules: int = 2) -> None:
    """Append through the writer, waiting every 200 samples so the queue (600) never overflows."""
    for t in range(t_from, t_to):
        s.append(sample(t, modules))
        if (t - t_from) % 200 == 199:
            assert s.flush(60.0)
    assert s.flush(60.0)
    assert s.stats.write_errors == 0, s.stats.last_error
    assert s.stats.dropped == 0


def test_samples_come_back_at_one_second(store: HistoryStore) -> None:
    fill(store, T0, T0 + 30)
    r = store.query(T0, T0 + 30, ["voltage_v", "soc_pct", "peer_soc_pct"], 1)
    assert list(r.columns["t_s"]) == list(range(T0, T0 + 30))
    assert np.allclose(r.columns["voltage_v"], [bank_v(t) for t in range(T0, T0 + 30)], atol=1e-5)
    assert np.isnan(r.columns["peer_soc_pct"]).all()  # no peer: nothing stored, NaN back
    m = store.query(T0, T0 + 30, ["voltage_v", "state", "cell_max_index"], 1, module_id=2)
    assert np.allclose(m.columns["voltage_v"], [bank_v(t) + 0.2 for t in range(T0, T0 + 30)], atol=1e-5)
    assert set(m.columns["state"]) <= {"charge", "protection"}
    assert list(m.columns["cell_max_index"]) == [1 + t % 16 for t in range(T0, T0 + 30)]


@pytest.mark.parametrize("step", [60, 300, 900, 90])
def test_every_step_agrees_with_the_raw_samples(store: HistoryStore, step: int) -> None:
    """1-min and 15-min tiers (and a step no tier divides, grouped from raw) give the raw data's statistics."""
    n = 1800
    fill(store, T0, T0 + n, modules=1)
    r = store.query(T0, T0 + n, ["voltage_v", "voltage_v:min", "voltage_v:max", "state", "online"], step, 1)
    ts = np.arange(T0, T0 + n)
    v = np.array([bank_v(t) + 0.1 for t in ts])
    buckets = ts // step * step
    expect_t = np.unique(buckets)
    assert list(r.columns["t_s"]) == list(expect_t)
    for i, b in enumerate(expect_t):
        sel = v[buckets == b]
        assert r.columns["voltage_v"][i] == pytest.approx(sel.mean(), abs=1e-4)
        assert r.columns["voltage_v:min"][i] == pytest.approx(sel.min(), abs=1e-4)
        assert r.columns["voltage_v:max"][i] == pytest.approx(sel.max(), abs=1e-4)
    xs = (ts * 7919) % 1000 / 1000.0
    online = np.where(xs < 0.75, 1.0, 0.0)
    assert np.allclose(r.columns["online"], [online[buckets == b].mean() for b in expect_t], atol=1e-6)
    worst = ["protection" if (xs[buckets == b] >= 0.9).any() else "charge" for b in expect_t]
    assert list(r.columns["state"]) == worst  # a bucket shows its most severe state


def test_every_module_in_long_format_and_cells_every_ten_seconds(store: HistoryStore) -> None:
    fill(store, T0, T0 + 120, modules=3)
    r = store.query(T0, T0 + 120, ["current_a"], 60, module_id="all")
    assert list(r.columns["module_id"]) == [1, 2, 3, 1, 2, 3]
    assert list(r.columns["t_s"]) == [T0] * 3 + [T0 + 60] * 3
    c = store.query(T0, T0 + 120, ["cell_1_v", "cell_16_v"], 10, module_id=3)
    assert list(c.columns["t_s"]) == list(range(T0, T0 + 120, 10))
    assert np.allclose(c.columns["cell_16_v"] - c.columns["cell_1_v"], 0.015, atol=1e-5)


def test_a_restart_continues_the_same_history(history_db_url: str) -> None:
    first = HistoryStore(history_db_url, flush_every_s=0.05)
    fill(first, T0, T0 + 100)
    first.close()
    second = HistoryStore(history_db_url, flush_every_s=0.05)
    try:
        assert second.newest_t_s == T0 + 99
        fill(second, T0 + 90, T0 + 200)  # ten seconds again (a clock step back): kept once
        r = second.query(T0, T0 + 200, ["voltage_v"], 1)
        assert list(r.columns["t_s"]) == list(range(T0, T0 + 200))
        one_min = second.query(T0, T0 + 180, ["voltage_v"], 60)
        assert np.allclose(one_min.columns["voltage_v"], [np.mean([bank_v(t) for t in range(a, a + 60)])
                                                          for a in (T0, T0 + 60, T0 + 120)], atol=1e-4)  # fmt: skip
    finally:
        second.close()


def test_a_full_queue_drops_the_oldest_and_says_so(history_db_url: str) -> None:
    """The writer is held by a real lock on the database; append still returns at once and counts the drops."""
    s = HistoryStore(history_db_url, queue_size=50, flush_every_s=0.05)
    fill(s, T0, T0 + 1)
    blocker = sa.create_engine(history_db_url.replace("postgresql://", "postgresql+psycopg://"))
    conn = blocker.connect()
    if s.dialect == "sqlite":
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
    else:
        conn.begin()
        conn.exec_driver_sql("LOCK TABLE history_bank_1s IN ACCESS EXCLUSIVE MODE")
    try:
        for t in range(T0 + 1, T0 + 301):
            s.append(sample(t))
        st = s.stats
        assert st.appended == 301
        assert st.queued <= 50 + 50  # at most a batch in the writer's hands and a full queue
        assert st.dropped >= 200
        notice = s.notice()
        assert notice is not None and "samples dropped" in notice
        assert s.notice() is None  # said once
    finally:
        conn.rollback()
        conn.close()
        blocker.dispose()
    assert s.flush(60.0)
    r = s.query(T0, T0 + 301, ["voltage_v"], 1)
    assert int(r.columns["t_s"][-1]) == T0 + 300  # the newest kept, the oldest dropped
    assert len(r) == 301 - s.stats.dropped
    s.close()


def test_retention_keeps_each_tier_its_days(history_db_url: str) -> None:
    keep = HistoryRetention(raw_days=1.0, cell_days=1.0, minute_days=2.0, quarter_days=None)
    s = HistoryStore(history_db_url, keep, writer=False)
    try:
        day = 86400
        s.write([sample(t, modules=1) for t in range(T0, T0 + 4 * day, 120)])
        newest = T0 + 4 * day - 120
        assert s.expire() >= 0
        raw = s.query(T0, newest + 1, ["voltage_v"], 120)  # 120 s: not a multiple of 900, read from 1-min
        assert int(raw.columns["t_s"][0]) >= newest - 2 * day - 60
        seconds = s.query(T0, newest + 1, ["voltage_v"], 1)
        assert int(seconds.columns["t_s"][0]) >= newest - day
        quarter = s.query(T0, newest + 1, ["voltage_v"], 900)
        assert int(quarter.columns["t_s"][0]) == T0  # 15-min kept forever
    finally:
        s.close()


def test_bulk_load_and_rebuild_make_the_coarser_tiers(history_db_url: str) -> None:
    s = HistoryStore(history_db_url, writer=False)
    try:
        t = np.arange(T0, T0 + 3600 * 4, 60)
        s.bulk_load("bank", 60, {"t_s": t, "n": np.full(len(t), 60), "soc_pct_avg": (t - T0) / 144.0})
        s.rebuild(int(t[0]), int(t[-1]))
        r = s.query(T0, T0 + 3600 * 4, ["soc_pct"], 900)
        assert len(r) == 16
        assert r.columns["soc_pct"][0] == pytest.approx(np.mean((t[:15] - T0) / 144.0), abs=1e-4)
        with pytest.raises(InputError, match="no table"):
            s.bulk_load("bank", 7, {"t_s": t})
    finally:
        s.close()


@pytest.mark.parametrize(
    ("request_", "param", "words"),
    [
        ((["voltag_v"], None, 60), "voltag_v", "nearest valid: 'voltage_v'"),
        ((["soc_pct:median"], None, 60), "soc_pct:median", "nearest valid: 'soc_pct:"),
        ((["temp_mosfet_c"], None, 60), "module", "per module"),
        ((["voltage_v", "cell_3_v"], 1, 60), "cell_3_v", "module field"),
        ((["state:min"], 1, 60), "state:min", "nearest valid"),
        ((["soc_pct"], None, 0), "step", "whole seconds"),
        ((["soc_pct"], "x", 60), "module", "module ID"),
        (([], None, 60), "fields", "at least one"),
    ],
)
def test_a_bad_request_names_the_parameter_and_the_nearest_valid_one(
    store: HistoryStore, request_: tuple[list[str], int | str | None, int], param: str, words: str
) -> None:
    fields, module, step = request_
    with pytest.raises(HistoryQueryError) as info:
        store.query(T0, T0 + 60, fields, step, module)
    assert info.value.param == param
    assert words in str(info.value)


def test_to_must_follow_from(store: HistoryStore) -> None:
    with pytest.raises(HistoryQueryError) as info:
        store.query(T0 + 60, T0, ["soc_pct"], 60)
    assert info.value.param == "to"


def test_csv_and_parquet_export_stream_in_chunks(store: HistoryStore, tmp_path: Path) -> None:
    fill(store, T0, T0 + 200, modules=2)
    plan = store.plan(T0, T0 + 200, ["voltage_v", "state"], 1, "all")
    whole = store.query(T0, T0 + 200, ["voltage_v", "state"], 1, "all")
    chunks = list(store.chunks(plan, chunk_rows=64))
    assert len(chunks) == math.ceil(400 / 64) and all(len(c) <= 64 for c in chunks)
    assert np.array_equal(np.concatenate([c.columns["voltage_v"] for c in chunks]), whole.columns["voltage_v"])
    out = io.StringIO()
    assert store.export_csv(plan, out) == 400
    lines = out.getvalue().splitlines()
    assert lines[0] == "t_s,time_utc,module_id,voltage_v,state"
    assert lines[1].startswith(f"{T0},2026-01-01T00:00:00Z,1,")
    assert len(lines) == 401
    path = tmp_path / "h.parquet"
    assert store.export_parquet(plan, path) == 400
    table = pq.read_table(path)
    assert table.column_names == ["t_s", "time_utc", "module_id", "voltage_v", "state"]
    assert np.allclose(table.column("voltage_v").to_numpy(), whole.columns["voltage_v"])
    assert table.schema.field("voltage_v").metadata[b"unit"] == b"V"


def test_appends_from_many_threads_are_all_written(store: HistoryStore) -> None:
    def worker(k: int) -> None:
        for t in range(T0 + k * 100, T0 + k * 100 + 100):
            store.append(sample(t))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert store.flush(60.0)
    assert len(store.query(T0, T0 + 400, ["soc_pct"], 1)) == 400 - store.stats.dropped
    assert store.integrity() == "ok"


def test_db_option_values() -> None:
    assert history_url(None, Path("/d")) == "sqlite:////d/history.sqlite"
    assert history_url("off", Path("/d")) is None
    assert history_url(None, None) is None
    assert history_url("postgresql://u@h/db", None) == "postgresql+psycopg://u@h/db"
    with pytest.raises(InputError, match="--db 'mysql://x'"):
        history_url("mysql://x", None)


def test_a_batch_the_database_refuses_is_dropped_and_said(store: HistoryStore) -> None:
    broken = HistorySample(T0, {"voltage_v": 52.0}, ({"voltage_v": 52.0, "cells": ()},))  # a module without its ID
    store.append(broken)
    assert store.flush(60.0)
    assert store.stats.write_errors == 1 and store.stats.dropped == 1
    notice = store.notice()
    assert notice is not None and "write failed" in notice
    for t in range(T0 + 1, T0 + 5):  # the writer goes on
        store.append(sample(t))
    assert store.flush(60.0)
    assert store.stats.write_errors == 1 and "IntegrityError" in store.stats.last_error
    assert len(store.query(T0, T0 + 5, ["voltage_v"], 1)) == 4
