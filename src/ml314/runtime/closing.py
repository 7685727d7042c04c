"""Releasing what a running job opened (threads, links, stores): the newest first, every one tried."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ml314.storage.history import HistoryRetention, HistoryStore, history_url


def close_newest_first(closers: list[Callable[[], None]], echo: Callable[[str], None]) -> None:
    """Call and remove every closer, the last added first; a closer that fails is said by ``echo`` and the rest
    still run (a stop must release everything it can)."""
    while closers:
        closer = closers.pop()
        try:
            closer()
        except Exception as exc:
            echo(f"ml314: warning: while closing: {exc}")


def open_history(
    db: str | None, data_dir: Path | None, retention: HistoryRetention, close: Callable[[], None]
) -> HistoryStore | None:
    """The history store ``--db`` names (None: ``--db off``); if it cannot open, ``close`` releases what the job
    had already opened before the error goes on."""
    url = history_url(db, data_dir)
    if url is None:
        return None
    try:
        return HistoryStore(url, retention)
    except BaseException:
        close()
        raise
