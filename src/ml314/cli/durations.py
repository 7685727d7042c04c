"""Durations as people type them (the rule lives in :mod:`ml314.domain.durations`)."""

from __future__ import annotations

from ml314.domain.durations import parse_duration_s

__all__ = ["parse_duration_s"]
