"""Durable state behind the engine: SQLite (the embedded default) or PostgreSQL, by URL.

Every change that must happen once is a conditional UPDATE whose row count says whether this
caller won: deciding a pending row, ``pending -> resuming`` with a lease, finishing, going back
to retryable. Concurrent decisions are written by group commit: the decisions that arrive
while one transaction is in flight share the next one, which keeps latency flat under load.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Text, TextClause, bindparam, cast, event, exists, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from slack_hitl.approvals import Actor, Approval, ExpiryPolicy, Row
from slack_hitl.decisions import Decision
from slack_hitl.errors import UnknownApproval
from slack_hitl.requirements import Requirement
from slack_hitl.store.schema import ApprovalRecord, DecisionLogRecord, RowRecord, SlackMessageRecord
from slack_hitl.times import aware, utcnow

A = ApprovalRecord.__table__
R = RowRecord.__table__
LOG = DecisionLogRecord.__table__
MSG = SlackMessageRecord.__table__


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


@dataclass(frozen=True)
class DecideCommand:
    approval_id: str
    row_id: str
    decision: Decision
    actor: Actor
    delivery_key: str | None = None


@dataclass(frozen=True)
class DecideResult:
    """What one decide did: ``decided`` if this call decided the row, ``resume`` if it also won the resume."""

    decided: bool
    resume: bool = False
    repeated: bool = False
    """The same delivery decided this row before: nothing changed, and that is fine."""


@dataclass
class _Pending:
    command: DecideCommand
    future: asyncio.Future[DecideResult] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _WriterQueue:
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


def _identity(value: Any) -> Any:
    return value


@dataclass
class _Batch:
    """The decisions of one group commit: the first arrival per row is the one that may win it."""

    commands: list[DecideCommand]
    now: dt.datetime
    first_for_row: dict[tuple[str, str], DecideCommand]
    firsts: list[DecideCommand]
    dumped: dict[int, dict[str, Any]]
    """Each first arrival's decision as stored (dumped once: the log entry reuses it)."""

    @classmethod
    def of(cls, commands: list[DecideCommand], now: dt.datetime) -> _Batch:
        first_for_row: dict[tuple[str, str], DecideCommand] = {}
        for command in commands:
            first_for_row.setdefault((command.approval_id, command.row_id), command)  # first arrival wins
        firsts = list(first_for_row.values())
        dumped = {id(c): c.decision.model_dump(mode="json") for c in firsts}
        return cls(commands, now, first_for_row, firsts, dumped)

    def row_params(self, as_json: Any) -> dict[str, Any]:
        """The values of ``_decide_rows_sql``; ``as_json`` turns a decision into what the driver takes."""
        params: dict[str, Any] = {"now": self.now}
        for i, c in enumerate(self.firsts):
            params[f"a{i}"] = c.approval_id
            params[f"r{i}"] = c.row_id
            params[f"o{i}"] = c.decision.outcome
            params[f"d{i}"] = as_json(self.dumped[id(c)])
            params[f"b{i}"] = c.actor.id
            params[f"n{i}"] = c.actor.name
            params[f"k{i}"] = c.delivery_key
        return params

    def won_row(self, command: DecideCommand, decided: set[tuple[str, str]]) -> bool:
        key = (command.approval_id, command.row_id)
        return key in decided and self.first_for_row[key] is command

    def log_entry(self, command: DecideCommand) -> dict[str, Any]:
        data = {key: value for key, value in self.dumped[id(command)].items() if key != "reason"}
        return _log_entry(
            command.approval_id,
            "decided",
            command.actor,
            self.now,
            row_id=command.row_id,
            reason=command.decision.reason,
            data=data,
        )

    def losers(self, decided: set[tuple[str, str]]) -> list[DecideCommand]:
        """The commands that did not decide their row (each may be a repeat of the delivery that did)."""
        return [c for c in self.commands if not self.won_row(c, decided)]

    def results(self, decided: set[tuple[str, str]], won: set[str], repeated: set[int]) -> list[DecideResult]:
        # Exactly one decision of the batch reports the resume win of its approval: the last one decided.
        won = set(won)
        final: list[DecideResult] = []
        for command in reversed(self.commands):
            if self.won_row(command, decided):
                final.append(DecideResult(decided=True, resume=command.approval_id in won))
                won.discard(command.approval_id)
            else:
                final.append(DecideResult(decided=False, repeated=id(command) in repeated))
        return final[::-1]


class _SqliteThread:
    """One SQLite connection and the one thread that uses it: ``run`` calls a function with it there."""

    def __init__(self, path: str, name: str, *, waits_for_writers_itself: bool = False) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self.waits_for_writers_itself = waits_for_writers_itself

    async def run(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work, args)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _call(self, work: Any, args: tuple[Any, ...]) -> Any:
        return work(self._connection(), *args)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            for pragma in _SQLITE_PRAGMAS:
                conn.execute(pragma)
            if self.waits_for_writers_itself:
                conn.execute("PRAGMA busy_timeout=0")  # _begin_immediate waits, in finer steps
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _result_processors(table: Any, engine: AsyncEngine) -> list[tuple[str, Any]]:
    """Each column's name and SQLAlchemy's conversion of what SQLite returns for it."""
    dialect = engine.dialect
    return [(c.name, c.type.dialect_impl(dialect).result_processor(dialect, None) or _identity) for c in table.columns]


@functools.lru_cache(maxsize=8)
def _select_sql(table: Any, where: str) -> str:
    return f"SELECT {', '.join(c.name for c in table.columns)} FROM {table.name} WHERE {where}"


