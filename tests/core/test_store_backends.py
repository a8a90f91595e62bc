"""Every database URL the store accepts runs the engine the same way, and the two ways of running a
transaction (SQLAlchemy's connections; a SQLite file's own threads) store the same bytes."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql.base import Executable

from slack_hitl import Actor, AlreadyDecided, DecisionInput, Engine, Requirement, Store
from slack_hitl.store import PostedPart, SlackMessages, slack_messages, statements
from slack_hitl.store.database import SqlAlchemyDatabase
from slack_hitl.store.sqlite_file import SqliteFileDatabase
from tests.core.support import RecordingAdapter

pytestmark = pytest.mark.anyio

APPROVE = DecisionInput(choices=("approve",))


def rows(count: int) -> list[Requirement]:
    return [Requirement(id=f"r{i}", kind="confirmation", title=f"tool {i}") for i in range(count)]


def in_memory_urls() -> list[str]:
    return [
        "sqlite://",
        "sqlite:///:memory:",
        f"sqlite:///file:hitl-{uuid.uuid4().hex}?mode=memory&cache=shared&uri=true",
        "sqlite:///file::memory:?uri=true",
    ]


async def decide_everything_at_once(store: Store, approvals: int, row_count: int) -> tuple[Engine, RecordingAdapter]:
    """Open approvals, then decide each row twice at once (two people): once each, and every run resumed once."""
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    opened = [
        await engine.open_approval(title=f"run {n}", requirements=rows(row_count), adapter="recording")
        for n in range(approvals)
    ]
    clicks = [
        engine.decide(approval.id, f"r{i}", APPROVE, Actor(id=f"U{person}", name=f"person {person}"))
        for approval in opened
        for i in range(row_count)
        for person in range(2)
    ]
    outcomes = await asyncio.gather(*clicks, *(store.get(a.id) for a in opened), return_exceptions=True)
    decided = [o for o in outcomes[: len(clicks)] if not isinstance(o, BaseException)]
    assert len(decided) == approvals * row_count
    assert all(isinstance(o, AlreadyDecided) for o in outcomes[: len(clicks)] if isinstance(o, BaseException))
    assert sum(o.resumed for o in decided) == approvals
    await engine.drain()
    finals = await store.list_approvals()
    assert sorted(a.id for a in finals) == sorted(a.id for a in opened)
    assert {a.status for a in finals} == {"approved"}
    assert sorted(approval_id for approval_id, _, _ in adapter.resumes) == sorted(a.id for a in opened)
    return engine, adapter


@pytest.mark.parametrize("url", in_memory_urls())
async def test_an_in_memory_database_is_one_connection_that_every_transaction_takes_in_turn(url: str) -> None:
    store = await Store.open(url)
    try:
        assert isinstance(store.database, SqlAlchemyDatabase)
        await decide_everything_at_once(store, approvals=5, row_count=4)
        assert await store.counts() == {"approved": 5}
        log = await store.decision_log((await store.list_approvals(limit=1))[0].id)
        assert [e["event"] for e in log] == ["opened", *["decided"] * 4, "resuming", "approved"]
    finally:
        await store.close()


async def test_two_in_memory_stores_are_two_databases() -> None:
    first, second = await Store.open("sqlite://"), await Store.open("sqlite://")
    try:
        await Engine(first, adapters=[RecordingAdapter()]).open_approval(
            title="t", requirements=rows(1), adapter="recording"
        )
        assert len(await first.approval_ids()) == 1
        assert await second.approval_ids() == []
    finally:
        await first.close()
        await second.close()


async def test_a_file_uri_is_a_file_that_the_store_runs_in_its_own_threads(tmp_path: Path) -> None:
    path = tmp_path / "hitl.db"
    store = await Store.open(f"sqlite:///file:{path}?uri=true")
    try:
        assert isinstance(store.database, SqliteFileDatabase)
        await decide_everything_at_once(store, approvals=3, row_count=3)
    finally:
        await store.close()
    reopened = await Store.open(f"sqlite:///{path}", create=False)  # the same file, by its path
    try:
        assert await reopened.counts() == {"approved": 3}
    finally:
        await reopened.close()


async def test_an_in_memory_engine_with_a_pool_of_its_own_is_refused_with_what_to_use_instead() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        with pytest.raises(ValueError, match=r"Store\.open\(url\).*sqlite:///") as refused:
            Store(engine)
        assert "one connection" in str(refused.value)
    finally:
        await engine.dispose()


async def test_one_new_idempotency_key_opened_at_once_by_two_processes_makes_one_approval(database_url: str) -> None:
    stores = [await Store.open(database_url), await Store.open(database_url, create=False)]
    engines = [Engine(store, adapters=[RecordingAdapter()]) for store in stores]
    try:
        opened = await asyncio.gather(
            *(
                engines[n % 2].open_approval(
                    title="Deploy", requirements=rows(2), adapter="recording", idempotency_key="run-7:pause-1"
                )
                for n in range(8)
            )
        )
        assert len({approval.id for approval in opened}) == 1
        (approval_id,) = await stores[0].approval_ids()
        assert [e["event"] for e in await stores[1].decision_log(approval_id)] == ["opened"]
    finally:
        for store in stores:
            await store.close()


# -- the same bytes on both paths ----------------------------------------------------------------

_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


TABLES = ("approvals", "approval_rows", "decision_log")


def shaped(found: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Rows as SQLite holds them, with times and generated ids replaced by what they look like."""

    def shape(value: object) -> object:
        if isinstance(value, str) and _TIME.match(value):
            return "<time>"
        if isinstance(value, str):
            return re.sub(r"[0-9a-f]{32}|proc-[0-9a-f]{12}", "<id>", value)
        return value

    return sorted((tuple(shape(value) for value in row) for row in found), key=repr)


