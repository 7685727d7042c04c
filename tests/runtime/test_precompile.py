"""The first-start check: a cold or stale numba cache is told apart from a warm one by file names and times."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ml314.runtime.precompile import COMPILING_NOTICE, cache_is_warm, kernel_sources

TAG = f"py{sys.version_info.major}{sys.version_info.minor}"


def _tree(root: Path) -> Path:
    for sub in ("twin", "bms", "system"):
        (root / sub).mkdir(parents=True)
    (root / "twin" / "kernel.py").write_text("@njit(cache=True)\ndef step(x):\n    return x\n")
    (root / "bms" / "plain.py").write_text("def f():\n    return 1\n")
    return root / "twin" / "kernel.py"


@pytest.fixture(autouse=True)
def _no_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)


def test_only_files_with_cached_kernels_count(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    assert kernel_sources(tmp_path) == [source]


def test_an_empty_cache_is_cold(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert not cache_is_warm(tmp_path)


def test_an_index_newer_than_its_source_is_warm_and_an_edit_makes_it_stale(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    cache = source.parent / "__pycache__"
    cache.mkdir()
    index = cache / f"kernel.step-1.{TAG}.nbi"
    index.write_bytes(b"index")
    t = source.stat().st_mtime
    os.utime(index, (t + 10, t + 10))
    assert cache_is_warm(tmp_path)
    os.utime(source, (t + 20, t + 20))  # the source edited after the kernel was cached
    assert not cache_is_warm(tmp_path)


def test_the_notice_says_what_happens() -> None:
    assert COMPILING_NOTICE == "compiling the battery model (first start only)..."


def test_the_installed_package_has_kernels_to_check() -> None:
    names = {p.name for p in kernel_sources()}
    assert {"kernel.py", "closed_loop.py"} <= names
