"""Wake-ups: a process that leaves work to the workers tells them it is there, instead of them asking.

A wake-up is only a hint. Who does the work is still decided by the store's conditional updates
(the resume CAS, the lease), and a wake-up that is lost (no worker listening yet, a connection
that broke, a full pipe) is caught by the workers' slow safety sweep. So sending one never
blocks and never fails the caller, and it carries nothing: a woken worker looks in the store.

How it travels depends on the database, chosen once when the store opens:

- PostgreSQL: ``NOTIFY slack_hitl_wakeup`` on a connection of its own; each listening process
  (on any host sharing the database) holds a ``LISTEN`` connection, re-made when it breaks.
- A SQLite file (one host): a FIFO next to the database file (``<file>-wakeup``, beside SQLite's
  ``-wal`` and ``-shm``). The sender writes a byte without blocking; each byte wakes one of the
  listening processes, which is all a hint needs (any worker can claim the work). No listener,
  or a full pipe: nothing is written, and nothing is lost that the sweep will not find.
- SQLite in memory: one process, so its own listeners are told directly.

``wake`` is coalesced: however many changes one turn of the event loop makes, one wake-up leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("slack_hitl.store.wakeups")

CHANNEL = "slack_hitl_wakeup"
"""The PostgreSQL notification channel."""
FIFO_SUFFIX = "-wakeup"
"""The FIFO's name is the SQLite file's with this appended."""
RECONNECT_SECONDS = (0.5, 30.0)
"""The first and the longest pause before a broken LISTEN connection is made again."""


class Subscription:
    """One listener's view of the wake-ups: ``wait`` returns when one arrived since the last ``wait``."""

    def __init__(self, wakeups: Wakeups) -> None:
        self._wakeups = wakeups
        self._woken = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up; ``True`` when one came (and it is consumed)."""
        if not self._woken.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), timeout)
        woken = self._woken.is_set()
        self._woken.clear()
        return woken

    def close(self) -> None:
        self._wakeups._subscriptions.discard(self)

    def _wake(self) -> None:
        self._woken.set()


class Wakeups:
    """The wake-ups of one store; this base is the in-process kind (SQLite in memory).

    ``wake`` tells the listening processes (coalesced per turn of the loop); ``subscribe`` gives a
    ``Subscription`` and makes this process listen; ``close`` stops sending and listening.
    ``sent`` and ``received`` count wake-ups, for the tests and the metrics.
    """

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._scheduled = False
        self.sent = 0
        self.received = 0

    def wake(self) -> None:
        """Tell the listening processes that there is work; returns at once, never raises."""
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the sweep will find the work
            return
        self._scheduled = True
        loop.call_soon(self._flush)

    def wake_here(self) -> None:
        """Wake this process's own listeners (its sweepers look again), as soon as this turn of the loop ends."""
        if self._subscriptions:
            asyncio.get_running_loop().call_soon(self._deliver)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscriptions.add(subscription)
        self._listen()
        return subscription

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()

    def _flush(self) -> None:
        self._scheduled = False
        self.sent += 1
        self._send()

    def _send(self) -> None:
        self._deliver()

    def _listen(self) -> None:
        pass

    def _deliver(self) -> None:
        self.received += 1
        for subscription in self._subscriptions:
            subscription._wake()


class FifoWakeups(Wakeups):
    """Wake-ups through a FIFO next to a SQLite file: the processes of one host."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._writer: int | None = None
        self._reader: int | None = None

    def _send(self) -> None:
        try:
            if self._writer is None:
                self._writer = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            os.write(self._writer, b"!")
        except FileNotFoundError:
            pass  # no process has listened yet: nobody to wake
        except OSError as error:
            if error.errno == errno.EAGAIN:
                return  # the pipe is full: the listeners have wake-ups enough to read
            # ENXIO: no listener now; EPIPE: the listeners went away. Open again next time.
            self._close_writer()

    def _listen(self) -> None:
        if self._reader is not None:
            return
        try:
            _make_fifo(self.path)
            # Read and write: the FIFO then always has a writer, so it never reads as ended (which
            # would wake the loop forever) when senders come and go.
            self._reader = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as error:
            log.warning("wakeups_not_listening", path=str(self.path), error=f"{type(error).__name__}: {error}")
            return
        asyncio.get_running_loop().add_reader(self._reader, self._readable)

    def _readable(self) -> None:
        assert self._reader is not None
        try:
            while os.read(self._reader, 4096):
                pass
        except BlockingIOError:
            pass
        self._deliver()

    async def close(self) -> None:
        await super().close()
        self._close_writer()
        if self._reader is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                asyncio.get_running_loop().remove_reader(self._reader)
            os.close(self._reader)
            self._reader = None

    def _close_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError):
                os.close(self._writer)
            self._writer = None


def _make_fifo(path: Path) -> None:
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        if not stat.S_ISFIFO(path.stat().st_mode):
            raise FileExistsError(errno.EEXIST, "exists and is not a FIFO", str(path)) from None


class PostgresWakeups(Wakeups):
    """Wake-ups by ``NOTIFY`` / ``LISTEN``: every process sharing the PostgreSQL database, on any host."""

    def __init__(self, dsn: str, connect: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self._dsn = dsn
        self._connect = connect or _asyncpg_connect
        self._sender: Any = None
        self._sending: asyncio.Task[None] | None = None
        self._again = False
        self._listening: asyncio.Task[None] | None = None

    def _send(self) -> None:
        # One NOTIFY in flight at a time; wake-ups meanwhile make one more when it is done.
        if self._sending is not None and not self._sending.done():
            self._again = True
            return
        self._sending = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                if self._sender is None or self._sender.is_closed():
                    self._sender = await self._connect(self._dsn)
                await self._sender.execute(f"NOTIFY {CHANNEL}")
            except Exception as error:  # the database is away: the sweep finds the work later
                log.warning("wakeup_not_sent", error=f"{type(error).__name__}: {error}")
                await self._close_sender()
                return

    def _listen(self) -> None:
        if self._listening is None:
            self._listening = asyncio.get_running_loop().create_task(self._keep_listening())

    async def _keep_listening(self) -> None:
        pause = RECONNECT_SECONDS[0]
        while True:
            ended = asyncio.Event()
            try:
                connection = await self._connect(self._dsn)
            except Exception as error:
                log.warning("wakeups_not_listening", error=f"{type(error).__name__}: {error}", retry_in=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_SECONDS[1])
                continue
            try:
                connection.add_termination_listener(lambda _connection, ended=ended: ended.set())
                await connection.add_listener(CHANNEL, lambda *_notification: self._deliver())
                pause = RECONNECT_SECONDS[0]
                self._deliver()  # what was sent while nobody listened is looked for now
                await ended.wait()
                log.warning("wakeups_connection_lost")
            except Exception as error:
                log.warning("wakeups_not_listening", error=f"{type(error).__name__}: {error}", retry_in=pause)
                await asyncio.sleep(pause)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    async def close(self) -> None:
        await super().close()
        tasks = [task for task in (self._listening, self._sending) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._listening = self._sending = None
        await self._close_sender()

    async def _close_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender.close(timeout=2)


async def _asyncpg_connect(dsn: str) -> Any:
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

    return await asyncpg.connect(dsn)