async def scripted_run(store: Store) -> None:
    """One of everything the store writes: open, decide (with a reason, a repeat, a refusal), resume,
    fail and retry, expire, cancel."""
    adapter = RecordingAdapter(fail_times=1)
    engine = Engine(store, adapters=[adapter], retry_backoff_seconds=0)
    first = await engine.open_approval(title="first", requirements=rows(2), adapter="recording", metadata={"m": 1})
    await engine.decide(first.id, "r0", APPROVE, Actor(id="U1", name="ann"), delivery_key="k0")
    await engine.decide(first.id, "r0", APPROVE, Actor(id="U1", name="ann"), delivery_key="k0")  # a repeat
    with pytest.raises(AlreadyDecided):
        await engine.decide(first.id, "r0", APPROVE, Actor(id="U2"))
    await engine.decide(first.id, "r1", DecisionInput(choices=("reject",), reason="no"), Actor(id="U2"))
    await engine.drain()  # the first resume fails
    assert await engine.retry(first.id)
    await engine.drain()
    second = await engine.open_approval(title="second", requirements=rows(3), adapter="recording")
    await engine.decide(second.id, "r0", APPROVE, Actor(id="U1"))
    await engine.expire(second.id)
    await engine.drain()
    third = await engine.open_approval(title="third", requirements=rows(1), adapter="recording")
    await engine.cancel(third.id, reason="not needed")


async def test_the_sqlite_file_threads_store_what_sqlalchemy_stores_byte_for_byte(tmp_path: Path) -> None:
    """The same run on a SQLite file (its own threads) and in memory (SQLAlchemy's connection): the
    same values, in the same formats, as SQLite holds them."""
    path = tmp_path / "hitl.db"
    threads = await Store.open(f"sqlite:///{path}")
    try:
        await scripted_run(threads)
    finally:
        await threads.close()
    with sqlite3.connect(path) as conn:
        by_threads = {table: shaped(conn.execute(f"SELECT * FROM {table}").fetchall()) for table in TABLES}

    in_memory = await Store.open("sqlite://")
    try:
        await scripted_run(in_memory)
        async with in_memory.engine.connect() as conn:  # the driver's values, unconverted
            by_sqlalchemy = {
                table: shaped([tuple(row) for row in await conn.exec_driver_sql(f"SELECT * FROM {table}")])
                for table in TABLES
            }
    finally:
        await in_memory.close()
    assert by_threads == by_sqlalchemy
    assert len(by_threads["decision_log"]) > 15