def _processed(found: Sequence[Any], columns: list[tuple[str, Any]]) -> dict[str, Any]:
    return {name: convert(value) for (name, convert), value in zip(columns, found, strict=True)}


class _OneHopSqliteDecider:
    """The decide transaction on a SQLite file, run whole in one thread of its own.

    Through SQLAlchemy and aiosqlite, every cursor, execute, fetch, close, commit and pool reset
    is a hop to the driver's thread and back: about 20 per decide transaction, and those hops
    were most of a decision's CPU. Here the transaction is one hop. Values are converted with
    SQLAlchemy's own processors, so what is stored is what the SQLAlchemy path stores.
    """

    def __init__(self, path: str, engine: AsyncEngine) -> None:
        self._writer = _SqliteThread(path, "slack_hitl-sqlite-write", waits_for_writers_itself=True)
        self._reader = _SqliteThread(path, "slack_hitl-sqlite-read")
        dialect = engine.dialect
        self._time = A.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect) or _identity
        self._json = LOG.c.data.type.dialect_impl(dialect).bind_processor(dialect) or _identity
        self._approval_columns = _result_processors(A, engine)
        # A row's requirement stays JSON text: the store's cache usually holds it parsed already.
        self._row_columns = [
            (name, _identity if name == "requirement" else convert) for name, convert in _result_processors(R, engine)
        ]

    async def decide(self, batch: _Batch, owner: str | None, lease_seconds: float) -> _Decided:
        return await self._writer.run(self._decide, batch, owner, lease_seconds)

    async def finish(self, approval_id: str, status: str, owner: str, output: Any, now: dt.datetime) -> bool:
        return await self._writer.run(self._finish, approval_id, status, owner, output, now)

    async def mark_rendered(self, approval_id: str, version: int) -> None:
        await self._writer.run(self._mark_rendered, approval_id, version)

    @staticmethod
    def _mark_rendered(conn: sqlite3.Connection, approval_id: str, version: int) -> None:
        with _write_transaction(conn):
            conn.execute(
                "UPDATE approvals SET rendered_version = ? WHERE id = ? AND rendered_version < ?",
                (version, approval_id, version),
            )

    async def read_approval(self, approval_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """An approval's record and rows (in position order), read in one transaction."""
        return await self._reader.run(self._read_approval, approval_id)

    async def due_resumes(self, now: dt.datetime, max_attempts: int, limit: int) -> list[str]:
        """Pending approvals with every row decided whose (first or next) resume is due; read, not claimed."""
        return await self._reader.run(self._due_resumes, self._time(now), max_attempts, limit)

    async def claim(self, approval_ids: list[str], owner: str, lease_seconds: float, now: dt.datetime) -> set[str]:
        """The resume CAS for each approval, for ``owner``; the ids it won."""
        return await self._writer.run(self._claim_resumes, approval_ids, owner, lease_seconds, now)

    @staticmethod
    def _due_resumes(conn: sqlite3.Connection, now: Any, max_attempts: int, limit: int) -> list[str]:
        return [approval_id for (approval_id,) in conn.execute(_SQLITE_DUE, (max_attempts, now, limit))]

    def _claim_resumes(
        self, conn: sqlite3.Connection, approval_ids: list[str], owner: str, lease_seconds: float, now: dt.datetime
    ) -> set[str]:
        with _write_transaction(conn):
            return self._claim_ids(conn, approval_ids, owner, lease_seconds, now)

    async def read_requirements(self, approval_id: str) -> list[tuple[str, str, str]]:
        """(row id, requirement as JSON text, adapter name) for every row of an approval."""
        return await self._reader.run(self._read_requirements, approval_id)

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()

    @staticmethod
    def _read_requirements(conn: sqlite3.Connection, approval_id: str) -> list[tuple[str, str, str]]:
        return conn.execute(
            "SELECT approval_rows.row_id, approval_rows.requirement, approvals.adapter FROM approval_rows "
            "JOIN approvals ON approvals.id = approval_rows.approval_id WHERE approval_rows.approval_id = ?",
            (approval_id,),
        ).fetchall()

    def _read_approval(
        self, conn: sqlite3.Connection, approval_id: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        conn.execute("BEGIN")
        try:
            record = conn.execute(_select_sql(A, "id = ?"), (approval_id,)).fetchone()
            rows = conn.execute(_select_sql(R, "approval_id = ? ORDER BY position"), (approval_id,)).fetchall()
        finally:
            conn.execute("ROLLBACK")
        return (
            _processed(record, self._approval_columns) if record else None,
            [_processed(row, self._row_columns) for row in rows],
        )

    def _finish(
        self, conn: sqlite3.Connection, approval_id: str, status: str, owner: str, output: Any, now: dt.datetime
    ) -> bool:
        with _write_transaction(conn):
            finished = conn.execute(
                "UPDATE approvals SET status = ?, lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, "
                "finished_at = ?, version = version + 1, updated_at = ? "
                "WHERE id = ? AND status = 'resuming' AND lease_owner = ?",
                (status, self._time(now), self._time(now), approval_id, owner),
            ).rowcount
            if finished == 1:
                self._log(conn, [_log_entry(approval_id, status, None, now, data={"output": output})])
        return finished == 1

    def _decide(self, conn: sqlite3.Connection, batch: _Batch, owner: str | None, lease_seconds: float) -> _Decided:
        with _write_transaction(conn):
            decided = self._decide_rows(conn, batch)
            won = self._claim(conn, batch, decided, owner, lease_seconds) if decided else set()
            repeated = {
                id(c)
                for c in batch.losers(decided)
                if c.delivery_key is not None and self._delivery_key(conn, c) == c.delivery_key
            }
        return decided, won, repeated

    def _decide_rows(self, conn: sqlite3.Connection, batch: _Batch) -> set[tuple[str, str]]:
        params = batch.row_params(self._json)
        params["now"] = self._time(batch.now)
        decided = {(a, r) for a, r in conn.execute(_decide_rows_sql(True, len(batch.firsts)), params)}
        if decided:
            self._log(conn, [batch.log_entry(batch.first_for_row[key]) for key in decided])
        return decided

    def _claim(
        self,
        conn: sqlite3.Connection,
        batch: _Batch,
        decided: set[tuple[str, str]],
        owner: str | None,
        lease_seconds: float,
    ) -> set[str]:
        """Bump the touched approvals' versions and, with an ``owner``, claim the resumes this batch completed."""
        touched = sorted({approval_id for approval_id, _ in decided})
        marks = ", ".join("?" * len(touched))
        now = self._time(batch.now)
        # Two statements, as on the SQLAlchemy path (see there for why); SQLite's writer lock serialises anyway.
        conn.execute(
            f"UPDATE approvals SET version = version + 1, updated_at = ? WHERE id IN ({marks})", [now, *touched]
        )
        if owner is None:
            return set()
        return self._claim_ids(conn, touched, owner, lease_seconds, batch.now)

    def _claim_ids(
        self, conn: sqlite3.Connection, approval_ids: list[str], owner: str, lease_seconds: float, now: dt.datetime
    ) -> set[str]:
        """The resume CAS for each approval, for ``owner``, logged; the ids it won."""
        marks = ", ".join("?" * len(approval_ids))
        lease = self._time(now + dt.timedelta(seconds=lease_seconds))
        claimed = conn.execute(_SQLITE_CLAIM.format(marks=marks), [owner, lease, self._time(now), *approval_ids])
        won = {approval_id for (approval_id,) in claimed.fetchall()}
        self._log(conn, [_log_entry(a, "resuming", None, now, data={"owner": owner}) for a in sorted(won)])
        return won

    def _log(self, conn: sqlite3.Connection, entries: list[dict[str, Any]]) -> None:
        conn.executemany(
            "INSERT INTO decision_log (approval_id, row_id, event, actor, actor_name, reason, data, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e["approval_id"],
                    e["row_id"],
                    e["event"],
                    e["actor"],
                    e["actor_name"],
                    e["reason"],
                    self._json(e["data"]),
                    self._time(e["at"]),
                )
                for e in entries
            ],
        )

    @staticmethod
    def _delivery_key(conn: sqlite3.Connection, command: DecideCommand) -> str | None:
        found = conn.execute(
            "SELECT delivery_key FROM approval_rows WHERE approval_id = ? AND row_id = ?",
            (command.approval_id, command.row_id),
        ).fetchone()
        return found[0] if found else None


