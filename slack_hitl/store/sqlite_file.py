"""A SQLite file, each transaction run whole in a thread of its own: one hop from the event loop.

Through SQLAlchemy and aiosqlite, every cursor, execute, fetch, close, commit and pool reset of
a transaction is a hop to the driver's thread and back, and those hops were most of a
decision's CPU (benchmarks/bench_decide.py measures it). Here a transaction is one hop: a
writer thread and a reader thread, each with its own sqlite3 connection, run the store's
transactions (``transactions.Work``) from start to end.

They execute the same statements as every other backend, compiled by SQLAlchemy for SQLite
once: the SQL text, the order of its parameters, and SQLAlchemy's own conversions of values
on the way in (bind processors) and out (result processors), so what is stored and read back
is what the SQLAlchemy path stores and reads.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from operator import itemgetter
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import DateTime, TypeEngine

from slack_hitl.store import sqlite
from slack_hitl.store.transactions import NO_ROWS, ConstraintViolated, Database, Params, Rows, Work
from slack_hitl.store.writers import WriterQueue

T = TypeVar("T")
Convert = Callable[[Any], Any]
_MANY = (list, tuple)
"""Parameters given as one of these execute the statement once per item."""
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
        execute = self._statements.execute
        try:
            step = next(work)
            while True:
                step = work.send(execute(conn, *step))
        except StopIteration as done:
            return done.value
        finally:
            work.close()


class _Probe:
    """Stands for a caller's value while a statement's parameters are laid out: which one it is."""

    __slots__ = ("index", "key")

    def __init__(self, key: str, index: int | None) -> None:
        self.key = key
        self.index = index


class _Plan:
    """A compiled statement as sqlite3 executes it: the SQL text, and where each ``?`` gets its value."""

    __slots__ = ("constants", "converts", "fetch", "items", "keys", "names", "results", "sql")

    def __init__(
        self,
        sql: str,
        names: list[Hashable],
        constants: dict[Hashable, Any],
        items: list[tuple[int, str, int]],
        converts: list[tuple[int, Convert]],
    ) -> None:
        self.sql = sql
        self.names = names
        """Per ``?``, in order: the caller's parameter, or the key of one of the statement's ``constants``."""
        self.constants = constants
        """The statement's own values (its literals), already converted."""
        self.items = items
        """(position, name, index) of each item of a list the caller gives (``IN`` an expanding list)."""
        self.converts = converts
        """(position, SQLAlchemy's conversion of the caller's value there for its column's type)."""
        # All values at once, in C, where no expanding list is to be taken apart.
        self.fetch = itemgetter(*names) if len(names) > 1 and not items else None
        self.keys: tuple[str, ...] = ()
        """The names of the columns a statement returns."""
        self.results: tuple[Convert | None, ...] | None = None
        """SQLAlchemy's conversion of each returned column's values (``None``: none converts)."""

    def values(self, params: Mapping[Any, Any]) -> list[Any]:
        source = {**params, **self.constants} if self.constants else params
        if self.fetch is not None:
            found = list(self.fetch(source))
        else:
            found = [None if name is None else source[name] for name in self.names]
            for position, name, index in self.items:
                found[position] = params[name][index]
        for position, convert in self.converts:
            found[position] = convert(found[position])
        return found


class _LastConversion:
    """A conversion that remembers its last two datetimes: a transaction binds its ``now`` several
    times (the row CAS, the log, the version bump, the resume CAS, with a lease's end between),
    and SQLAlchemy's conversion of a datetime for SQLite is a large part of a decision's CPU
    (benchmarks/bench_decide.py). Only for datetimes, which never change: the same object
    converts to the same text."""

    __slots__ = ("convert", "last")

    def __init__(self, convert: Convert) -> None:
        self.convert = convert
        self.last: tuple[Any, Any, Any, Any] = (None, None, None, None)

    def __call__(self, value: Any) -> Any:
        last = self.last  # one read, one write: the reader and writer threads may share it
        if value is not None:
            if last[0] is value:
                return last[1]
            if last[2] is value:
                return last[3]
        converted = self.convert(value)
        self.last = (value, converted, last[0], last[1])
        return converted


class _Compiled:
    """A statement as SQLAlchemy compiles it for SQLite with parameters of given names, and its plans."""

    __slots__ = ("compiled", "expanding", "plans", "statement")

    def __init__(self, statement: Executable, compiled: SQLCompiler) -> None:
        self.statement = statement
        """Kept with its compilation, so that its id (the cache's key) stays its own."""
        self.compiled = compiled
        self.expanding = tuple(bind.key for bind in compiled.binds.values() if bind.expanding)
        self.plans: dict[tuple[int, ...], _Plan] = {}
        """The plans of a statement with expanding lists, by their lengths."""


