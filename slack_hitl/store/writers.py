"""This process's SQLite writers, one at a time, urgent ones first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriterQueue:
    """This process's SQLite writers, one at a time; urgent ones first.

    SQLite has one writer at a time anyway: queueing them here spares them SQLite's busy
    handler (which sleeps), and lets a decision someone waits on overtake bookkeeping.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._urgent = 0
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()

    @asynccontextmanager
    async def hold(self, *, urgent: bool) -> AsyncIterator[None]:
        if urgent:
            self._urgent += 1
            self._no_urgent.clear()
            try:
                async with self._lock:
                    yield
            finally:
                self._urgent -= 1
                if not self._urgent:
                    self._no_urgent.set()
            return
        while True:
            await self._no_urgent.wait()
            await self._lock.acquire()
            if not self._urgent:
                break
            self._lock.release()  # an urgent writer came while we waited: it goes first
        try:
            yield
        finally:
            self._lock.release()
