"""A transaction written once, run by whichever database the store opened.

An operation of the store is a generator: it yields ``(statement, parameters)`` and receives
each statement's ``Rows``; what it returns is the operation's result. A ``Database`` runs it
whole inside one transaction, its own way: on a SQLAlchemy async connection, awaiting each
statement (PostgreSQL, and SQLite in memory), or on a SQLite file in a thread of its own, the
transaction one hop from the event loop (``sqlite_file``). The statements are the same
SQLAlchemy Core objects either way (``statements``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

T = TypeVar("T")

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]]
"""One statement's parameters, or a list of them to execute it once per item (no rows come back)."""
Step = tuple[Executable, Params]


class Rows(NamedTuple):
    """What a statement returned: the rows (values converted as SQLAlchemy converts them for the
    columns' types), the column names, and the count of rows it changed."""

    keys: tuple[str, ...]
    rows: Sequence[Sequence[Any]]
    rowcount: int

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def mappings(self) -> list[dict[str, Any]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]

    def first(self) -> dict[str, Any] | None:
        return dict(zip(self.keys, self.rows[0], strict=True)) if self.rows else None


NO_ROWS = Rows((), (), 0)

Work = Generator[Step, Rows, T]
"""An operation as a transaction: yields the statements to run, returns its result. On a SQLite
file it runs in the database's own thread: it touches nothing but its own values (build what
the event loop shares, such as the store's caches, from its result, after the ``await``)."""


class ConstraintViolated(Exception):
    """A statement broke a unique or foreign key constraint; the transaction was rolled back."""


class TransactionConflict(Exception):
    """The database rolled the transaction back to let another one through (PostgreSQL broke a
    lock cycle between them): nothing of it was kept, and running it again is safe."""


CONFLICT_ATTEMPTS = 5
"""How many times ``Database.write_anew`` runs a transaction that keeps meeting conflicts."""


class Database(ABC):
    """Where the store's transactions run: chosen once, when the store is opened (``database.open_database``)."""

    engine: AsyncEngine
    """SQLAlchemy's engine on the same database: for migrations and for extensions with tables of their own."""
    writers_side_by_side = False
    """Whether write transactions run at once (PostgreSQL's row locks) rather than one at a time
    (SQLite's one writer): then a write that finds nothing to change holds up no other."""

    @abstractmethod
    async def read(self, work: Work[T]) -> T:
        """Run ``work`` in a read transaction (its statements see one snapshot on SQLite)."""

    @abstractmethod
    async def write(self, work: Work[T], *, urgent: bool = False) -> T:
        """Run ``work`` in a write transaction, committed if it returns and rolled back if it raises.

        ``urgent`` writes (decisions, which a person's click waits on) go before background writes
        this process has queued."""

    async def write_anew(self, make: Callable[[], Work[T]], *, urgent: bool = False) -> T:
        """``write(make())``, run again from a new ``make()`` while the database rolls it back in a
        conflict (``TransactionConflict``); the last conflict is raised."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return await self.write(make(), urgent=urgent)
            except TransactionConflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    @abstractmethod
    def connection(self, *, urgent: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        """A SQLAlchemy write transaction, queued as ``write`` queues its own."""

    async def close(self) -> None:
        await self.engine.dispose()