_Decided = tuple[set[tuple[str, str]], set[str], set[int]]
"""The rows a batch decided, the approvals whose resume it won, and the commands that repeat a delivery."""
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)
_SQLITE_DUE = (
    "SELECT id FROM approvals WHERE status = 'pending' AND attempts < ? "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND NOT EXISTS "
    "(SELECT 1 FROM approval_rows WHERE approval_rows.approval_id = approvals.id "
    "AND approval_rows.status = 'pending') LIMIT ?"
)
_LOCK_WAIT_SECONDS = 30.0


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction on a one-hop connection: committed if the block returns, rolled back if it raises."""
    _begin_immediate(conn)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write in steps of a fraction of a millisecond.

    SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries, so a click whose write met
    another process's brief one (a worker marking a message rendered: ~0.3 ms) waited several
    milliseconds for nothing. Gives up, as busy_timeout would, after 30 s.
    """
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
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


_SQLITE_CLAIM = (
    "UPDATE approvals SET status = 'resuming', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, "
    "version = version + 1, updated_at = ? WHERE id IN ({marks}) AND status = 'pending' AND NOT EXISTS "
    "(SELECT 1 FROM approval_rows WHERE approval_rows.approval_id = approvals.id "
    "AND approval_rows.status = 'pending') RETURNING id"
)


def _sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine; ``None`` for an in-memory one (a second connection would not see it)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:") or engine.url.query:
        return None
    return database


class _RequirementCache:
    """Requirements by (approval id, row id): each loaded row as JSON text, and the last 1,024 parsed as models.

    Requirements never change, so a row is read from the database once. Parsed models are kept
    only for recently used rows: each is a dozen objects that every full garbage collection
    walks, and with every clicked row kept those walks became the tail of an ack's latency
    (pauses over 100 ms). Text costs the collector nothing, and parsing it again costs ~6 µs.
    """

    def __init__(self, *, parsed_rows: int = 1024, rows: int = 100_000) -> None:
        self._parsed: dict[tuple[str, str], Requirement] = {}
        self._text: dict[tuple[str, str], str] = {}
        self._parsed_rows = parsed_rows
        self._rows = rows

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._parsed or key in self._text

    def get(self, key: tuple[str, str]) -> Requirement | None:
        found = self._parsed.get(key)
        if found is None and key in self._text:
            found = self.parsed_or(key, self._text[key])
        return found

    def parsed_or(self, key: tuple[str, str], stored: str | dict[str, Any]) -> Requirement:
        """The cached requirement of ``key``, or ``stored`` (JSON text, or as SQLAlchemy read it) parsed."""
        found = self._parsed.get(key)
        if found is None:
            if isinstance(stored, str):
                found = Requirement.model_validate_json(stored)
            else:
                found = Requirement.model_validate(stored)
            self._keep_parsed(key, found)
        return found

    def add_text(self, key: tuple[str, str], text: str) -> None:
        if len(self._text) >= self._rows:
            self._text.clear()
        self._text.setdefault(key, text)

    def add_parsed(self, key: tuple[str, str], requirement: Requirement) -> None:
        self.add_text(key, requirement.model_dump_json())
        self._keep_parsed(key, requirement)

    def _keep_parsed(self, key: tuple[str, str], requirement: Requirement) -> None:
        # The oldest parsed goes first: a row is decided once, so recency says little more than age.
        self._parsed[key] = requirement
        if len(self._parsed) > self._parsed_rows:
            del self._parsed[next(iter(self._parsed))]


