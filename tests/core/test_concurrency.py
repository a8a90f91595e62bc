"""Many deciders at once, in one process and in several: each row decided once, each approval resumed once."""

import asyncio
import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slack_hitl import Actor, AlreadyDecided, ApprovalClosed, Engine, Requirement, Store
from tests.core.racer import answer
from tests.core.support import RecordingAdapter
from tests.support import four_kinds

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


async def open_approvals(store: Store, count: int) -> list[str]:
    engine = Engine(store)
    ids = []
    for n in range(count):
        approval = await engine.open_approval(title=f"run {n}", requirements=four_kinds(), adapter="recording")
        ids.append(approval.id)
    return ids


async def assert_each_row_decided_once(store: Store, approval_ids: list[str]) -> None:
    for approval_id in approval_ids:
        approval = await store.get(approval_id)
        assert approval.status == "approved", approval_id
        decided = collections.Counter(
            e["row_id"] for e in await store.decision_log(approval_id) if e["event"] == "decided"
        )
        assert decided == {row.id: 1 for row in approval.rows}
        resumes = [e for e in await store.decision_log(approval_id) if e["event"] == "resuming"]
        assert len(resumes) == 1


async def test_concurrent_tasks_decide_each_row_once_and_resume_once(database_url):
    store = await Store.open(database_url)
    approval_ids = await open_approvals(store, 15)
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    work = [(a, row) for a in approval_ids for row in (await store.get(a)).rows] * 3  # every row 3 times
    random.Random(7).shuffle(work)
    refused = collections.Counter()

    async def decider(n: int) -> None:
        actor = Actor(id=f"U{n}", name=f"user{n}")
        for approval_id, row in work[n::40]:
            try:
                await engine.decide(approval_id, row.id, answer(row), actor)
            except (AlreadyDecided, ApprovalClosed) as error:
                refused[type(error).__name__] += 1

    await asyncio.gather(*(decider(n) for n in range(40)))
    await engine.drain()
    assert sorted(a for a, _, _ in adapter.resumes) == sorted(approval_ids)
    assert adapter.undecided_at_resume == []
    assert sum(refused.values()) == len(work) - 15 * 4
    await assert_each_row_decided_once(store, approval_ids)
    await store.close()


def run_racers(mode: str, url: str, log: Path, approval_ids: list[str], count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.core.racer", mode, url, str(log), ",".join(approval_ids)], cwd=ROOT
        )
        for _ in range(count)
    ]


async def test_concurrent_processes_decide_each_row_once_and_resume_once(database_url, tmp_path):
    store = await Store.open(database_url)
    approval_ids = await open_approvals(store, 12)
    log = tmp_path / "resumes.log"
    racers = run_racers("decide", database_url, log, approval_ids, 3)
    codes = [await asyncio.to_thread(p.wait, 120) for p in racers]
    assert codes == [0, 0, 0]
    lines = [line.split() for line in log.read_text().splitlines()]
    assert sorted(line[1] for line in lines) == sorted(approval_ids)  # each approval resumed exactly once
    assert {line[2] for line in lines} == {"0"}  # and never with an undecided row
    assert len({line[3] for line in lines}) >= 1
    await assert_each_row_decided_once(store, approval_ids)
    await store.close()


async def test_a_resume_killed_mid_way_is_resumed_once_by_the_sweeper(database_url, tmp_path):
    store = await Store.open(database_url)
    (approval_id,) = await open_approvals(store, 1)
    log = tmp_path / "resumes.log"
    (child,) = run_racers("hang", database_url, log, [approval_id], 1)
    deadline = time.monotonic() + 60
    while not (log.exists() and "started" in log.read_text()):
        assert child.poll() is None, "the child died before it started resuming"
        assert time.monotonic() < deadline, "the child never started resuming"
        await asyncio.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    assert await asyncio.to_thread(child.wait, 10) == -signal.SIGKILL
    assert (await store.get(approval_id)).status == "resuming"

    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    deadline = time.monotonic() + 30
    while not adapter.resumes:
        assert time.monotonic() < deadline, "the sweeper never took over the dead resume"
        await engine.sweep()
        await engine.drain()
        await asyncio.sleep(0.2)
    for _ in range(3):
        await engine.sweep()
        await engine.drain()
    assert [a for a, _, _ in adapter.resumes] == [approval_id]
    assert adapter.resumes[0][1] == approval_id  # the idempotency key the dead attempt had too
    final = await store.get(approval_id)
    assert final.status == "approved"
    events = [e["event"] for e in await store.decision_log(approval_id)]
    assert events.count("resuming") == 1 and events.count("lease_taken_over") == 1
    await store.close()


async def rolled_back_in_a_deadlock(postgres_url: str, rows: int, write, waits_for: str):
    """Another session holds row r1 of a new approval while ``write(store, approval_id)`` starts and
    waits for it; then it runs ``waits_for`` (with the approval id as $1), which needs what ``write``
    holds. PostgreSQL breaks the cycle by rolling ``write`` back: the store's sessions check for
    deadlocks after 1 s, the other after 10 s. The other session rolls back, and ``write`` must
    still end. ``write``'s result, the approval after, and its log."""
    store = await Store.open(postgres_url)
    try:
        engine = Engine(store, adapters=[RecordingAdapter()])
        requirements = [Requirement(id=f"r{i}", kind="confirmation", title=f"tool {i}") for i in range(rows)]
        approval = await engine.open_approval(title="t", requirements=requirements, adapter="recording")
        other = await another_session(postgres_url)
        try:
            await other.execute("SET deadlock_timeout = '10s'")
            holding = other.transaction()
            await holding.start()
            await other.execute(
                "SELECT 1 FROM approval_rows WHERE approval_id = $1 AND row_id = 'r1' FOR UPDATE", approval.id
            )
            writing = asyncio.ensure_future(write(store, approval.id))
            await asyncio.sleep(0.3)
            # It gets what it waits for when ``write`` is rolled back.
            await asyncio.wait_for(other.execute(waits_for, approval.id), timeout=30)
            await holding.rollback()
            result = await asyncio.wait_for(writing, timeout=30)
        finally:
            await other.close()
        return result, await store.get(approval.id), await store.decision_log(approval.id)
    finally:
        await store.close()