def store_statements() -> dict[str, Executable]:
    found = {
        name: value
        for module in (statements, slack_messages)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, Executable)
    }
    sizes = {statements.decide_rows_size(n) for n in range(1, statements.MAX_BATCH + 1)}
    assert sizes == {1, 2, 4, 8, 16, 32, 64, 128, 256}  # a handful of row CAS statements, whatever the load
    found.update({f"decide_rows({size})": statements.decide_rows(size) for size in sorted(sizes)})
    return found


def test_sqlalchemy_caches_the_compilation_of_every_statement_of_the_store() -> None:
    """An uncacheable statement (a VALUES list is one) would be compiled again on every execution."""
    uncacheable = [name for name, statement in store_statements().items() if statement._generate_cache_key() is None]
    assert uncacheable == []


async def test_one_process_at_a_time_may_post_an_approval_and_only_the_claim_holder_records_it(
    database_url: str,
) -> None:
    first = await Store.open(database_url, owner="first")
    second = await Store.open(database_url, create=False, owner="second")
    try:
        approval = await Engine(first, adapters=[RecordingAdapter()]).open_approval(
            title="Deploy?", requirements=rows(1), adapter="recording"
        )
        mine, theirs = SlackMessages(first), SlackMessages(second)
        now = dt.datetime.now(dt.UTC)
        assert await mine.claim_post(approval.id, "first", seconds=30, now=now) == 1
        assert await theirs.claim_post(approval.id, "second", seconds=30, now=now) is None
        # The first process's post outlasted its claim; the second takes over and posts first.
        later = now + dt.timedelta(seconds=31)
        assert await theirs.claim_post(approval.id, "second", seconds=30, now=later) == 2
        assert await theirs.record_posted(approval.id, [PostedPart("C0A", "2.000200", 0, 0)], claimed_by="second")
        assert not await mine.record_posted(approval.id, [PostedPart("C0A", "1.000100", 0, 0)], claimed_by="first")
        assert (await first.get(approval.id)).message_ts == "2.000200"
        assert await mine.parts(approval.id) == [PostedPart("C0A", "2.000200", 0, 0)]
        assert await mine.claim_post(approval.id, "first", seconds=30, now=later + dt.timedelta(minutes=5)) is None
    finally:
        await second.close()
        await first.close()


async def test_an_unposted_approval_falls_due_after_the_grace_or_when_its_post_claim_runs_out(
    database_url: str,
) -> None:
    store = await Store.open(database_url, owner="opener")
    try:
        approval = await Engine(store, adapters=[RecordingAdapter()]).open_approval(
            title="Deploy?", requirements=rows(1), adapter="recording"
        )
        messages, opened = SlackMessages(store), approval.created_at
        seconds = dt.timedelta(seconds=1)
        assert await messages.next_unposted_due(now=opened, unposted_after=30) == opened + 30 * seconds
        # A claim that outlasts the grace holds it back: its holder may still post it.
        await messages.claim_post(approval.id, "opener", seconds=60, now=opened)
        assert await messages.next_unposted_due(now=opened, unposted_after=30) == opened + 60 * seconds
        # Due already: the sweep of that moment takes it, so a sweeper does not wait for it again.
        assert await messages.next_unposted_due(now=opened + 60 * seconds, unposted_after=30) is None
        assert await messages.record_posted(approval.id, [PostedPart("C0A", "1.000100", 0, 0)], claimed_by="opener")
        assert await messages.next_unposted_due(now=opened, unposted_after=30) is None
    finally:
        await store.close()
