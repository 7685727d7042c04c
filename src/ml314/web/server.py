"""The web application served by uvicorn on a thread of its own, beside ``ml314 run``'s run loop.

The listening socket is bound in :class:`WebServer`'s constructor, so a port in use is one clear error before the
bank starts, and port 0 gives the free port the system picked (:attr:`WebServer.url`, printed first). The
application comes later, with :meth:`WebServer.start`, once the bank runs (a client that connects meanwhile waits in
the listen queue). :meth:`WebServer.stop` asks uvicorn to finish (open WebSockets are closed) and joins the thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import uvicorn
from fastapi import FastAPI

from ml314.errors import InputError

__all__ = ["WebServer"]


class WebServer:
    """A socket listening on ``host:port`` (0: a free port); uvicorn serves an app on it from :meth:`start`."""

    def __init__(self, host: str, port: int, option: str = "--http") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            reason = exc.strerror or str(exc)
            raise InputError(
                f"{option} {host}:{port}: cannot listen ({reason}); another ml314 run? ({option} HOST:PORT, port 0 "
                f"picks a free one, or {option} off)"
            ) from None
        self.sock = sock
        self.host = host
        self.port = int(sock.getsockname()[1])
        self.server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, app: FastAPI) -> None:
        """Serve ``app`` on a daemon thread (uvicorn installs no signal handlers off the main thread)."""
        config = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=2,
        )
        self.server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self.sock]}, name="ml314-web", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Finish serving (the open WebSockets are closed) and join the thread."""
        server, thread = self.server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10.0)
            if thread.is_alive():  # a client that never lets go: close the connections now
                server.force_exit = True
                thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self.sock.close()
