"""A process that does not claim resumes (a service's web process) hands them to the store; workers take them once.

The web process decides rows; deciding the last one leaves the approval pending with every row
decided. Workers sweeping the same database claim it with the resume CAS: exactly one runs it,
never before the last row is decided, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio

import pytest

from slack_hitl import DecisionInput, Engine, Requirement, Store
from tests.core.support import RecordingAdapter
from tests.support import ALICE

pytestmark = pytest.mark.anyio


def rows(count: int) -> list[Requirement]:
    return [Requirement(id=f"r{i}", kind="confirmation", title=f"tool {i}") for i in range(count)]


async def test_the_web_process_leaves_the_resume_to_a_worker_which_runs_it_once(database_url: str) -> None:
    web_store = await Store.open(database_url, claims_resumes=False)
    web_adapter = RecordingAdapter()
    web = Engine(web_store, adapters=[web_adapter])
    worker_stores = [await Store.open(database_url, create=False) for _ in range(3)]
    worker_adapters = [RecordingAdapter() for _ in worker_stores]
    workers = [Engine(store, adapters=[adapter]) for store, adapter in zip(worker_stores, worker_adapters, strict=True)]
    try:
        approval = await web.open_approval(title="t", requirements=rows(3), adapter="recording")
        for row_id in ("r0", "r1"):
            assert not (await web.decide(approval.id, row_id, DecisionInput(choices=("approve",)), ALICE)).resumed
        # Not due while a row is undecided.
        assert [(await worker.sweep())["resumed"] for worker in workers] == [0, 0, 0]

        last = await web.decide(approval.id, "r2", DecisionInput(choices=("approve",)), ALICE)
        assert not last.resumed
        handed = await web_store.get(approval.id)
        assert handed.status == "pending" and handed.all_decided and handed.attempts == 0

        # Three workers sweep at once: one claims it.
        swept = await asyncio.gather(*(worker.sweep() for worker in workers))
        assert sorted(result["resumed"] for result in swept) == [0, 0, 1]
        for worker in workers:
            await worker.drain()
        assert (await web_store.get(approval.id)).status == "approved"
        assert [len(adapter.resumes) for adapter in worker_adapters].count(1) == 1
        assert sum(len(adapter.resumes) for adapter in worker_adapters) == 1
        assert web_adapter.resumes == []
        assert all(adapter.undecided_at_resume == [] for adapter in worker_adapters)
        events = [entry["event"] for entry in await web_store.decision_log(approval.id)]
        assert events.count("resuming") == 1 and events[-1] == "approved"
        assert [(await worker.sweep())["resumed"] for worker in workers] == [0, 0, 0]
    finally:
        for store in (web_store, *worker_stores):
            await store.close()


async def test_a_burst_of_approvals_decided_by_the_web_process_is_shared_by_workers(database_url: str) -> None:
    web_store = await Store.open(database_url, claims_resumes=False)
    web = Engine(web_store, adapters=[RecordingAdapter()])
    worker_stores = [await Store.open(database_url, create=False) for _ in range(2)]
    adapters = [RecordingAdapter(), RecordingAdapter()]
    workers = [Engine(store, adapters=[adapter]) for store, adapter in zip(worker_stores, adapters, strict=True)]
    try:
        opened = [await web.open_approval(title=f"t{n}", requirements=rows(2), adapter="recording") for n in range(20)]
        decisions = [
            web.decide(approval.id, row_id, DecisionInput(choices=("approve",)), ALICE)
            for approval in opened
            for row_id in ("r0", "r1")
        ]

        async def sweep_until_done() -> None:
            while sum(len(adapter.resumes) for adapter in adapters) < len(opened):
                await asyncio.gather(*(worker.sweep() for worker in workers))
                await asyncio.sleep(0.01)

        await asyncio.gather(*decisions, asyncio.wait_for(sweep_until_done(), 30))
        for worker in workers:
            await worker.drain()
        resumed = [approval_id for adapter in adapters for approval_id, _, _ in adapter.resumes]
        assert sorted(resumed) == sorted(approval.id for approval in opened)  # each once
        assert {(await web_store.get(approval.id)).status for approval in opened} == {"approved"}
    finally:
        for store in (web_store, *worker_stores):
            await store.close()


async def test_a_worker_claims_a_due_resume_another_transaction_holds_once_it_is_free(postgres_url: str) -> None:
    """On PostgreSQL one statement finds and claims the due resumes. An approval another transaction
    holds (the worker's own re-render, say) is waited for, not skipped: skipped, it would wait for
    the next wake-up, seconds later (seen as a 2.6 s click -> callback in benchmarks/bench_idle.py)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    web_store = await Store.open(postgres_url, claims_resumes=False)
    web = Engine(web_store, adapters=[RecordingAdapter()])
    worker = await Store.open(postgres_url, create=False)
    try:
        opened = [await web.open_approval(title=f"t{n}", requirements=rows(1), adapter="recording") for n in range(3)]
        for approval in opened:
            await web.decide(approval.id, "r0", DecisionInput(choices=("approve",)), ALICE)
        url = make_url(postgres_url)
        other = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
        )
        try:
            holding = other.transaction()
            await holding.start()
            await other.execute("SELECT 1 FROM approvals WHERE id = $1 FOR UPDATE", opened[0].id)
            claiming = asyncio.create_task(worker.claim_due_resumes(max_attempts=3))
            await asyncio.sleep(0.5)
            assert not claiming.done()  # it waits for the held approval
            await holding.rollback()
            claimed = await asyncio.wait_for(claiming, timeout=10)
        finally:
            await other.close()
        assert claimed == sorted(a.id for a in opened)
        assert await worker.claim_due_resumes(max_attempts=3) == []
        assert {(await worker.get(a.id)).status for a in opened} == {"resuming"}
    finally:
        await web_store.close()
        await worker.close()
