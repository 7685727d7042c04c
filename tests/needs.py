"""Tests that need a program outside Python (PostgreSQL's binaries, Chromium): skipped with the reason where it is
missing, failed instead under ``ML314_REQUIRE_SYSTEM=1`` (set by ``.ci/run``; ``make test`` installs the programs
first through ``scripts/system-packages``), so CI never skips them silently."""

from __future__ import annotations

import os

import pytest

REQUIRED = os.environ.get("ML314_REQUIRE_SYSTEM") == "1"


def missing(what: str) -> None:
    """Stop a fixture that cannot find ``what``: skip, or fail on CI."""
    message = f"needs {what} (scripts/system-packages installs it)"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)
