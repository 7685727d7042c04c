"""A sliding-window rate limit per key (a client address, a user): at most ``limit`` hits per ``window_s``.

Kept in the memory of one process (each cloud worker counts for itself); the per-account lockout that matters
against password guessing is in the database (``cloud/accounts.py``), shared by every worker. Time is an argument.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from ml314.cloud.refusals import TooManyTriesError

__all__ = ["RateLimit"]


class RateLimit:
    """At most ``limit`` hits per key within any ``window_s`` seconds; at most ``max_keys`` keys remembered (the
    longest idle forgotten first)."""

    def __init__(self, limit: int, window_s: float, what: str, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.what = what
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now_s: float) -> None:
        """Count one hit of ``key`` at ``now_s``; :class:`TooManyTriesError` (not counted) when the window is full."""
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now_s - self.window_s:
                hits.popleft()
            self._hits[key] = hits  # re-inserted: the dict's order is the order of last use
            if len(hits) >= self.limit:
                wait_s = max(1.0, math.ceil(hits[0] + self.window_s - now_s))
                raise TooManyTriesError(
                    f"too many {self.what} from here: try again in {wait_s:.0f} s", wait_s, "rate_limited"
                )
            hits.append(now_s)
            while len(self._hits) > self.max_keys:
                del self._hits[next(iter(self._hits))]
