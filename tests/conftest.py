"""Every test gets its own device data dir: ``ml314 run`` processes started by a test inherit ``ML314_DATA_DIR``,
so no test writes ``./ml314-data`` in the working tree or waits for another test's data dir lock. They also inherit
``ML314_HTTP=off``: no web application unless a test asks for one (``--http 127.0.0.1:0``), so tests in parallel
never contend for the default port 8314. That one is set for the whole session (:func:`pytest_configure`): a
module-scoped fixture starts its ``ml314 run`` before any function-scoped fixture runs.

A test marked ``@pytest.mark.long`` (tens of seconds of work) is collected first, so that with ``pytest -n`` it
starts at once and overlaps the many short tests instead of running alone at the end.

Hypothesis runs without its per-example deadline: a test checks behaviour, never this machine's speed (a busy
host made a 200 ms deadline fail examples that were right)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ml314", deadline=None)
settings.load_profile("ml314")


def pytest_configure(config: pytest.Config) -> None:
    os.environ["ML314_HTTP"] = "off"
    config.addinivalue_line("markers", "long: tens of seconds of work; scheduled first (tests/conftest.py)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: the long ones first


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("ml314-data")
    monkeypatch.setenv("ML314_DATA_DIR", str(path))
    monkeypatch.setenv("ML314_HTTP", "off")
    return path


pytest_plugins = ["tests.postgres"]  # the private PostgreSQL server fixture
