"""A serial null-modem cable for tests: the product's own pty pair (both ends real devices for pyserial)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ml314.adapters.serial_link import PtyNullModem


@contextmanager
def null_modem() -> Iterator[tuple[str, str]]:
    """Two device paths; bytes written to one arrive at the other (like ``socat pty pty``)."""
    modem = PtyNullModem()
    try:
        yield modem.paths
    finally:
        modem.close()