class Store:
    """The database of approvals. Open with ``await Store.open(url)``; close with ``await store.close()``."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owner: str | None = None,
        lease_seconds: float = 60.0,
        claims_resumes: bool = True,
    ) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.owner = owner or f"proc-{uuid.uuid4().hex[:12]}"
        self._lease_seconds = lease_seconds
        self._claims_resumes = claims_resumes
        # SQLite takes one writer at a time: queue this process's writers instead of letting
        # them spin in SQLite's busy handler. Other processes still wait through busy_timeout.
        self._writers = _WriterQueue() if self.is_sqlite else None
        path = _sqlite_file(engine) if self.is_sqlite else None
        self._one_hop = _OneHopSqliteDecider(path, engine) if path is not None else None
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._requirements = _RequirementCache()
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._adapter_names: dict[str, str] = {}

    @property
    def lease_seconds(self) -> float:
        """How long a resume's claim holds without renewal; after it, another process may take the resume over."""
        return self._lease_seconds

    @property
    def claims_resumes(self) -> bool:
        """Whether deciding an approval's last row also claims its resume for this process. A service
        whose worker processes resume runs its web process with False: the approval then waits, every
        row decided, until a worker's sweep claims it (``claim_due_resumes``)."""
        return self._claims_resumes

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        create: bool = True,
        owner: str | None = None,
        lease_seconds: float = 60.0,
        claims_resumes: bool = True,
    ) -> Store:
        url = database_url(url)
        if url.startswith("sqlite"):
            engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=8, max_overflow=8)
            _tune_sqlite(engine)
        else:
            engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        store = cls(engine, owner=owner, lease_seconds=lease_seconds, claims_resumes=claims_resumes)
        if create:
            try:
                await store.create_schema()
            except BaseException:
                await store.close()  # no pooled connection outlives a failed open
                raise
        return store

    async def create_schema(self) -> None:
        """Bring the schema to the newest migration (creating it in an empty database)."""
        from slack_hitl import migrations  # Alembic loads only for stores that create

        # One write transaction: SQLite's BEGIN IMMEDIATE and PostgreSQL's advisory lock make
        # processes that open one fresh database at once take turns instead of both creating.
        async with self.write() as conn:
            await conn.run_sync(migrations.upgrade)

    async def check_schema(self) -> None:
        """Raise ``SchemaMismatch`` (naming the command to run) unless the schema is the newest; changes nothing."""
        from slack_hitl import migrations

        async with self.engine.connect() as conn:
            await conn.run_sync(migrations.check)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._one_hop is not None:
            await self._one_hop.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def write(self, *, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite). ``urgent`` ones (decisions, which a
        person's click is waiting on) go before queued background writes of this process."""
        if self._writers is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._writers.hold(urgent=urgent), self.engine.connect() as raw:
            conn = await raw.execution_options(slack_hitl_write=True)
            async with conn.begin():
                yield conn

    # -- opening ---------------------------------------------------------------------------

    async def insert_approval(
        self,
        *,
        title: str,
        requirements: Sequence[Requirement],
        adapter: str,
        resume_state: dict[str, Any],
        channel: str | None,
        thread_ts: str | None,
        parent_id: str | None,
        expires_at: dt.datetime | None,
        expiry_policy: ExpiryPolicy,
        idempotency_key: str | None,
        actor: Actor,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[Approval, bool]:
        """Store a new approval; with a known idempotency key, return the existing one and ``False``."""
        if idempotency_key is not None:
            existing = await self._approval_id_for_key(idempotency_key)
            if existing is not None:
                return await self.get(existing), False
        now = utcnow()
        approval_id = uuid.uuid4().hex
        async with self.write() as conn:
            await conn.execute(
                insert(A).values(
                    id=approval_id,
                    title=title,
                    status="pending",
                    adapter=adapter,
                    resume_state=resume_state,
                    channel=channel,
                    thread_ts=thread_ts,
                    parent_id=parent_id,
                    idempotency_key=idempotency_key,
                    expires_at=aware(expires_at),
                    expiry_policy=expiry_policy,
                    expired=False,
                    version=0,
                    rendered_version=-1,
                    attempts=0,
                    metadata=metadata or {},
                    created_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                insert(R),
                [
                    {
                        "approval_id": approval_id,
                        "row_id": req.id,
                        "position": position,
                        "requirement": req.model_dump(mode="json"),
                        "status": "pending",
                    }
                    for position, req in enumerate(requirements)
                ],
            )
            await self._log(conn, approval_id, "opened", actor, data={"rows": len(requirements)}, at=now)
        for requirement in requirements:
            self._requirements.add_parsed((approval_id, requirement.id), requirement)
        self._adapter_names[approval_id] = adapter
        return await self.get(approval_id), True

    async def _approval_id_for_key(self, key: str) -> str | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(A.c.id).where(A.c.idempotency_key == key))).scalar()

    # -- reading ---------------------------------------------------------------------------

    async def get(self, approval_id: str) -> Approval:
        if self._one_hop is not None:
            record, rows = await self._one_hop.read_approval(approval_id)
            if record is None:
                raise UnknownApproval(f"no approval with id {approval_id!r}")
            return _approval(record, rows, self._requirements)
        async with self.engine.connect() as conn:
            record = (await conn.execute(select(A).where(A.c.id == approval_id))).mappings().first()
            if record is None:
                raise UnknownApproval(f"no approval with id {approval_id!r}")
            rows = (
                (await conn.execute(select(R).where(R.c.approval_id == approval_id).order_by(R.c.position)))
                .mappings()
                .all()
            )
        return _approval(record, rows, self._requirements)

    async def list_approvals(self, *, status: str | None = None, limit: int = 100, offset: int = 0) -> list[Approval]:
        """Approvals, newest first; only those with ``status`` when given."""
        query = select(A.c.id).order_by(A.c.created_at.desc()).limit(limit).offset(offset)
        if status is not None:
            query = query.where(A.c.status == status)
        async with self.engine.connect() as conn:
            ids = (await conn.execute(query)).scalars().all()
        return [await self.get(approval_id) for approval_id in ids]

    async def requirement(self, approval_id: str, row_id: str) -> Requirement | None:
        """The row's requirement; ``None`` if approval or row is unknown. Requirements never change,
        so a miss loads and caches every row of the approval: the next click on it costs no query."""
        key = (approval_id, row_id)
        if key not in self._requirements:
            # A burst of clicks on a new message misses together: they all wait for one load of its
            # rows instead of each querying every row (a thundering herd).
            load = self._loading.get(approval_id)
            if load is None:
                load = asyncio.ensure_future(self._load_requirements(approval_id))
                self._loading[approval_id] = load
                load.add_done_callback(lambda done: self._loading.pop(approval_id, None))
            await asyncio.shield(load)
        return self._requirements.get(key)

    async def _load_requirements(self, approval_id: str) -> None:
        # The adapter's name comes along: the decide that follows a miss needs it too.
        if self._one_hop is not None:
            stored: Sequence[Any] = await self._one_hop.read_requirements(approval_id)
        else:
            async with self.engine.connect() as conn:
                stored = (await conn.execute(_REQUIREMENTS_OF, {"approval_id": approval_id})).all()
        if len(self._adapter_names) >= 100_000:
            self._adapter_names.clear()
        for row_id, requirement, adapter in stored:
            self._requirements.add_text((approval_id, row_id), requirement)
            self._adapter_names[approval_id] = adapter

    async def adapter_of(self, approval_id: str) -> str | None:
        """The name of the adapter that resumes the approval (cached: it never changes)."""
        cached = self._adapter_names.get(approval_id)
        if cached is None:
            async with self.engine.connect() as conn:
                cached = (await conn.execute(select(A.c.adapter).where(A.c.id == approval_id))).scalar()
            if cached is not None:
                self._adapter_names[approval_id] = cached
        return cached

    async def decision_log(self, approval_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            entries = (
                (await conn.execute(select(LOG).where(LOG.c.approval_id == approval_id).order_by(LOG.c.id)))
                .mappings()
                .all()
            )
        return [{**entry, "at": aware(entry["at"])} for entry in entries]

    async def approval_ids(self) -> list[str]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(A.c.id).order_by(A.c.created_at))).scalars())

    # -- deciding (group commit) -------------------------------------------------------------

    async def decide(self, command: DecideCommand) -> DecideResult:
        """Decide one pending row with a CAS; when it was the last one, also try to win the resume."""
        pending = _Pending(command)
        self._queue.append(pending)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_decisions())
        return await pending.future

    async def _flush_decisions(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._decide_batch([p.command for p in batch])
            except Exception as error:  # every waiter must hear of the failure
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)

    async def _decide_batch(self, commands: list[DecideCommand]) -> list[DecideResult]:
        """One transaction of set-based statements, whatever the batch size: the row CAS for every
        command at once (UPDATE ... FROM VALUES ... RETURNING), the log, the version bump, the resume CAS."""
        batch = _Batch.of(commands, utcnow())
        if self._one_hop is not None and self._writers is not None:
            async with self._writers.hold(urgent=True):
                owner = self.owner if self.claims_resumes else None
                outcome = await self._one_hop.decide(batch, owner, self.lease_seconds)
        else:
            outcome = await self._decide_batch_sqlalchemy(batch)
        return batch.results(*outcome)

    async def _decide_batch_sqlalchemy(self, batch: _Batch) -> _Decided:
        now = batch.now
        async with self.write(urgent=True) as conn:
            decided_rows = await conn.execute(
                _decide_rows_statement(self.is_sqlite, len(batch.firsts)), batch.row_params(_identity)
            )
            decided = {(a, r) for a, r in decided_rows.all()}
            winners = [batch.first_for_row[key] for key in decided]
            won: set[str] = set()
            if winners:
                await conn.execute(_INSERT_LOG, [batch.log_entry(c) for c in winners])
                touched = sorted({c.approval_id for c in winners})
                # The bump locks each touched approval's row until commit, and the resume CAS is a
                # separate statement after it: on PostgreSQL (READ COMMITTED) two transactions that
                # decide the last two rows are thus serialised, and the second one's CAS takes a fresh
                # snapshot that sees the first one's row. One combined statement would let both miss.
                await conn.execute(_BUMP_VERSIONS, {"ids": touched, "now": now})
                if self.claims_resumes:
                    won = await self._claim_many(conn, touched, now)
            repeated = {id(c) for c in batch.losers(decided) if await self._repeated(conn, c)}
        return decided, won, repeated

    async def _repeated(self, conn: AsyncConnection, command: DecideCommand) -> bool:
        if command.delivery_key is None:
            return False
        key = (
            await conn.execute(
                select(R.c.delivery_key).where(R.c.approval_id == command.approval_id, R.c.row_id == command.row_id)
            )
        ).scalar()
        return key == command.delivery_key

    async def row_state(self, approval_id: str, row_id: str) -> dict[str, Any] | None:
        """Status and decider of one row, to explain a decide that did not happen."""
        async with self.engine.connect() as conn:
            found = (
                (
                    await conn.execute(
                        select(
                            R.c.status,
                            R.c.decided_by,
                            R.c.decided_by_name,
                            A.c.status.label("approval_status"),
                            A.c.expired.label("approval_expired"),
                        )
                        .join(A, A.c.id == R.c.approval_id)
                        .where(R.c.approval_id == approval_id, R.c.row_id == row_id)
                    )
                )
                .mappings()
                .first()
            )
        return dict(found) if found else None

    # -- resuming ----------------------------------------------------------------------------

    async def _claim(self, conn: AsyncConnection, approval_id: str, now: dt.datetime) -> bool:
        return approval_id in await self._claim_many(conn, [approval_id], now)

    async def _claim_many(self, conn: AsyncConnection, approval_ids: list[str], now: dt.datetime) -> set[str]:
        """CAS ``pending -> resuming`` with a lease, only for approvals with no undecided row."""
        claimed = await conn.execute(
            _CLAIM_RESUMES,
            {
                "ids": approval_ids,
                "owner": self.owner,
                "lease_expires_at": now + dt.timedelta(seconds=self.lease_seconds),
                "now": now,
            },
        )
        won = set(claimed.scalars())
        if won:
            await conn.execute(
                _INSERT_LOG, [_log_entry(a, "resuming", None, now, data={"owner": self.owner}) for a in sorted(won)]
            )
        return won

    async def claim_resume(self, approval_id: str) -> bool:
        """Win the right to resume a pending approval whose rows are all decided (the Retry path)."""
        now = utcnow()
        async with self.write() as conn:
            return await self._claim(conn, approval_id, now)

    async def take_over_expired_leases(self, *, limit: int = 20) -> list[str]:
        """Approvals stuck in ``resuming`` whose owner's lease ran out: claim them for this process."""
        now = utcnow()
        async with self.engine.connect() as conn:
            candidates = (
                await conn.execute(
                    select(A.c.id, A.c.lease_owner)
                    .where(A.c.status == "resuming", A.c.lease_expires_at < now)
                    .limit(limit)
                )
            ).all()
        taken: list[str] = []
        for approval_id, old_owner in candidates:
            async with self.write() as conn:
                claimed = await conn.execute(
                    update(A)
                    .where(
                        A.c.id == approval_id,
                        A.c.status == "resuming",
                        A.c.lease_owner == old_owner,
                        A.c.lease_expires_at < now,
                    )
                    .values(
                        lease_owner=self.owner,
                        lease_expires_at=now + dt.timedelta(seconds=self.lease_seconds),
                        attempts=A.c.attempts + 1,
                        updated_at=now,
                    )
                )
                if claimed.rowcount == 1:
                    await self._log(conn, approval_id, "lease_taken_over", None, data={"from": old_owner}, at=now)
                    taken.append(approval_id)
        return taken

    async def renew_lease(self, approval_id: str) -> bool:
        now = utcnow()
        async with self.write() as conn:
            renewed = await conn.execute(
                update(A)
                .where(A.c.id == approval_id, A.c.status == "resuming", A.c.lease_owner == self.owner)
                .values(lease_expires_at=now + dt.timedelta(seconds=self.lease_seconds))
            )
        return renewed.rowcount == 1

    async def finish(self, approval_id: str, status: str, *, output: Any = None) -> bool:
        """CAS ``resuming -> final`` by the lease owner."""
        now = utcnow()
        if self._one_hop is not None and self._writers is not None:
            # Every resume ends here, between the decisions' batches: one hop keeps the writer brief.
            async with self._writers.hold(urgent=False):
                return await self._one_hop.finish(approval_id, status, self.owner, _jsonable(output), now)
        async with self.write() as conn:
            finished = await conn.execute(
                update(A)
                .where(A.c.id == approval_id, A.c.status == "resuming", A.c.lease_owner == self.owner)
                .values(
                    status=status,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=None,
                    finished_at=now,
                    version=A.c.version + 1,
                    updated_at=now,
                )
            )
            if finished.rowcount == 1:
                await self._log(conn, approval_id, status, None, data={"output": _jsonable(output)}, at=now)
        return finished.rowcount == 1

    async def release_for_retry(self, approval_id: str, error: str, *, retry_at: dt.datetime | None) -> bool:
        """CAS ``resuming -> pending`` by the lease owner; the rows stay decided."""
        now = utcnow()
        async with self.write() as conn:
            released = await conn.execute(
                update(A)
                .where(A.c.id == approval_id, A.c.status == "resuming", A.c.lease_owner == self.owner)
                .values(
                    status="pending",
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=error[:4000],
                    next_attempt_at=aware(retry_at),
                    version=A.c.version + 1,
                    updated_at=now,
                )
            )
            if released.rowcount == 1:
                await self._log(conn, approval_id, "resume_failed", None, reason=error[:4000], at=now)
        return released.rowcount == 1

    async def claim_due_resumes(self, *, max_attempts: int, limit: int = 100) -> list[str]:
        """Claim, for this process, the resumes that are due: pending approvals with every row decided,
        never tried (their last row was decided by a process that does not claim) or due for a retry."""
        now = utcnow()
        if self._one_hop is not None and self._writers is not None:
            # Read without the write lock, then a short CAS: a worker never holds up a click's write.
            due = await self._one_hop.due_resumes(now, max_attempts, limit)
            if not due:
                return []
            async with self._writers.hold(urgent=False):
                return sorted(await self._one_hop.claim(due, self.owner, self.lease_seconds, now))
        no_pending_row = ~exists().where(R.c.approval_id == A.c.id, R.c.status == "pending")
        due = (
            select(A.c.id)
            .where(
                A.c.status == "pending",
                no_pending_row,
                A.c.attempts < max_attempts,
                (A.c.next_attempt_at.is_(None)) | (A.c.next_attempt_at <= now),
            )
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            candidates = list((await conn.execute(due)).scalars())
        if not candidates:
            return []
        async with self.write() as conn:
            return sorted(await self._claim_many(conn, candidates, now))

    # -- expiring and cancelling -------------------------------------------------------------

    async def due_for_expiry(self) -> list[str]:
        now = utcnow()
        async with self.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(A.c.id).where(
                            A.c.status == "pending",
                            A.c.expired.is_(False),
                            A.c.expires_at.is_not(None),
                            A.c.expires_at <= now,
                        )
                    )
                ).scalars()
            )

    async def expire(self, approval_id: str, decisions: dict[str, Decision], actor: Actor) -> bool:
        """Mark an approval expired and decide its undecided rows as given (one transaction); then try the resume."""
        now = utcnow()
        async with self.write() as conn:
            marked = await conn.execute(
                update(A)
                .where(A.c.id == approval_id, A.c.status == "pending", A.c.expired.is_(False))
                .values(expired=True, version=A.c.version + 1, updated_at=now)
            )
            if marked.rowcount != 1:
                return False
            await self._log(conn, approval_id, "expired", actor, at=now)
            for row_id, decision in decisions.items():
                decided = await conn.execute(
                    update(R)
                    .where(R.c.approval_id == approval_id, R.c.row_id == row_id, R.c.status == "pending")
                    .values(
                        status="decided",
                        outcome=decision.outcome,
                        decision=decision.model_dump(mode="json"),
                        decided_by=actor.id,
                        decided_by_name=actor.name,
                        decided_at=now,
                    )
                )
                if decided.rowcount == 1:
                    await self._log(
                        conn,
                        approval_id,
                        "decided",
                        actor,
                        row_id=row_id,
                        reason=decision.reason,
                        data=decision.model_dump(mode="json", exclude={"reason"}),
                        at=now,
                    )
            return await self._claim(conn, approval_id, now)

    async def cancel(self, approval_id: str, actor: Actor, reason: str | None = None) -> bool:
        now = utcnow()
        async with self.write() as conn:
            cancelled = await conn.execute(
                update(A)
                .where(A.c.id == approval_id, A.c.status == "pending")
                .values(status="cancelled", finished_at=now, version=A.c.version + 1, updated_at=now)
            )
            if cancelled.rowcount == 1:
                await self._log(conn, approval_id, "cancelled", actor, reason=reason, at=now)
        return cancelled.rowcount == 1

    # -- the Slack messages and their freshness ------------------------------------------------

    async def set_messages(self, approval_id: str, messages: Iterable[tuple[str, str, int, int]]) -> None:
        """Record where the approval is shown: (channel, ts, first row, last row) per part, main first."""
        messages = list(messages)
        async with self.write() as conn:
            for part, (channel, ts, first, last) in enumerate(messages):
                await conn.execute(
                    insert(MSG).values(
                        approval_id=approval_id,
                        part=part,
                        channel=channel,
                        ts=ts,
                        first_row=first,
                        last_row=last,
                    )
                )
            if messages:
                channel, ts = messages[0][0], messages[0][1]
                await conn.execute(update(A).where(A.c.id == approval_id).values(channel=channel, message_ts=ts))

    async def messages(self, approval_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            found = await conn.execute(select(MSG).where(MSG.c.approval_id == approval_id).order_by(MSG.c.part))
            return [dict(m) for m in found.mappings()]

    async def approval_for_message(self, channel: str, ts: str) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(MSG.c.approval_id).where(MSG.c.channel == channel, MSG.c.ts == ts))
            ).scalar()

    async def stale_renders(self, *, limit: int = 100) -> list[str]:
        """Approvals whose Slack message shows an older version than the store holds."""
        async with self.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(A.c.id)
                        .where(A.c.rendered_version < A.c.version, A.c.message_ts.is_not(None))
                        .limit(limit)
                    )
                ).scalars()
            )

    async def mark_rendered(self, approval_id: str, version: int) -> None:
        if self._one_hop is not None and self._writers is not None:
            # Every re-render ends here: one hop keeps the writer brief between the decisions' batches.
            async with self._writers.hold(urgent=False):
                await self._one_hop.mark_rendered(approval_id, version)
            return
        async with self.write() as conn:
            await conn.execute(
                update(A).where(A.c.id == approval_id, A.c.rendered_version < version).values(rendered_version=version)
            )

    # -- the log -----------------------------------------------------------------------------

    async def log(self, approval_id: str, event_name: str, actor: Actor | None, **details: Any) -> None:
        async with self.write() as conn:
            await self._log(conn, approval_id, event_name, actor, **details)

    async def _log(
        self,
        conn: AsyncConnection,
        approval_id: str,
        event_name: str,
        actor: Actor | None,
        *,
        row_id: str | None = None,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        entry = _log_entry(approval_id, event_name, actor, at or utcnow(), row_id=row_id, reason=reason, data=data)
        await conn.execute(insert(LOG).values(**entry))

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            found = await conn.execute(select(A.c.status, func.count()).group_by(A.c.status))
            return {status: count for status, count in found.all()}


def _log_entry(
    approval_id: str,
    event_name: str,
    actor: Actor | None,
    at: dt.datetime,
    *,
    row_id: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "approval_id": approval_id,
        "row_id": row_id,
        "event": event_name,
        "actor": actor.id if actor else None,
        "actor_name": actor.name if actor else None,
        "reason": reason,
        "data": data or {},
        "at": at,
    }


# The decide path's statements are built once: building and compiling them per batch was most of
# a decision's CPU time. The row CAS is text keyed by batch size (a VALUES list of bound
# parameters), which SQLAlchemy compiles once per size and caches.
_INSERT_LOG = insert(LOG)
_REQUIREMENTS_OF = (
    select(R.c.row_id, cast(R.c.requirement, Text), A.c.adapter)
    .join(A, A.c.id == R.c.approval_id)
    .where(R.c.approval_id == bindparam("approval_id"))
)
_BUMP_VERSIONS = (
    update(A)
    .where(A.c.id.in_(bindparam("ids", expanding=True)))
    .values(version=A.c.version + 1, updated_at=bindparam("now", type_=A.c.updated_at.type))
)
_CLAIM_RESUMES = (
    update(A)
    .where(
        A.c.id.in_(bindparam("ids", expanding=True)),
        A.c.status == "pending",
        ~exists().where(R.c.approval_id == A.c.id, R.c.status == "pending"),
    )
    .values(
        status="resuming",
        lease_owner=bindparam("owner", type_=A.c.lease_owner.type),
        lease_expires_at=bindparam("lease_expires_at", type_=A.c.lease_expires_at.type),
        attempts=A.c.attempts + 1,
        version=A.c.version + 1,
        updated_at=bindparam("now", type_=A.c.updated_at.type),
    )
    .returning(A.c.id)
)


@functools.lru_cache(maxsize=256)
def _decide_rows_statement(sqlite: bool, size: int) -> TextClause:
    """``_decide_rows_sql`` for SQLAlchemy, with the types of its values."""
    return text(_decide_rows_sql(sqlite, size)).bindparams(
        *(bindparam(f"d{i}", type_=JSON) for i in range(size)),
        bindparam("now", type_=R.c.decided_at.type),
    )


@functools.lru_cache(maxsize=256)
def _decide_rows_sql(sqlite: bool, size: int) -> str:
    """The row CAS for ``size`` decisions: decide each pending row of a pending approval, return the decided."""
    # PostgreSQL types a VALUES list's parameters as text: the decision must be cast to the column's
    # JSON. SQLite stores JSON as text, and a CAST there would mangle it.
    decision = "{}" if sqlite else "CAST({} AS JSON)"
    rows = ", ".join(f"(:a{i}, :r{i}, :o{i}, {decision.format(f':d{i}')}, :b{i}, :n{i}, :k{i})" for i in range(size))
    sql = (
        f"WITH incoming (a, r, outcome, decision, by_id, by_name, delivery) AS (VALUES {rows}) "
        "UPDATE approval_rows SET status = 'decided', outcome = incoming.outcome, decision = incoming.decision, "
        "decided_by = incoming.by_id, decided_by_name = incoming.by_name, decided_at = :now, "
        "delivery_key = incoming.delivery "
        "FROM incoming "
        "WHERE approval_rows.approval_id = incoming.a AND approval_rows.row_id = incoming.r "
        "AND approval_rows.status = 'pending' "
        "AND EXISTS (SELECT 1 FROM approvals WHERE approvals.id = approval_rows.approval_id "
        "AND approvals.status = 'pending') "
        "RETURNING approval_rows.approval_id, approval_rows.row_id"
    )
    return sql


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)[:4000]


