"""Every test gets its own device data dir: ``ml314 run`` processes started by a test inherit ``ML314_DATA_DIR``,
so no test writes ``./ml314-data`` in the working tree or waits for another test's data dir lock."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("ml314-data")
    monkeypatch.setenv("ML314_DATA_DIR", str(path))
    return path


pytest_plugins = ["tests.postgres"]  # the private PostgreSQL server fixture
