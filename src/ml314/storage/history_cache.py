"""Results of history queries over closed buckets, kept in memory by the store that writes the history.

A chart asks for the same range again and again (the last week, re-read every few seconds, by every open page);
only its newest bucket changes as the live seconds come in. A bucket is *closed* once a sample after its end has
been written in time order: the writer only appends later seconds and recomputes the tier buckets they fall in, so
a closed bucket's row never changes again. :class:`ClosedBuckets` splits a plan at the newest closed bucket's end,
answers the head from its cache (filled once, whoever asks first) and leaves the tail (a bucket or two) to the
database.

What else changes stored rows (a write that is not in time order, a bulk load, a rebuild, the retention deleting
old rows) calls :meth:`ClosedBuckets.invalidate` after it committed; a head computed meanwhile is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from ml314.storage.history_query import HistoryResult, QueryPlan

__all__ = ["ClosedBuckets"]

#: heads kept (least recently used dropped first); a week of the bank at 5 min is 2016 rows of a few columns
CACHED_HEADS = 32
#: a head with more rows than this is not kept (memory bounded whatever is asked)
MAX_CACHED_ROWS = 100_000


class ClosedBuckets:
    """The cache of one store (thread-safe): :meth:`run` answers a plan as ``run_db`` would."""

    def __init__(self) -> None:
        self._heads: OrderedDict[tuple[Any, ...], HistoryResult] = OrderedDict()
        self._lock = threading.Lock()  # the dict and the generation
        self._fill = threading.Lock()  # one head computed at a time: the same head asked at once is computed once
        self.generation = 0
        self.hits = self.misses = 0

    def invalidate(self) -> None:
        """Stored rows changed other than by an in-order append: forget every head."""
        with self._lock:
            self.generation += 1
            self._heads.clear()

    def run(
        self, plan: QueryPlan, newest_t_s: int | None, run_db: Callable[[QueryPlan], HistoryResult]
    ) -> HistoryResult:
        """The result of ``plan`` when ``newest_t_s`` is the newest sample written in time order."""
        step = plan.step_s
        if newest_t_s is None or step % plan.tier.step_s:
            return run_db(plan)
        closed = min(plan.t_to_s, newest_t_s // step * step)
        if closed <= plan.t_from_s:
            return run_db(plan)
        key = (
            plan.tier.table.name,
            step,
            plan.module_id,
            plan.all_modules,
            tuple((r.name, r.agg) for r in plan.requests),
            plan.t_from_s,
            closed,
        )
        head = self._get(key)
        if head is None:
            with self._fill:
                head = self._get(key)
                if head is None:
                    generation = self.generation
                    head = run_db(replace(plan, t_to_s=closed))
                    self._put(key, head, generation)
        else:
            self.hits += 1
        if closed >= plan.t_to_s:
            return head
        return _concat(head, run_db(replace(plan, t_from_s=closed)))

    def _get(self, key: tuple[Any, ...]) -> HistoryResult | None:
        with self._lock:
            head = self._heads.get(key)
            if head is not None:
                self._heads.move_to_end(key)
            return head

    def _put(self, key: tuple[Any, ...], head: HistoryResult, generation: int) -> None:
        with self._lock:
            self.misses += 1
            if generation != self.generation or len(head) > MAX_CACHED_ROWS:
                return  # rows changed while it was read, or too big to keep
            self._heads[key] = head
            while len(self._heads) > CACHED_HEADS:
                self._heads.popitem(last=False)


def _concat(head: HistoryResult, tail: HistoryResult) -> HistoryResult:
    if not len(tail):
        return head
    if not len(head):
        return tail
    return HistoryResult(
        head.step_s, {name: np.concatenate((col, tail.columns[name])) for name, col in head.columns.items()}
    )
