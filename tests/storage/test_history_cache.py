"""The store's cache of closed buckets (storage/history_cache.py): a cached read answers exactly what the database
does, as live seconds come in, after a write out of time order and after the retention deletes rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml314.storage.history import HistoryStore, history_url
from ml314.storage.history_query import HistoryResult
from tests.storage.test_history import T0, fill, sample

FIELDS = ["voltage_v", "current_a:max", "soc_pct"]


def _same(a: HistoryResult, b: HistoryResult) -> None:
    assert a.columns.keys() == b.columns.keys()
    for name in a.columns:
        np.testing.assert_array_equal(a.columns[name], b.columns[name], err_msg=name)


def test_cached_reads_answer_what_the_database_does(tmp_path: Path) -> None:
    url = history_url(None, tmp_path)
    assert url is not None
    store = HistoryStore(url, flush_every_s=0.05)
    plain = HistoryStore(url, writer=False)  # reads the same file without a cache
    assert store.cache is not None and plain.cache is None
    try:
        fill(store, T0, T0 + 1500)
        for module in (None, "all", 2):
            for step in (60, 300, 120):
                for _ in range(2):  # the second read takes the head from the cache
                    plan = store.plan(T0, T0 + 3600, FIELDS, step, module)
                    _same(store.run(plan), plain.run(plan))
        assert store.cache.hits > 0
        hits = store.cache.hits
        # live seconds come in: buckets close (a new head), the open one grows (the head reused), always exact
        for t in (T0 + 1500, T0 + 1520, T0 + 1530):
            fill(store, t, t + 10)
            plan = store.plan(T0, T0 + 3600, FIELDS, 60, None)
            _same(store.run(plan), plain.run(plan))
        assert store.cache.hits > hits
        # a second written out of time order changes a closed bucket: the cache forgets, the answer is exact
        generation = store.cache.generation
        old = sample(T0 + 30)
        store.write([type(old)(T0 + 30, {**old.bank, "voltage_v": 99.0}, old.modules)])  # already stored: kept
        store.write([sample(T0 - 60)])  # a second before everything: a new bucket at the start
        assert store.cache.generation > generation
        plan = store.plan(T0 - 300, T0 + 3600, FIELDS, 60, None)
        _same(store.run(plan), plain.run(plan))
        assert store.run(plan).columns["t_s"][0] == T0 - 60
    finally:
        plain.close()
        store.close()
