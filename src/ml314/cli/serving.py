"""What ``ml314 run`` and ``ml314 monitor`` share around their loop: the web application on its socket (bound
first, so its URL is the first line printed), the history behind it, the live status output, and Ctrl-C/SIGTERM
as a clean stop."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from ml314.runtime.surface import SurfacePort
    from ml314.storage.history import HistoryStore
    from ml314.web.server import WebServer

__all__ = ["StatusOutput", "listen_web", "stop_on_signals", "web_app"]


def listen_web(address: tuple[str, int] | None, option: str = "--http") -> WebServer | None:
    """The web application's socket on ``address`` (None: ``off``); a port in use is an InputError now, naming
    ``option``."""
    if address is None:
        return None
    from ml314.web.server import WebServer  # noqa: PLC0415

    return WebServer(*address, option=option)


def web_app(surface: SurfacePort, history: HistoryStore | None, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The API and the pages on ``surface``, with the history of ``history`` and any further ``routers``."""
    from ml314.web.app import create_app  # noqa: PLC0415
    from ml314.web.history_api import history_router  # noqa: PLC0415
    from ml314.web.lcd_api import lcd_router  # noqa: PLC0415
    from ml314.web.pages import pages_router  # noqa: PLC0415

    return create_app(surface, routers=[lcd_router(), history_router(history), *routers, pages_router()])


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM call ``stop`` while the block runs; the previous handlers come back after."""

    def handler(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@dataclass
class StatusOutput:
    """The live status line: rewritten in place on a terminal, one line per update otherwise (a log)."""

    quiet: bool = False
    default_width: int = 80

    def __post_init__(self) -> None:
        self.tty = sys.stdout.isatty()
        columns = shutil.get_terminal_size((self.default_width + 1, 24)).columns
        self.width = max(40, columns - 1) if self.tty else self.default_width

    def show(self, line: str) -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stdout.write("\r\x1b[2K" + line)
            sys.stdout.flush()
        else:
            typer.echo(line)

    def detail(self, line: str) -> None:
        """A line of its own, above the status (a fault appeared or cleared)."""
        if self.tty and not self.quiet:
            sys.stdout.write("\r\x1b[2K")
        typer.echo(line)

    def finish(self) -> None:
        if self.tty and not self.quiet:
            sys.stdout.write("\n")
