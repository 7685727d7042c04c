"""A serial null-modem cable for tests: two pty pairs bridged, so both ends are real serial devices for pyserial."""

from __future__ import annotations

import os
import pty
import select
import threading
import tty
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def null_modem() -> Iterator[tuple[str, str]]:
    """Two device paths; bytes written to one arrive at the other (like ``socat pty pty``)."""
    m1, s1 = pty.openpty()
    m2, s2 = pty.openpty()
    for fd in (s1, s2):
        tty.setraw(fd)
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([m1, m2], [], [], 0.05)
            for src in ready:
                try:
                    data = os.read(src, 4096)
                except OSError:
                    return
                os.write(m2 if src == m1 else m1, data)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        yield os.ttyname(s1), os.ttyname(s2)
    finally:
        stop.set()
        t.join(timeout=2.0)
        for fd in (m1, s1, m2, s2):
            os.close(fd)
