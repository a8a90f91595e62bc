"""The decide path's fast parts: one load per approval for concurrent cache misses, prebuilt
batch statements of every size, and a public way to see and await the engine's background work."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from slack_hitl import Actor, DecisionInput, Engine, Requirement, Store
from slack_hitl.store import DecideCommand
from slack_hitl.store.postgres import PostgresDatabase
from slack_hitl.store.sqlite_file import SqliteFileDatabase
from tests.core.support import RecordingAdapter

pytestmark = pytest.mark.anyio


def rows(count: int) -> list[Requirement]:
    return [Requirement(id=f"r{i}", kind="confirmation", title=f"tool {i}") for i in range(count)]


async def count_row_loads(store: Store) -> list[str]:
    """The statements that read requirements, as the database driver sees them."""
    seen: list[str] = []

    def record(statement: str) -> None:
        if "approval_rows.requirement" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    if isinstance(store.database, SqliteFileDatabase):  # reads go through the store's own reader connection
        await store.database._reader.run(lambda conn: conn.set_trace_callback(record))
    elif isinstance(store.database, PostgresDatabase):
        await store.database.log_queries(record)
    else:

        @event.listens_for(store.engine.sync_engine, "before_cursor_execute")
        def _record(conn, cursor, statement, parameters, context, executemany):
            record(statement)

    return seen


async def test_concurrent_misses_on_one_approval_load_its_rows_once(database_url):
    writer = await Store.open(database_url)
    engine = Engine(writer, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(title="t", requirements=rows(20), adapter="recording")
    await writer.close()

    reader = await Store.open(database_url, create=False)  # a fresh process: nothing cached
    loads = await count_row_loads(reader)
    try:
        found = await asyncio.gather(*(reader.requirement(approval.id, f"r{i}") for i in range(20)))
        assert [r.id for r in found] == [f"r{i}" for i in range(20)]
        assert len(loads) == 1
        assert await reader.requirement(approval.id, "r3") is found[3]  # cached: no query
        assert len(loads) == 1
        assert await reader.requirement(approval.id, "nope") is None
        assert reader._loading == {}  # nothing left in flight
    finally:
        await reader.close()


async def test_a_failed_load_reaches_every_waiter_and_the_next_miss_retries(sqlite_url):
    writer = await Store.open(sqlite_url)
    approval = await Engine(writer, adapters=[RecordingAdapter()]).open_approval(
        title="t", requirements=rows(2), adapter="recording"
    )
    async with writer.engine.begin() as conn:
        await conn.exec_driver_sql('UPDATE approval_rows SET requirement = \'{"kind": "nonsense"}\'')
    await writer.close()
    store = await Store.open(sqlite_url, create=False)  # a fresh process: nothing cached
    try:
        outcomes = await asyncio.gather(
            store.requirement(approval.id, "r0"), store.requirement(approval.id, "r1"), return_exceptions=True
        )
        assert all(isinstance(outcome, ValueError) for outcome in outcomes)
        assert store._loading == {}
    finally:
        await store.close()


@pytest.mark.parametrize("size", [1, 2, 7, 50])
async def test_batches_of_any_size_decide_each_row_once_with_its_values(database_url, size):
    store = await Store.open(database_url)
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(title="t", requirements=rows(size), adapter="recording")
    actor = Actor(id="U1", name="ann")
    answer = DecisionInput(choices=("approve",))
    try:
        # Each row twice in one batch: the first arrival wins, the second sees the row decided.
        outcomes = await asyncio.gather(
            *(
                engine.decide(approval.id, f"r{i % size}", answer, Actor(id=f"U{n}", name=f"u{n}"))
                for n, i in enumerate(range(2 * size))
            ),
            return_exceptions=True,
        )
        decided = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(decided) == size
        assert sum(o.resumed for o in decided) == 1
        await engine.drain()
        final = await store.get(approval.id)
        assert final.status == "approved"
        assert all(row.decided_by == f"U{i}" for i, row in enumerate(final.rows))
        assert {row.decision.choices for row in final.rows} == {("approve",)}
        log = [e for e in await store.decision_log(approval.id) if e["event"] == "decided"]
        assert len(log) == size
        assert all(e["data"]["outcome"] == "approved" and "reason" not in e["data"] for e in log)
        again = await store.decide(DecideCommand(approval.id, "r0", final.rows[0].decision, actor))
        assert not again.decided
    finally:
        await store.close()


async def test_busy_and_drain_follow_the_resume(sqlite_url):
    gate = asyncio.Event()
    store = await Store.open(sqlite_url)
    engine = Engine(store, adapters=[RecordingAdapter(pause=gate)])
    approval = await engine.open_approval(title="t", requirements=rows(1), adapter="recording")
    try:
        assert not engine.busy
        outcome = await engine.decide(approval.id, "r0", DecisionInput(choices=("approve",)), Actor(id="U1"))
        assert outcome.resumed and engine.busy
        waiting = asyncio.create_task(engine.drain())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        gate.set()
        await asyncio.wait_for(waiting, 10)
        assert not engine.busy
        assert (await store.get(approval.id)).status == "approved"
    finally:
        await store.close()


async def test_what_the_sqlite_fast_path_writes_reads_back_as_the_sqlalchemy_path_wrote_it(sqlite_url, database_url):
    """Decide on a SQLite file (one hop) and on PostgreSQL (SQLAlchemy): the same approval, log and times."""
    seen = []
    for url in (sqlite_url, database_url):
        store = await Store.open(url)
        engine = Engine(store, adapters=[RecordingAdapter()])
        approval = await engine.open_approval(title="t", requirements=rows(2), adapter="recording")
        try:
            await engine.decide(approval.id, "r0", DecisionInput(choices=("approve",)), Actor(id="U1", name="ann"))
            await engine.decide(
                approval.id, "r1", DecisionInput(choices=("reject",), reason="no"), Actor(id="U2"), delivery_key="k"
            )
            repeat = await engine.decide(
                approval.id, "r1", DecisionInput(choices=("reject",), reason="no"), Actor(id="U2"), delivery_key="k"
            )
            await engine.drain()
            final = await store.get(approval.id)
            log = await store.decision_log(approval.id)
            assert repeat.repeated
            assert final.finished_at is not None and final.finished_at.tzinfo is not None
            assert all(row.decided_at is not None and row.decided_at.tzinfo is not None for row in final.rows)
            assert final.rows[0].decided_at <= final.finished_at
            seen.append(
                (
                    final.status,
                    final.version,
                    final.attempts,
                    [(r.id, r.decided_by, r.decided_by_name, r.decision) for r in final.rows],
                    [
                        (e["event"], e["row_id"], e["actor"], e["reason"], e["data"])
                        for e in log
                        if e["event"] != "resuming"
                    ],
                    [e["data"] == {"owner": store.owner} for e in log if e["event"] == "resuming"],
                )
            )
        finally:
            await store.close()
    assert seen[0] == seen[1]
    assert seen[0][5] == [True]


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_group_commit_writes_up_to_in_flight_batches_at_once_and_batches_the_rest(in_flight):
    import datetime as dt

    from slack_hitl.decisions import Decision
    from slack_hitl.store.decide import DecideResult, GroupCommit

    batches: list[list[str]] = []
    release = asyncio.Event()

    async def write_batch(batch):
        batches.append([c.row_id for c in batch.commands])
        await release.wait()
        return [DecideResult(decided=True) for _ in batch.commands]

    commit = GroupCommit(write_batch, lambda: dt.datetime.now(dt.UTC), in_flight=in_flight)
    commands = [DecideCommand("a", f"r{i}", Decision(outcome="approved"), Actor(id="U1")) for i in range(6)]
    decided = []
    for command in commands:  # one at a time, each after the batches before it went out
        decided.append(asyncio.create_task(commit.decide(command)))
        await asyncio.sleep(0.01)
    # The first `in_flight` decisions each went out in a batch of their own; the rest wait, together.
    assert batches == [[f"r{i}"] for i in range(in_flight)]
    release.set()
    assert all(r.decided for r in await asyncio.gather(*decided))
    assert sorted(row for batch in batches for row in batch) == [f"r{i}" for i in range(6)]
    assert batches[in_flight:] == [[f"r{i}" for i in range(in_flight, 6)]]
    await commit.close()