class CompiledStatements:
    """SQLAlchemy Core statements compiled once for SQLite and executed on sqlite3 connections."""

    _shared: dict[type[Dialect], CompiledStatements] = {}

    @classmethod
    def of(cls, dialect: Dialect) -> CompiledStatements:
        """The compilations for ``dialect``'s kind, shared by every store of the process: they depend
        on nothing else, and each costs a few milliseconds (a large row CAS, tens)."""
        return cls._shared.setdefault(type(dialect), cls(dialect))

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[tuple[int, int], _Compiled] = {}
        self._plans: dict[tuple[int, int], _Plan] = {}
        """The plans of the statements without expanding lists, by statement and count of parameters."""
        self._datetimes: dict[str, _LastConversion] = {}
        """One remembering conversion per datetime type (all the store's are ``UTCDateTime()``)."""

    def execute(self, conn: sqlite3.Connection, statement: Executable, params: Params) -> Rows:
        try:
            if type(params) is dict:
                plan = self._plans.get((id(statement), len(params))) or self._plan(statement, params)
                cursor = conn.execute(plan.sql, plan.values(params))
            elif isinstance(params, _MANY):
                if not params:
                    return NO_ROWS
                first = params[0]
                plan = self._plans.get((id(statement), len(first))) or self._plan(statement, first)
                conn.executemany(plan.sql, [plan.values(p) for p in params])
                return NO_ROWS
            else:
                plan = self._plan(statement, params)  # type: ignore[arg-type]
                cursor = conn.execute(plan.sql, plan.values(params))  # type: ignore[arg-type]
        except sqlite3.IntegrityError as error:
            raise ConstraintViolated(str(error)) from error
        if cursor.description is None:
            count = cursor.rowcount
            return _CHANGED[count] if count < len(_CHANGED) else Rows((), (), count)
        converters = plan.results
        found = cursor.fetchall()
        if converters is not None:
            found = [
                tuple(
                    value if convert is None else convert(value) for convert, value in zip(converters, row, strict=True)
                )
                for row in found
            ]
        return Rows(plan.keys, found, len(found))

    def _plan(self, statement: Executable, params: Mapping[str, Any]) -> _Plan:
        # The store executes each statement with parameters of the same names every time: their
        # count tells the compilations apart.
        compiled = self._compiled.get((id(statement), len(params)))
        if compiled is None:
            # Compiled as SQLAlchemy compiles it to execute it with these parameters.
            clause = cast(ClauseElement, statement)
            sql = clause.compile(dialect=self._dialect, column_keys=sorted(params))
            assert isinstance(sql, SQLCompiler)
            compiled = self._compiled[(id(statement), len(params))] = _Compiled(statement, sql)
        if not compiled.expanding:
            # The one plan, found by execute() from now on without coming here.
            simple = self._plans[(id(statement), len(params))] = self._lay_out(compiled, params)
            return simple
        shape = tuple(len(params[key]) for key in compiled.expanding)
        found = compiled.plans.get(shape)
        if found is None:
            found = compiled.plans[shape] = self._lay_out(compiled, params)
        return found

    def _lay_out(self, compiled: _Compiled, params: Mapping[str, Any]) -> _Plan:
        """Let SQLAlchemy expand the statement for probes standing in for the caller's values, then
        note where each of its positional parameters comes from and how SQLAlchemy converts it."""
        sql = compiled.compiled
        probes: dict[str, Any] = {}
        for bind in sql.binds.values():
            if bind.key in params:
                count = len(params[bind.key]) if bind.expanding else None
                probes[bind.key] = (
                    [_Probe(bind.key, i) for i in range(count)] if count is not None else _Probe(bind.key, None)
                )
        expanded = sql.construct_expanded_state(probes, escape_names=False)
        names: list[Hashable] = []
        constants: dict[Hashable, Any] = {}
        items: list[tuple[int, str, int]] = []
        converts: list[tuple[int, Convert]] = []
        for position, name in enumerate(expanded.positiontup or ()):
            value = expanded.parameters[name]
            source = sql.binds.get(name)  # None for an item of an expanding list (its processor is given)
            convert = expanded.processors.get(name)
            if convert is None and source is not None:
                convert = source.type.dialect_impl(self._dialect).bind_processor(self._dialect)
            if convert is not None and source is not None and _is_datetime(source.type):
                convert = self._datetimes.setdefault(repr(source.type), _LastConversion(convert))
            if not isinstance(value, _Probe):
                names.append(("constant", position))
                constants[("constant", position)] = value if convert is None else convert(value)
                continue
            if value.index is None:
                names.append(value.key)
            else:
                names.append(None)
                items.append((position, value.key, value.index))
            if convert is not None:
                converts.append((position, convert))
        plan = _Plan(expanded.statement, names, constants, items, converts)
        plan.keys, plan.results = self._result(compiled.statement)
        return plan

    def _result(self, statement: Executable) -> tuple[tuple[str, ...], tuple[Convert | None, ...] | None]:
        columns = list(statement.exported_columns)  # type: ignore[attr-defined]
        dialect = self._dialect
        converters = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        return tuple(c.key for c in columns), converters if any(converters) else None


def _is_datetime(type_: TypeEngine[Any]) -> bool:
    return isinstance(type_, DateTime) or isinstance(getattr(type_, "impl_instance", None), DateTime)


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
