"""An ASGI app served by uvicorn in a background thread: the emulator's, or the app under test's."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0 for any free port), to hand to uvicorn as ``sockets=[...]``.

    It is made with ``IPPROTO_TCP`` on purpose: asyncio turns Nagle's algorithm off only on
    sockets whose protocol says TCP. Without that, a keep-alive response whose body is written
    after its headers waits for the client's delayed ACK: about 40 ms on every request.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class BackgroundServer:
    """Serves an ASGI app with uvicorn in a background thread on 127.0.0.1.

    Useful in tests to run the app under test next to the emulator::

        with BackgroundServer(app) as server:
            user = SlackTestUser(emulator, f"{server.url}/slack/interactions", secret)
    """

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """Root URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._port is None:
            raise RuntimeError("the server is not running; call start() first")
        return f"http://{self._host}:{self._port}"

    def start(self, timeout: float = 10.0) -> None:
        """Bind a port and serve until `stop()`; returns once the server accepts requests."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        sock = listening_socket(self._host, self._requested_port)
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"uvicorn-{self._port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_started(timeout)

    def _wait_until_started(self, timeout: float) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._reset()
                raise RuntimeError("the server thread exited before it started serving")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the server thread to finish."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._reset()

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None
        self._port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
