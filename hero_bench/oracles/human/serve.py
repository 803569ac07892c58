"""Run an ASGI app (uvicorn) in a background thread, so that a blocking `judge` call can serve a web page.

Why a pre-bound socket: uvicorn reports "address already in use" by exiting its thread, which a caller
cannot catch; binding ourselves turns that into a clear error and makes `port=0` (any free port) usable.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

from hero_bench.errors import HeroBenchError

LOOPBACK = "127.0.0.1"


class ServerStartError(HeroBenchError):
    """The web server could not start (port taken, host not local, ...); the message says what to change."""

    reason = ""
    """The operating system's words for why (e.g. "Address already in use"), for callers that phrase the fix."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port), or a clear error naming the fix."""
    if not 0 <= port <= 65535:  # bind() would raise OverflowError, which is no OSError
        raise ServerStartError(f"port {port} is not a TCP port (0-65535; 0 picks a free one)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        error = ServerStartError(
            f"cannot listen on {host}:{port} ({e.strerror or e}): pass another --port (for a run: --oracle-option "
            "port=N; 0 picks a free one)" + ("" if is_loopback(host) else " or a --host address this machine owns")
        )
        error.reason = str(e.strerror or e)
        raise error from e
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """uvicorn serving `app` from a daemon thread; `stop()` shuts it down (also used as a context manager)."""

    def __init__(self, app: Any, host: str = LOOPBACK, port: int = 0, startup_timeout: float = 20.0) -> None:
        import uvicorn

        self.host = host
        self._sock = bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2,
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"hero-bench-web-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"the web server on {host}:{self.port} did not start")
            time.sleep(0.01)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit, wait for the thread, release the port."""
        self._server.should_exit = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
