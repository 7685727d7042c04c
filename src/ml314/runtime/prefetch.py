"""Compute the next item of an iterator on another thread while the caller works on the current one.

Used for the sensor-noise blocks of the compiled closed loop: numpy draws the next block while the loop (compiled
without the GIL) runs on the current one, so a 2-core machine does both at once. The order of the items, and so
every random draw, is exactly that of the wrapped iterator.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Prefetch(Iterator[T]):
    """An iterator that keeps the next item of ``source`` ready."""

    def __init__(self, source: Iterator[T]) -> None:
        self._source = source
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ml314-prefetch")
        self._next: Future[T] = self._pool.submit(next, source)

    def __next__(self) -> T:
        item = self._next.result()
        self._next = self._pool.submit(next, self._source)
        return item

    def close(self) -> None:
        """Stop the worker thread."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def prefetch(source: Iterator[T]) -> Prefetch[T]:
    """Wrap ``source`` so its next item is computed in the background."""
    return Prefetch(source)
