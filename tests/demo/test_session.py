"""The demo session on a database that outlives it: the scripted session end to end, earlier runs, other people's work."""

from __future__ import annotations

import io

import pytest

from slack_hitl import Engine, Requirement, Store
from slack_hitl.demo import DemoDatabaseInUse, DemoSession, run_script

pytestmark = pytest.mark.anyio


async def test_the_scripted_session_decides_every_row_and_waits_for_the_resume(database_url: str) -> None:
    out = io.StringIO()
    assert await run_script(database_url, out, pace=0) == 0
    printed = out.getvalue()
    assert "refused in the modal: not valid JSON" in printed
    assert "refused, only alice sees: You may not decide" in printed
    assert "Release notes** (Friendly)" in printed
    store = await Store.open(database_url, create=False)
    try:
        (approval,) = await store.list_approvals()
        assert approval.status == "completed" and approval.all_decided
        for row in approval.rows:
            assert f"| {row.requirement.title} | {row.requirement.kind} | {row.decision.outcome}" in printed
        assert approval.row("migrate").decision.reason == "Wait for tonight's backup to finish."
        assert approval.row("deploy").decided_by == "U0CAROL"
    finally:
        await store.close()


async def test_a_new_run_cancels_what_an_earlier_run_left_open_without_touching_its_vanished_messages(
    sqlite_url: str,
) -> None:
    async with DemoSession(sqlite_url, pace=0) as first:
        left_open = await first.open_sample("release")
    async with DemoSession(sqlite_url, pace=0) as second:
        assert second.retired == 1
        assert (await second.hitl.store.get(left_open.id)).status == "cancelled"
        fresh = await second.open_sample("release")
        await second.hitl.settle()
        calls = second.hitl.emulator.calls
        assert [c.method for c in calls if not c.ok] == []
        assert {c.params.get("ts") for c in calls if c.method == "chat.update"} <= {fresh.message_ts}


async def test_a_database_with_open_approvals_of_other_adapters_is_refused_and_left_alone(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url)
    try:
        theirs = await Engine(store).open_approval(
            title="Real work",
            requirements=[Requirement(id="r", kind="confirmation", title="Deploy")],
            adapter="langgraph",
        )
    finally:
        await store.close()
    with pytest.raises(DemoDatabaseInUse, match="holds open approvals of langgraph; the demo would resume them"):
        async with DemoSession(sqlite_url, pace=0):
            pass
    store = await Store.open(sqlite_url, create=False)
    try:
        unchanged = await store.get(theirs.id)
        assert unchanged.status == "pending" and unchanged.version == theirs.version
    finally:
        await store.close()
