"""A SQLite file, each transaction run whole in a thread of its own: one hop from the event loop.

Through SQLAlchemy and aiosqlite, every cursor, execute, fetch, close, commit and pool reset of
a transaction is a hop to the driver's thread and back, and those hops were most of a
decision's CPU (benchmarks/bench_decide.py measures it). Here a transaction is one hop: a
writer thread and a reader thread, each with its own sqlite3 connection, run the store's
transactions (``transactions.Work``) from start to end.

They execute the same statements as every other backend, compiled by SQLAlchemy for SQLite
once (``compiled``), so what is stored and read back is what the SQLAlchemy path stores and reads.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

from slack_hitl.store import sqlite
from slack_hitl.store.compiled import MANY, CompiledStatements
from slack_hitl.store.transactions import NO_ROWS, ConstraintViolated, Database, Params, Rows, Work
from slack_hitl.store.writers import WriterQueue

T = TypeVar("T")
_CHANGED = tuple(Rows((), (), count) for count in range(4))
"""What a statement that returns no rows answers, by the count it changed (the usual counts made once)."""


class SqliteFileDatabase(Database):
    """The store's transactions on a SQLite file: writes in this process's writer queue, then on
    the writer thread; reads on the reader thread, each in one snapshot."""

    def __init__(self, engine: AsyncEngine, file: sqlite.SqliteFile) -> None:
        self.engine = engine
        self._writers = WriterQueue()
        self._statements = CompiledStatements.of(engine.dialect)
        self._writer = _SqliteThread(file, "slack_hitl-sqlite-write", waits_for_writers_itself=True)
        self._reader = _SqliteThread(file, "slack_hitl-sqlite-read")

    async def read(self, work: Work[T]) -> T:
        result: T = await self._reader.run(self._read, work)
        return result

    async def write(self, work: Work[T], *, urgent: bool = False) -> T:
        async with self._writers.hold(urgent=urgent):
            result: T = await self._writer.run(self._write, work)
            return result

    def connection(self, *, urgent: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return sqlite.write_connection(self.engine, self._writers, urgent=urgent)

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()
        await super().close()

    def _read(self, conn: sqlite3.Connection, work: Work[T]) -> T:
        conn.execute("BEGIN")
        try:
            return self._run(conn, work)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _write(self, conn: sqlite3.Connection, work: Work[T]) -> T:
        sqlite.begin_immediate(conn)
        try:
            result = self._run(conn, work)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _run(self, conn: sqlite3.Connection, work: Work[T]) -> T:
        statements = self._statements
        try:
            step = next(work)
            while True:
                step = work.send(_execute(statements, conn, *step))
        except StopIteration as done:
            return done.value
        finally:
            work.close()


def _execute(statements: CompiledStatements, conn: sqlite3.Connection, statement: Executable, params: Params) -> Rows:
    try:
        if isinstance(params, MANY):
            if not params:
                return NO_ROWS
            plan = statements.plan(statement, params[0])
            conn.executemany(plan.sql, [plan.values(p) for p in params])
            return NO_ROWS
        one: Mapping[str, Any] = params  # type: ignore[assignment]  # not a list or tuple: one statement's
        plan = statements.plan(statement, one)
        cursor = conn.execute(plan.sql, plan.values(one))
    except sqlite3.IntegrityError as error:
        raise ConstraintViolated(str(error)) from error
    if cursor.description is None:
        count = cursor.rowcount
        return _CHANGED[count] if count < len(_CHANGED) else Rows((), (), count)
    return plan.rows(cursor.fetchall())


class _SqliteThread:
    """One SQLite connection and the one thread that uses it: ``run`` calls a function with it there."""

    def __init__(self, file: sqlite.SqliteFile, name: str, *, waits_for_writers_itself: bool = False) -> None:
        self._file = file
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._waits_for_writers_itself = waits_for_writers_itself

    async def run(self, work: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work, args)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _call(self, work: Callable[..., Any], args: Sequence[Any]) -> Any:
        return work(self._connection(), *args)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._file.filename,
                timeout=sqlite.LOCK_WAIT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
                uri=self._file.uri,
            )
            sqlite.configure(conn)
            if self._waits_for_writers_itself:
                conn.execute("PRAGMA busy_timeout=0")  # sqlite.begin_immediate waits, in finer steps
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
