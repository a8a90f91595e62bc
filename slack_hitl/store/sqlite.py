"""SQLite as slack_hitl uses it: one list of connection settings, the write lock taken up front,
and what a URL names (a file every connection shares, or a database in memory)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slack_hitl.store.writers import WriterQueue

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)
"""Every SQLite connection slack_hitl opens, through SQLAlchemy or on its own, starts with these."""
LOCK_WAIT_SECONDS = 30.0
"""How long a writer waits for another process's write before giving up (as busy_timeout above)."""


def configure(dbapi_connection: Any) -> None:
    """Apply ``PRAGMAS`` to a new connection: sqlite3's own, or aiosqlite's adapter of one."""
    cursor = dbapi_connection.cursor()
    for pragma in PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def tune(engine: AsyncEngine) -> None:
    """Configure the engine's connections; its write transactions take the write lock up front."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves, so that writers take the lock up front (BEGIN IMMEDIATE)
        # instead of failing to upgrade a read lock later.
        dbapi_connection.isolation_level = None
        configure(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("slack_hitl_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@asynccontextmanager
async def write_connection(
    engine: AsyncEngine, writers: WriterQueue, *, urgent: bool
) -> AsyncIterator[AsyncConnection]:
    """A SQLAlchemy write transaction (``BEGIN IMMEDIATE``) on a tuned engine, in this process's writer queue."""
    async with writers.hold(urgent=urgent), engine.connect() as raw:
        conn = await raw.execution_options(slack_hitl_write=True)
        async with conn.begin():
            yield conn


def begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write in steps of a fraction of a millisecond.

    SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries, so a click whose write met
    another process's brief one (a worker marking a message rendered) waited several
    milliseconds for nothing (benchmarks/bench_interactions.py runs a web process and workers
    on one file). Gives up, as busy_timeout would, after ``LOCK_WAIT_SECONDS``.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    pause = 0.0001
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.002)


@dataclass(frozen=True)
class SqliteFile:
    """What sqlite3 opens for a SQLite URL, as SQLAlchemy's driver would open it."""

    filename: str
    uri: bool

    @classmethod
    def of(cls, url: URL) -> SqliteFile:
        (filename, *_), options = url.get_dialect()().create_connect_args(url)
        return cls(str(filename), bool(options.get("uri")))

    @property
    def in_memory(self) -> bool:
        """Whether each connection would get a database of its own (``:memory:``, ``file::memory:``,
        ``mode=memory``): such a database is only ever as shared as its one connection."""
        if self.filename in ("", ":memory:"):
            return True
        if not self.uri:
            return False
        path, _, query = self.filename.partition("?")
        return path in ("file::memory:", "file:") or "mode=memory" in query.split("&")
