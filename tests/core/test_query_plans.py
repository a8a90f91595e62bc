"""The statements that run however many approvals are stored find theirs through an index: a page
of the listing, and the worker's sweeps. A plan that reads every approval (or row) or sorts every
match would slow with each approval ever stored (benchmarks/bench_scale.py measures it)."""

from __future__ import annotations

import pytest

from slack_hitl.store import Store
from slack_hitl.store import statements as sql
from slack_hitl.store.slack_messages import OUT_OF_DATE

pytestmark = pytest.mark.anyio

INDEXED = {
    "a page, newest first": sql.NEWEST_IDS,
    "a page of one status": sql.NEWEST_IDS_WITH_STATUS,
    "due resumes": sql.DUE_RESUMES,
    "out-of-date messages": OUT_OF_DATE,
    "due for expiry": sql.DUE_FOR_EXPIRY,
    "due reminders": sql.DUE_REMINDERS,
    "due escalations": sql.DUE_ESCALATIONS,
    "expired leases": sql.EXPIRED_LEASES,
    "approvals pending": sql.PENDING_COUNT,
    "oldest due resume": sql.OLDEST_DUE_RESUME,
    "next expiry": sql.NEXT_EXPIRY,
    "next retry": sql.NEXT_RETRY,
    "next lease end": sql.NEXT_LEASE_END,
    "next reminder": sql.NEXT_REMINDER,
    "next reminder lease end": sql.NEXT_REMINDER_LEASE_END,
    "next escalation": sql.NEXT_ESCALATION,
}


@pytest.mark.parametrize("name", INDEXED)
async def test_the_listing_and_the_worker_sweeps_read_approvals_through_an_index(sqlite_url: str, name: str) -> None:
    store = await Store.open(sqlite_url)
    try:
        compiled = INDEXED[name].compile(dialect=store.engine.dialect)
        parameters = tuple(None for _ in compiled.positiontup or ())
        async with store.engine.connect() as conn:
            found = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters)
            plan = [str(step[3]) for step in found.all()]
    finally:
        await store.close()
    whole_tables = [step for step in plan if step.split() in (["SCAN", "approvals"], ["SCAN", "approval_rows"])]
    assert whole_tables == [], plan
    assert not [step for step in plan if "TEMP B-TREE" in step], plan
