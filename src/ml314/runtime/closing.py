"""Releasing what a running job opened (threads, links, stores): the newest first, every one tried."""

from __future__ import annotations

from collections.abc import Callable


def close_newest_first(closers: list[Callable[[], None]], echo: Callable[[str], None]) -> None:
    """Call and remove every closer, the last added first; a closer that fails is said by ``echo`` and the rest
    still run (a stop must release everything it can)."""
    while closers:
        closer = closers.pop()
        try:
            closer()
        except Exception as exc:
            echo(f"ml314: warning: while closing: {exc}")
