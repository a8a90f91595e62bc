"""uvicorn serving an ASGI app inside the running event loop: ``serve``, the test harness and the demo.

Everything slack_hitl serves runs in an event loop that also holds the store, the engine and
their background work, so uvicorn is started as a task of that loop and stopped by the caller,
who then closes what it opened. Who owns SIGTERM and SIGINT differs: ``serve`` lets the
server take them (stop gracefully, then return normally so the store is closed); a test, the
demo (which stops its parts in order on Ctrl-C) or an app embedding slack_hitl keep them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from collections.abc import Iterator

import uvicorn

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STARTUP_TIMEOUT_SECONDS = 10.0


def freeze_startup_objects() -> None:
    """Leave what start-up made (modules, schemas, the app, the store) out of every later collection.

    They live as long as the process, yet each full collection walks them: about 150,000 objects
    in the web process, 46 ms, a pause that every request and decision in flight waits through. In
    ``benchmarks/bench_decide.py``'s runs on PostgreSQL at 50 deciders, full collections took 49-64
    ms without the freeze and 11-20 ms with it."""
    gc.collect()
    gc.freeze()


class AppServer(uvicorn.Server):
    """A ``uvicorn.Server`` for the running event loop.

    With ``stops_on_signals``, SIGTERM or SIGINT stops it gracefully (a second SIGINT stops
    waiting for requests in flight) and ``serve`` returns normally afterwards; uvicorn's own
    handling would raise the signal again once stopped, skipping the caller's clean-up.
    Without, signals stay with the caller, who stops the server with ``stop``.
    """

    def __init__(self, config: uvicorn.Config, *, stops_on_signals: bool = False) -> None:
        super().__init__(config)
        self.stops_on_signals = stops_on_signals
        self._serving: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.stops_on_signals:
            yield
            return
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._stop_requested, sig)
        try:
            yield
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    def _stop_requested(self, sig: int) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for in-flight requests
        self.should_exit = True

    async def start(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve in a task of this loop; return once it accepts requests, or raise why it could not."""
        self._serving = asyncio.create_task(self.serve(sockets=sockets))
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            while not self.started:
                if self._serving.done():
                    self._serving.result()  # raises why it did not start
                    raise RuntimeError("the server stopped before it started serving")
                await asyncio.sleep(0.01)

    async def stopped(self) -> None:
        """Wait until the server started with ``start`` has stopped (a signal, or ``stop``).

        Cancelling this wait leaves the server running.
        """
        if self._serving is not None:
            await asyncio.shield(self._serving)

    async def stop(self) -> None:
        """Stop taking requests, let the app's lifespan finish, and return once the server has stopped."""
        self.should_exit = True
        if self._serving is not None:
            await self._serving
