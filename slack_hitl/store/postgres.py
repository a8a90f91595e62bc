"""PostgreSQL on asyncpg's own connections: each statement one prepared execution, nothing more.

Through SQLAlchemy's async engine a statement costs a greenlet switch each way, a cursor, the
result's machinery, and a checkout a ``SELECT 1`` ping and a ``ROLLBACK`` on return: most of a
decision's CPU, and three of its round trips. Here the store's transactions (``transactions.Work``)
run on connections of an asyncpg pool:

- the statements are the ones every backend runs, compiled by SQLAlchemy for asyncpg once
  (``compiled``), so what is stored and read back is what the SQLAlchemy path stores and reads;
- asyncpg prepares each statement once per connection and keeps it (its statement cache), so a
  statement is one Bind/Execute round trip, and a list of parameters is one pipelined batch;
- a write is ``BEGIN``, its statements, ``COMMIT``; a read runs its statements as they come,
  each in its own snapshot, as READ COMMITTED gives a read transaction anyway;
- a connection goes back to the pool as it is: the store sets no session state, so asyncpg's
  reset query (``RESET ALL``, ``UNLISTEN *``, ...) would be one more round trip for nothing.

The engine stays for migrations, ``connection()`` (extensions' own tables) and the schema check.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

from slack_hitl.errors import StoreUnavailable
from slack_hitl.store.compiled import MANY, CompiledStatements
from slack_hitl.store.transactions import (
    NO_ROWS,
    ConstraintViolated,
    Database,
    Params,
    Rows,
    TransactionConflict,
    Work,
)

T = TypeVar("T")

POOL_SIZE = 30
"""The most connections a process holds (as the SQLAlchemy pool's 10 + 20 overflow did). Group
commit writes concurrent decisions together, so a busy web process needs few of them."""
STATEMENT_CACHE_SIZE = 1024
"""Prepared statements kept per connection: the row CAS is compiled for a handful of batch sizes,
and a statement with an ``IN`` list once per length of the list (up to ``statements.MAX_BATCH``)."""

_AWAY = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,  # the connection was closed or lost under a statement
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
"""What says the database cannot be reached now, rather than that it refused a statement."""


class PostgresDatabase(Database):
    """The store's transactions on an asyncpg pool of the engine's database."""

    writers_side_by_side = True

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._statements = CompiledStatements.of(engine.dialect)
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._query_loggers: list[Callable[[str], None]] = []

    async def log_queries(self, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with the SQL of every statement this database runs from now on (asyncpg's
        query loggers, on connections made from now on: the open ones are replaced). For tests and debugging."""
        self._query_loggers.append(callback)
        if self._pool is not None:
            await self._pool.expire_connections()

    async def read(self, work: Work[T]) -> T:
        try:
            async with (await self._open()).acquire() as conn:
                return await self._run(conn, work)
        except _AWAY as error:
            raise StoreUnavailable.because(error) from error

    async def write(self, work: Work[T], *, urgent: bool = False) -> T:
        # ``urgent`` orders writers within a process where the database takes one writer at a time
        # (SQLite); PostgreSQL runs this process's writers side by side.
        try:
            async with (await self._open()).acquire() as conn, conn.transaction():
                return await self._run(conn, work)
        except _AWAY as error:
            raise StoreUnavailable.because(error) from error

    def connection(self, *, urgent: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._begin()

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        await super().close()

    async def _open(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    # min_size=0: connections are made when first needed, so opening a store
                    # while the database is away is not an error; its first use is.
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=POOL_SIZE,
                        statement_cache_size=STATEMENT_CACHE_SIZE,
                        init=self._set_up_connection,
                        reset=_keep_as_is,
                    )
        return self._pool

    async def _set_up_connection(self, conn: asyncpg.Connection) -> None:
        await _json_as_sqlalchemy_does(conn)
        for callback in self._query_loggers:
            conn.add_query_logger(lambda query, callback=callback: callback(query.query))

    async def _run(self, conn: asyncpg.Connection, work: Work[T]) -> T:
        statements = self._statements
        try:
            step = next(work)
            while True:
                step = work.send(await _execute(statements, conn, *step))
        except StopIteration as done:
            return done.value
        finally:
            work.close()


async def _execute(
    statements: CompiledStatements, conn: asyncpg.Connection, statement: Executable, params: Params
) -> Rows:
    try:
        if isinstance(params, MANY):
            if not params:
                return NO_ROWS
            plan = statements.plan(statement, params[0])
            await conn.executemany(plan.sql, [plan.values(p) for p in params])
            return NO_ROWS
        one: Any = params  # not a list or tuple: one statement's
        plan = statements.plan(statement, one)
        if plan.keys:
            return plan.rows([tuple(record) for record in await conn.fetch(plan.sql, *plan.values(one))])
        status: str = await conn.execute(plan.sql, *plan.values(one))
    except asyncpg.IntegrityConstraintViolationError as error:
        raise ConstraintViolated(str(error)) from error
    except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as error:
        raise TransactionConflict(str(error)) from error
    # "UPDATE 3", "DELETE 0", "INSERT 0 1": the count is the last word.
    return Rows((), (), int(status.rpartition(" ")[2] or 0))


async def _json_as_sqlalchemy_does(conn: asyncpg.Connection) -> None:
    """JSON in and out as SQLAlchemy's asyncpg dialect sets it up: text that SQLAlchemy's own
    JSON type serialises on the way in (a plan's bind conversion) and this parses on the way out."""
    await conn.set_type_codec(
        "json",
        encoder=str.encode,
        decoder=lambda value: json.loads(value.decode()),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + value.encode(),
        decoder=lambda value: json.loads(value[1:].decode()),
        schema="pg_catalog",
        format="binary",
    )


async def _keep_as_is(_conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is (the module's docstring says why)."""