async def test_a_batch_that_postgres_rolls_back_to_break_a_deadlock_is_written_again(postgres_url):
    """The batch decides r0 and r1: it takes r0, then waits for r1, which another transaction holds
    until it waits for r0. The batch is rolled back and written again, whole."""
    from slack_hitl.decisions import Decision
    from slack_hitl.store import DecideCommand

    def decide_r1_and_r0(store: Store, approval_id: str):
        return asyncio.gather(
            *(
                store.decide(DecideCommand(approval_id, row_id, Decision(outcome="approved"), Actor(id=f"U{row_id}")))
                for row_id in ("r1", "r0")  # one batch
            )
        )

    results, decided, log = await rolled_back_in_a_deadlock(
        postgres_url,
        3,
        decide_r1_and_r0,
        "UPDATE approval_rows SET position = position WHERE approval_id = $1 AND row_id = 'r0'",
    )
    assert [r.decided for r in results] == [True, True]
    assert {row.id: row.decided_by for row in decided.rows} == {"r0": "Ur0", "r1": "Ur1", "r2": None}
    assert sorted(e["row_id"] for e in log if e["event"] == "decided") == ["r0", "r1"]


async def another_session(postgres_url: str):
    """A connection of its own to the test's database, for a transaction the store must wait for."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )


async def withdrawal_meeting(postgres_url: str, *held: str):
    """Alice decides r0 of two rows, then withdraws it while another session holds a transaction that
    ran ``held`` (statements with the approval id as $1). The withdrawal must wait for it, not skip
    what is locked; it is then committed. The withdrawal's result, the approval and its log's events."""
    store = await Store.open(postgres_url)
    alice = Actor(id="UALICE", name="alice")
    try:
        engine = Engine(store, adapters=[RecordingAdapter()])
        rows = [Requirement(id=f"r{i}", kind="confirmation", title=f"tool {i}") for i in range(2)]
        approval = await engine.open_approval(title="t", requirements=rows, adapter="recording")
        await engine.decide(approval.id, "r0", answer(approval.rows[0]), alice)
        other = await another_session(postgres_url)
        try:
            holding = other.transaction()
            await holding.start()
            for statement in held:
                await other.execute(statement, approval.id)
            withdrawal = asyncio.create_task(store.withdraw(approval.id, "r0", alice))
            await asyncio.sleep(0.5)
            assert not withdrawal.done()  # it waits for what the other transaction holds
            await holding.commit()
            result = await asyncio.wait_for(withdrawal, timeout=30)
        finally:
            await other.close()
        return result, await store.get(approval.id), [e["event"] for e in await store.decision_log(approval.id)]
    finally:
        await store.close()


async def test_a_withdrawal_waits_for_the_decide_of_the_last_other_row_and_then_refuses(postgres_url):
    """Another transaction decides the last undecided row and holds it and its approval (as a decide's
    batch does until commit). The withdrawal then refuses: every row is decided, the resume may be claimed."""
    result, approval, events = await withdrawal_meeting(
        postgres_url,
        "UPDATE approval_rows SET status = 'decided', outcome = 'approved', decided_by = 'UBOB' "
        "WHERE approval_id = $1 AND row_id = 'r1'",
        "UPDATE approvals SET version = version + 1 WHERE id = $1",
    )
    assert not result.withdrawn and result.refusal == "last_row"
    assert {row.id: row.decided_by for row in approval.rows} == {"r0": "UALICE", "r1": "UBOB"}
    assert "withdrawn" not in events


async def test_a_withdrawal_waits_for_another_that_holds_its_row_and_then_finds_nothing_to_withdraw(postgres_url):
    """The same person's first withdrawal (a double click) holds the row: the second finds the row
    pending again and says so; it neither skips the row nor withdraws twice."""
    result, approval, events = await withdrawal_meeting(
        postgres_url,
        "UPDATE approval_rows SET status = 'pending', outcome = NULL, decision = NULL, decided_by = NULL, "
        "decided_by_name = NULL, decided_at = NULL WHERE approval_id = $1 AND row_id = 'r0'",
    )
    assert not result.withdrawn and result.refusal == "not_decided"
    assert approval.rows[0].decided_by is None and "withdrawn" not in events


async def test_an_expiry_that_postgres_rolls_back_to_break_a_deadlock_is_written_again(postgres_url):
    """An expiry locks the approval, then its rows; a decide locks its row, then the approval. The
    other session stands in for that decide: it holds r1, then waits for the approval. The expiry
    is rolled back and written again."""
    from slack_hitl.decisions import Decision

    rejected = {row_id: Decision(outcome="rejected", reason="expired") for row_id in ("r0", "r1")}
    won, expired, log = await rolled_back_in_a_deadlock(
        postgres_url,
        2,
        lambda store, approval_id: store.expire(approval_id, rejected, Actor(id="slack_hitl:expiry")),
        "UPDATE approvals SET version = version + 1 WHERE id = $1",
    )
    assert won and expired.expired
    assert {row.id: row.decided_by for row in expired.rows} == {"r0": "slack_hitl:expiry", "r1": "slack_hitl:expiry"}
    events = [e["event"] for e in log]
    assert events.count("expired") == 1 and events.count("decided") == 2 and events.count("resuming") == 1
