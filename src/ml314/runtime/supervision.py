"""Supervised link threads: no exception ends a link while the process runs.

:class:`LinkHealth` is one link's ledger, shared by its threads: frames in and out, errors counted per kind and
reason (each logged once per kind and reason, then at most once a minute with the count since), the device lost
and reopened (an open fault while lost). :func:`start_supervised` runs a loop step on a daemon thread forever:
an exception from the step is counted and logged, the thread waits a short, growing pause and steps again.
:class:`Backoff` is the pause between reopen attempts of a lost device or socket.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.link_health import LinkHealthSnapshot

__all__ = ["Backoff", "LinkHealth", "start_supervised"]

LOG = logging.getLogger("ml314.links")

_LOG_EVERY_S = 60.0  # a kind of error already logged is logged again at most this often, with the count since
_RECENT_S = 60.0  # an error is an open fault of the link this long after it was last seen
_EVENTS = 50


class Backoff:
    """Pauses that double from ``first_s`` up to ``max_s``; :meth:`reset` after a success."""

    def __init__(self, first_s: float = 0.1, max_s: float = 5.0) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._next = first_s

    def next(self) -> float:
        """The pause to take now (and double the one after)."""
        pause = self._next
        self._next = min(self.max_s, self._next * 2.0)
        return pause

    def reset(self) -> None:
        self._next = self.first_s


class LinkHealth:
    """The ledger of one link, safe to update from any of its threads; :meth:`snapshot` freezes it."""

    def __init__(
        self,
        link: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger = LOG,
        log_every_s: float = _LOG_EVERY_S,
    ) -> None:
        self.link = link
        self.clock = clock
        self.log = log
        self.log_every_s = log_every_s
        self.frames_in = 0
        self.frames_out = 0
        self.reopens = 0
        self.connections = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._errors: dict[str, int] = {}
        self._last_seen: dict[SystemFaultKind, SystemFault] = {}
        self._logged: dict[str, tuple[float, int]] = {}  # key -> (when last logged, count then)
        self._events: deque[SystemFault] = deque(maxlen=_EVENTS)
        self._lost: SystemFault | None = None

    # ------------------------------------------------------------- counting
    def frame_in(self) -> None:
        self.frames_in += 1

    def frame_out(self) -> None:
        self.frames_out += 1

    def error(self, kind: SystemFaultKind, details: str, reason: str | None = None) -> None:
        """One bad frame or error: counted per ``kind:reason``, logged once per key with a rate limit."""
        key = f"{kind.value}:{reason or kind.value}"
        now = self.clock()
        fault = SystemFault(kind, details, link=self.link, t_s=now)
        with self._lock:
            n = self._errors.get(key, 0) + 1
            self._errors[key] = n
            self._last_seen[kind] = fault
            last = self._logged.get(key)
            if last is not None and now - last[0] < self.log_every_s:
                return
            self._logged[key] = (now, n)
            self._events.append(fault)
        if last is None:
            self.log.warning("%s: %s: %s", self.link, kind.value, details)
        else:
            self.log.warning("%s: %s: %s (%d more since)", self.link, kind.value, details, n - last[1])

    def exception(self, exc: BaseException, kind: SystemFaultKind = SystemFaultKind.LINK_ERROR) -> None:
        """An exception a link survived, counted under its type's name."""
        self.error(kind, f"{type(exc).__name__}: {exc}", reason=type(exc).__name__)

    def lost(self, details: str) -> bool:
        """The device or socket is gone: an open LINK_LOST fault until :meth:`reopened`. False if already lost."""
        fault = SystemFault(SystemFaultKind.LINK_LOST, details, link=self.link, t_s=self.clock())
        with self._lock:
            if self._lost is not None:
                return False
            self._lost = fault
            self._errors[f"{SystemFaultKind.LINK_LOST.value}:lost"] = (
                self._errors.get(f"{SystemFaultKind.LINK_LOST.value}:lost", 0) + 1
            )
            self._events.append(fault)
        self.log.warning("%s: link lost: %s; reopening with backoff", self.link, details)
        return True

    def reopened(self, details: str) -> None:
        """The device or socket is open again: the LINK_LOST fault closes, a LINK_REOPENED event is logged."""
        fault = SystemFault(SystemFaultKind.LINK_REOPENED, details, link=self.link, t_s=self.clock())
        with self._lock:
            self._lost = None
            self.reopens += 1
            self._events.append(fault)
        self.log.warning("%s: link reopened: %s", self.link, details)

    @property
    def is_lost(self) -> bool:
        return self._lost is not None

    # ------------------------------------------------------------- snapshot
    def snapshot(self) -> LinkHealthSnapshot:
        now = self.clock()
        with self._lock:
            faults = [] if self._lost is None else [self._lost]
            faults += [
                f
                for k, f in self._last_seen.items()
                if k is not SystemFaultKind.LINK_LOST and f.t_s is not None and now - f.t_s <= _RECENT_S
            ]
            return LinkHealthSnapshot(
                link=self.link,
                frames_in=self.frames_in,
                frames_out=self.frames_out,
                errors=tuple(sorted(self._errors.items())),
                faults=tuple(faults),
                events=tuple(self._events),
                lost=self._lost is not None,
                reopens=self.reopens,
                connections=self.connections,
                refused=self.refused,
            )


def start_supervised(
    step: Callable[[], None], stop: threading.Event, health: LinkHealth, name: str
) -> threading.Thread:
    """Run ``step`` on a daemon thread until ``stop`` is set; an exception from it is counted, logged, and the
    thread pauses (10 ms, doubling to 1 s while the step keeps failing) and steps again."""

    def run() -> None:
        backoff = Backoff(0.01, 1.0)
        failing = False
        while not stop.is_set():
            try:
                step()
            except Exception as exc:  # the point: no exception ends a link
                health.exception(exc)
                failing = True
                stop.wait(backoff.next())
                continue
            if failing:
                backoff.reset()
                failing = False

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