def _approval(record: Any, rows: Sequence[Any], requirements: _RequirementCache) -> Approval:
    """The approval of stored records; requirements already parsed are reused, as they never change."""
    return Approval(
        id=record["id"],
        title=record["title"],
        status=record["status"],
        adapter=record["adapter"],
        resume_state=record["resume_state"] or {},
        rows=tuple(
            Row(
                requirement=requirements.parsed_or((record["id"], row["row_id"]), row["requirement"]),
                position=row["position"],
                decision=Decision.model_validate(row["decision"]) if row["decision"] else None,
                decided_by=row["decided_by"],
                decided_by_name=row["decided_by_name"],
                decided_at=aware(row["decided_at"]),
            )
            for row in rows
        ),
        channel=record["channel"],
        thread_ts=record["thread_ts"],
        message_ts=record["message_ts"],
        parent_id=record["parent_id"],
        expires_at=aware(record["expires_at"]),
        expiry_policy=record["expiry_policy"],
        expired=bool(record["expired"]),
        version=record["version"],
        attempts=record["attempts"],
        last_error=record["last_error"],
        created_at=aware(record["created_at"]),
        finished_at=aware(record["finished_at"]),
        metadata=record["metadata"] or {},
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves, so that writers take the lock up front (BEGIN IMMEDIATE)
        # instead of failing to upgrade a read lock later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("slack_hitl_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
