"""Which database runs the store's transactions, chosen once from the URL when the store opens.

- PostgreSQL: ``PostgresDatabase``, the statements on an asyncpg pool of its own; several
  processes, even hosts, share the database.
- A SQLite file: ``SqliteFileDatabase``, each transaction one hop to a thread of its own; other
  processes may share the file (a service's web and worker processes do).
- SQLite in memory (``sqlite://``, ``:memory:``, a ``file:`` URI with ``mode=memory``): SQLAlchemy
  on ONE connection, since every connection to such a URL gets a database of its own. The
  database lives as long as the store; no other process can see it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from slack_hitl.errors import StoreUnavailable
from slack_hitl.store import sqlite
from slack_hitl.store.postgres import PostgresDatabase
from slack_hitl.store.sqlite_file import SqliteFileDatabase
from slack_hitl.store.transactions import NO_ROWS, ConstraintViolated, Database, Rows, Work
from slack_hitl.store.wakeups import FIFO_SUFFIX, FifoWakeups, PostgresWakeups, Wakeups
from slack_hitl.store.writers import WriterQueue

T = TypeVar("T")


def database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver (aiosqlite, asyncpg)."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }
    backend = parsed.drivername.split("+")[0]
    if backend in driver and "+" not in parsed.drivername:
        parsed = parsed.set(drivername=driver[backend])
    return parsed.render_as_string(hide_password=False)


def in_memory(url: str) -> bool:
    """Whether ``url`` names a SQLite database in memory: one connection's own, which no other process sees."""
    parsed = make_url(database_url(url))
    return parsed.get_backend_name() == "sqlite" and sqlite.SqliteFile.of(parsed).in_memory


def create_engine(url: str) -> AsyncEngine:
    """SQLAlchemy's engine for ``url`` as the store uses it (its pool, and SQLite's settings)."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)
    # In memory, the pool's one connection IS the database: every use of the engine takes turns on it.
    connections = 1 if sqlite.SqliteFile.of(parsed).in_memory else 8
    engine = create_async_engine(
        parsed,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=connections,
        max_overflow=0 if connections == 1 else 8,
        connect_args={"timeout": 30},
    )
    sqlite.tune(engine)
    return engine


def open_database(engine: AsyncEngine) -> Database:
    """The database the store's transactions run on, for ``engine`` (made by ``create_engine``)."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
        return PostgresDatabase(engine)
    if engine.dialect.name != "sqlite":
        return SqlAlchemyDatabase(engine)
    file = sqlite.SqliteFile.of(engine.url)
    if not file.in_memory:
        return SqliteFileDatabase(engine, file)
    if not isinstance(engine.pool, AsyncAdaptedQueuePool) or engine.pool.size() != 1:
        raise ValueError(
            f"an in-memory SQLite database ({engine.url}) is one connection's own: open its store with "
            "Store.open(url), which keeps to one connection, or use a SQLite file (sqlite:///path/to/hitl.db)"
        )
    return SqlAlchemyDatabase(engine, writers=WriterQueue())


def open_wakeups(engine: AsyncEngine) -> Wakeups:
    """How processes sharing ``engine``'s database wake each other (``wakeups`` says why each way)."""
    if engine.dialect.name != "sqlite":
        return PostgresWakeups(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
    file = sqlite.SqliteFile.of(engine.url)
    if file.in_memory:
        return Wakeups()
    path = file.filename.removeprefix("file:").partition("?")[0] if file.uri else file.filename
    return FifoWakeups(Path(path).resolve().with_name(Path(path).name + FIFO_SUFFIX))


class SqlAlchemyDatabase(Database):
    """The store's transactions on SQLAlchemy's async connections, each statement awaited in turn.

    With ``writers`` (SQLite), a write transaction takes the write lock up front (``BEGIN
    IMMEDIATE``) in this process's writer queue."""

    def __init__(self, engine: AsyncEngine, *, writers: WriterQueue | None = None) -> None:
        self.engine = engine
        self._writers = writers
        self.writers_side_by_side = engine.dialect.name != "sqlite"

    async def read(self, work: Work[T]) -> T:
        try:
            async with self.engine.connect() as conn:
                return await _run(conn, work)
        except (DBAPIError, OSError) as error:
            if _is_away(error):
                raise StoreUnavailable.because(error) from error
            raise

    async def write(self, work: Work[T], *, urgent: bool = False) -> T:
        try:
            async with self.connection(urgent=urgent) as conn:
                return await _run(conn, work)
        except (DBAPIError, OSError) as error:
            if _is_away(error):
                raise StoreUnavailable.because(error) from error
            raise

    def connection(self, *, urgent: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        if self._writers is not None:
            return sqlite.write_connection(self.engine, self._writers, urgent=urgent)
        return self._begin()

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn


def _is_away(error: DBAPIError | OSError) -> bool:
    """Whether ``error`` says the database cannot be reached (rather than refusing a statement)."""
    return isinstance(error, OSError | OperationalError | InterfaceError) or error.connection_invalidated


async def _run(conn: AsyncConnection, work: Work[T]) -> T:
    try:
        statement, params = next(work)
        while True:
            try:
                result = await conn.execute(statement, params)
            except IntegrityError as error:
                raise ConstraintViolated(str(error.orig)) from error
            if result.returns_rows:
                found = result.all()
                rows = Rows(tuple(result.keys()), found, len(found))
            else:
                rows = Rows((), (), result.rowcount) if isinstance(params, Mapping) else NO_ROWS
            statement, params = work.send(rows)
    except StopIteration as done:
        return done.value
    finally:
        work.close()
