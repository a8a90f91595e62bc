"""The Pydantic AI adapter against the real pydantic-ai package and a scripted model (no network).

The scripted agent cleans up a staging database. Its first turn makes four deferred tool calls of
Pydantic AI's three kinds: two ``drop_table`` calls that need approval (one is approved, one is
rejected with a reason), an external ``count_rows`` whose result a person supplies, and an
``ask_user`` question. Its second turn streams what it saw in several chunks and asks to run
``notify_team`` (a nested pause); its third turn streams what that call returned.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent, CallDeferred, DeferredToolRequests, RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from slack_hitl_pydantic_ai import (
    PauseNotUsable,
    PydanticAIAdapter,
    ResumeNotPossible,
    deferred_requirements,
    deferred_results,
)

from slack_hitl import (
    Actor,
    ClassificationError,
    DecisionInput,
    Done,
    Engine,
    NestedPause,
    ToolProgress,
)
from slack_hitl.slack.streaming import StreamLimits
from slack_hitl.testing.harness import HitlHarness
from tests.adapters.support import running_engine, texts
from tests.support import ALICE, BOB

REJECT_REASON = "users holds the only copy of the test accounts"


# -- the scripted agent ------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the agent's tools and model did, so tests can check the run's side effects."""

    dropped: list[tuple[str, Any]] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    model_calls: int = 0
    drop_failures: int = 0
    """How many ``drop_table`` calls fail (raise) before one works."""


def _tool_returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    last = messages[-1]
    if not isinstance(last, ModelRequest):
        return []
    return [part for part in last.parts if isinstance(part, ToolReturnPart)]


def _call(index: int, name: str, call_id: str, **arguments: Any) -> dict[int, DeltaToolCall]:
    return {index: DeltaToolCall(name=name, json_args=json.dumps(arguments), tool_call_id=call_id)}


def build_agent(ledger: Ledger) -> Agent[None, str | DeferredToolRequests]:
    """The same agent definition every time: a new process builds it anew and resumes from the database."""

    async def script(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        ledger.model_calls += 1
        returns = _tool_returns(messages)
        if not returns:
            yield _call(0, "drop_table", "call_drop_sessions", table="sessions")
            yield _call(1, "count_rows", "call_count_orders", table="orders")
            yield _call(2, "drop_table", "call_drop_users", table="users")
            yield _call(3, "ask_user", "call_ask_backup", question="Which backup first?", options=["nightly", "weekly"])
            return
        if returns[0].tool_name == "notify_team":
            yield "Team notified: "
            yield f"{returns[0].model_response_str()}. "
            yield "All done."
            return
        yield "Here is what happened. "
        for part in returns:
            yield f"{part.tool_name}[{part.tool_call_id}] {part.outcome}: {part.model_response_str()}. "
        yield _call(1, "notify_team", "call_notify", message="staging cleaned")

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        """The same script, not streamed: what ``agent.run`` asks for."""
        text, calls = "", []
        async for item in script(messages, info):
            if isinstance(item, str):
                text += item
            else:
                calls += [ToolCallPart(d.name, d.json_args, tool_call_id=d.tool_call_id) for d in item.values()]
        return ModelResponse(parts=[*([TextPart(text)] if text else []), *calls])

    agent: Agent[None, str | DeferredToolRequests] = Agent(
        FunctionModel(respond, stream_function=script, model_name="scripted"),
        output_type=[str, DeferredToolRequests],
        name="janitor",
    )

    @agent.tool(requires_approval=True)
    def drop_table(ctx: RunContext[None], table: str) -> str:
        if ledger.drop_failures:
            ledger.drop_failures -= 1
            raise ConnectionError("database unreachable")
        ledger.dropped.append((table, ctx.tool_call_metadata))
        return f"dropped {table}"

    @agent.tool_plain
    def count_rows(table: str) -> int:
        raise CallDeferred(metadata={"result_format": "json", "description": f"Count the rows of {table}"})

    @agent.tool_plain
    def ask_user(question: str, options: list[str]) -> str:
        raise CallDeferred(kind="question")

    @agent.tool_plain(requires_approval=True)
    def notify_team(message: str) -> str:
        ledger.notified.append(message)
        return f"posted {message!r} to #staging"

    return agent


# -- engine-level plumbing (no Slack) ------------------------------------------------------------


async def paused_run(agent: Agent[None, Any]):
    return await agent.run("Clean up the staging database")


FIRST_DECISIONS: dict[str, tuple[Actor, DecisionInput]] = {
    "call_drop_sessions": (ALICE, DecisionInput(choices=("approve",))),
    "call_count_orders": (BOB, DecisionInput(result="1234")),
    "call_drop_users": (ALICE, DecisionInput(choices=("reject",), reason=REJECT_REASON)),
    "call_ask_backup": (BOB, DecisionInput(values={"answer": "weekly"})),
}


# -- the pause ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_pause_becomes_one_row_per_deferred_call_with_its_kind_and_id(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, PydanticAIAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        result = await paused_run(adapter.agent)
        approval = await adapter.pause_to_approval(engine, result, channel="C_OPS", title="Staging cleanup")

        rows = {row.id: row.requirement for row in approval.rows}
        # In the order the model made the calls (Pydantic AI lists approvals before other calls).
        assert list(rows) == ["call_drop_sessions", "call_count_orders", "call_drop_users", "call_ask_backup"]
        assert {rid: r.kind for rid, r in rows.items()} == {
            "call_drop_sessions": "confirmation",
            "call_drop_users": "confirmation",
            "call_count_orders": "external_execution",
            "call_ask_backup": "user_feedback",
        }
        assert rows["call_drop_users"].title == "drop_table"
        assert rows["call_drop_users"].arguments == {"table": "users"}
        assert rows["call_drop_users"].reason_policy == "required_on_reject"  # the model is told why
        assert rows["call_count_orders"].result_format == "json"
        assert rows["call_count_orders"].description == "Count the rows of orders"
        question = rows["call_ask_backup"].questions[0]
        assert (question.question, question.options, question.multiple) == (
            "Which backup first?",
            ("nightly", "weekly"),
            False,
        )
        assert approval.resume_state["run_id"] == result.run_id
        assert publisher.opened == [approval.id]
        # Opening the same paused run again is the same approval, not a second message.
        again = await adapter.pause_to_approval(engine, result, channel="C_OPS", title="Staging cleanup")
        assert again.id == approval.id
        assert publisher.opened == [approval.id]
        assert ledger.dropped == []


@pytest.mark.anyio
async def test_a_finished_run_is_refused_and_opens_nothing(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, PydanticAIAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        finished = await adapter.agent.run("hi", message_history=[], output_type=str, model=_text_model())
        with pytest.raises(PauseNotUsable, match="not DeferredToolRequests"):
            await adapter.pause_to_approval(engine, finished, channel="C_OPS", title="nothing")
        assert publisher.opened == []
        assert await engine.store.counts() == {}


def _text_model() -> FunctionModel:
    def say(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("nothing to approve")])

    return FunctionModel(say)


def test_a_question_call_without_a_question_cannot_be_classified():
    requests = DeferredToolRequests(
        calls=[ToolCallPart(tool_name="ask_user", args={"topic": "backups"}, tool_call_id="q1")],
        _kinds={"q1": "question"},
    )
    with pytest.raises(ClassificationError, match="no `question` or `questions`"):
        deferred_requirements(requests)


def test_questions_in_the_list_shape_are_answered_by_name():
    from pydantic_ai.messages import ToolCallPart

    questions = [
        {"header": "Backup", "question": "Which backup?", "options": [{"label": "nightly"}, {"label": "weekly"}]},
        {"header": "Regions", "question": "Which regions?", "options": ["eu", "us"], "multi_select": True},
        {"header": "Note", "question": "Anything else?"},
    ]
    requests = DeferredToolRequests(
        calls=[ToolCallPart(tool_name="ask_user_question", args={"questions": questions}, tool_call_id="q1")],
        _kinds={"q1": "question"},
    )
    [requirement] = deferred_requirements(requests)
    assert requirement.kind == "user_feedback"
    assert [(q.name, q.options, q.multiple, q.allow_free_text) for q in requirement.questions] == [
        ("Backup", ("nightly", "weekly"), False, False),
        ("Regions", ("eu", "us"), True, False),
        ("Note", (), False, True),
    ]


# -- deciding and resuming through the engine --------------------------------------------------


async def decide_as_planned(engine: Engine, approval_id: str, plan: dict[str, tuple[Actor, DecisionInput]]) -> None:
    """Decide each row of ``plan`` (row id -> who decides, what they submit), in its order."""
    for row_id, (actor, submitted) in plan.items():
        await engine.decide(approval_id, row_id, submitted, actor)


@pytest.mark.anyio
async def test_decisions_resume_the_run_once_and_each_reaches_its_tool_call(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, PydanticAIAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        approval = await adapter.pause_to_approval(
            engine, await paused_run(adapter.agent), channel="C_OPS", title="Staging cleanup"
        )
        assert ledger.model_calls == 1

        # Decided in an order unlike the rows' order: answers go by tool call id, never by position.
        *earlier, (undecided_last, (actor, submitted)) = reversed(FIRST_DECISIONS.items())
        await decide_as_planned(engine, approval.id, dict(earlier))
        await engine.drain()  # a resume started by a decision would be finished by now
        assert ledger.model_calls == 1, "the run must not resume while a row is undecided"
        assert ledger.dropped == []
        with pytest.raises(ResumeNotPossible, match=f"undecided rows: {undecided_last}"):
            deferred_results(await engine.store.get(approval.id), idempotency_key="k")

        outcome = await engine.decide(approval.id, undecided_last, submitted, actor)
        assert outcome.resumed
        first = await engine.wait_until_final(approval.id, timeout=10)
        assert first.status == "completed"  # one row rejected, the others approved or answered
        assert ledger.model_calls == 2

        # The approved call ran with its arguments and knew who approved it; the rejected one did not run.
        assert [table for table, _ in ledger.dropped] == ["sessions"]
        call_metadata = ledger.dropped[0][1]["slack_hitl"]
        assert call_metadata["approval_id"] == approval.id
        assert call_metadata["decided_by"] == ALICE.id

        events = publisher.events[approval.id]
        chunks = texts(events)
        assert len(chunks) > 1
        streamed = "".join(chunks)
        assert "drop_table[call_drop_sessions] success: dropped sessions" in streamed
        assert f"drop_table[call_drop_users] denied: Rejected by {ALICE.name}: {REJECT_REASON}" in streamed
        assert "count_rows[call_count_orders] success: 1234" in streamed
        assert "ask_user[call_ask_backup] success: weekly" in streamed
        progress = [(e.name, e.state) for e in events if isinstance(e, ToolProgress)]
        assert ("drop_table", "started") in progress
        assert ("drop_table", "finished") in progress
        assert ("drop_table", "skipped") in progress
        assert ("notify_team", "skipped") in progress  # waits for the nested approval

        # The new pause is a nested approval in the same thread, resumed by the same adapter.
        [nested_event] = [e for e in events if isinstance(e, NestedPause)]
        assert [r.id for r in nested_event.requirements] == ["call_notify"]
        assert not any(isinstance(e, Done) for e in events)
        assert ledger.notified == []
        [nested_id] = [a for a in publisher.opened if a != approval.id]
        nested = await engine.store.get(nested_id)
        assert nested.parent_id == approval.id
        assert nested.adapter == adapter.name
        assert nested.rows[0].requirement.arguments == {"message": "staging cleaned"}

        await engine.decide(nested_id, "call_notify", DecisionInput(choices=("approve",)), BOB)
        final = await engine.wait_until_final(nested_id, timeout=10)
        assert final.status == "approved"
        assert ledger.notified == ["staging cleaned"]
        assert ledger.model_calls == 3
        nested_events = publisher.events[nested_id]
        assert len(texts(nested_events)) > 1
        [done] = [e for e in nested_events if isinstance(e, Done)]
        assert done.output == "Team notified: posted 'staging cleaned' to #staging. All done."
        assert [(a, e) for a, e in publisher.failures] == []


@pytest.mark.anyio
async def test_a_failed_resume_is_retryable_and_the_retry_answers_every_call_again(sqlite_url):
    ledger = Ledger(drop_failures=1)
    async with running_engine(sqlite_url, PydanticAIAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        approval = await adapter.pause_to_approval(
            engine, await paused_run(adapter.agent), channel="C_OPS", title="Staging cleanup"
        )
        await decide_as_planned(engine, approval.id, FIRST_DECISIONS)
        await engine.drain()
        failed = await engine.store.get(approval.id)
        assert failed.status == "pending" and failed.all_decided
        assert "database unreachable" in (failed.last_error or "")
        assert publisher.failures[0][0] == approval.id
        assert ledger.dropped == []

        assert await engine.retry(approval.id)
        done = await engine.wait_until_final(approval.id, timeout=10)
        assert done.status == "completed"
        assert [table for table, _ in ledger.dropped] == ["sessions"]
        assert f"Rejected by {ALICE.name}: {REJECT_REASON}" in "".join(texts(publisher.events[approval.id]))


@pytest.mark.anyio
async def test_a_resume_after_a_restart_needs_only_the_database_and_the_agent(database_url):
    first_process = Ledger()
    async with running_engine(database_url, PydanticAIAdapter(build_agent(first_process))) as (engine, adapter, _):
        approval = await adapter.pause_to_approval(
            engine, await paused_run(adapter.agent), channel="C_OPS", title="Staging cleanup"
        )
        rows = list(FIRST_DECISIONS.items())
        await decide_as_planned(engine, approval.id, dict(rows[:2]))

    second_process = Ledger()  # a new store, engine, adapter and agent: nothing shared in memory
    async with running_engine(database_url, PydanticAIAdapter(build_agent(second_process))) as (
        engine,
        adapter,
        publisher,
    ):
        await decide_as_planned(engine, approval.id, dict(rows[2:]))
        done = await engine.wait_until_final(approval.id, timeout=10)
        assert done.status == "completed"
        assert [table for table, _ in second_process.dropped] == ["sessions"]
        assert first_process.dropped == [] and first_process.model_calls == 1
        streamed = "".join(texts(publisher.events[approval.id]))
        assert f"Rejected by {ALICE.name}: {REJECT_REASON}" in streamed
        assert "count_rows[call_count_orders] success: 1234" in streamed


@pytest.mark.anyio
async def test_an_approval_with_a_foreign_resume_state_fails_retryably(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, PydanticAIAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        requirements = deferred_requirements((await paused_run(adapter.agent)).output)
        approval = await engine.open_approval(
            title="hand-made", requirements=requirements[:1], adapter=adapter, resume_state={"thread_id": "t1"}
        )
        await engine.decide(approval.id, requirements[0].id, DecisionInput(choices=("approve",)), ALICE)
        await engine.drain()
        after = await engine.store.get(approval.id)
        assert after.status == "pending" and after.all_decided
        assert ResumeNotPossible.__name__ in (after.last_error or "")
        assert "no Pydantic AI message history" in (after.last_error or "")
        assert publisher.failures and publisher.failures[0][0] == approval.id
        assert ledger.dropped == []


@pytest.mark.anyio
async def test_an_expired_approval_tells_the_model_why_each_open_call_got_no_answer(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, PydanticAIAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        approval = await adapter.pause_to_approval(
            engine, await paused_run(adapter.agent), channel="C_OPS", title="Staging cleanup"
        )
        await decide_as_planned(engine, approval.id, {"call_drop_sessions": FIRST_DECISIONS["call_drop_sessions"]})
        assert await engine.expire(approval.id)
        final = await engine.wait_until_final(approval.id, timeout=10)
        assert final.status == "expired"
        assert [table for table, _ in ledger.dropped] == ["sessions"]  # decided before the expiry
        streamed = "".join(texts(publisher.events[approval.id]))
        assert "drop_table[call_drop_users] denied: Rejected by expiry: expired" in streamed
        assert "count_rows[call_count_orders] failed:" in streamed
        assert "No answer was given (expiry: expired)" in streamed
        assert "ask_user[call_ask_backup] failed:" in streamed


# -- through Slack: signed clicks and modal submissions on the emulator ----------------------------


async def decide_in_slack(hitl: HitlHarness, message_ts: str, rows: set[str]) -> None:
    """People decide the named rows of the first pause the way they would in Slack."""
    alice, bob = hitl.user(ALICE.id, ALICE.name), hitl.user(BOB.id, BOB.name)
    channel = hitl.channel
    if "call_drop_sessions" in rows:
        await alice.click(channel, message_ts, button_text="Approve", near="sessions")
    if "call_drop_users" in rows:
        await alice.click(channel, message_ts, button_text="Reject", near="users")  # asks for the reason
        assert (await alice.submit_view({"Reason": REJECT_REASON})).status_code == 200
    if "call_count_orders" in rows:
        await bob.click(channel, message_ts, button_text="Submit result", near="count_rows")
        assert (await bob.submit_view({"Result": "1234"})).status_code == 200
    if "call_ask_backup" in rows:
        await bob.click(channel, message_ts, button_text="Answer", near="ask_user")
        assert (await bob.submit_view({"Which backup first?": "weekly"})).status_code == 200


def thread_text(hitl: HitlHarness, approval) -> str:
    return "\n".join(message.text for message in hitl.thread(approval))


def stream_appends(hitl: HitlHarness, approval) -> list[str]:
    """The text of each ``chat.appendStream`` call into the approval's thread, in order."""
    replies = {m.ts for m in hitl.thread(approval)}
    return [
        call.params.get("markdown_text") or json.dumps(call.params.get("chunks"))
        for call in hitl.emulator.calls
        if call.method == "chat.appendStream" and call.ok and call.params.get("ts") in replies
    ]


@pytest.mark.anyio
async def test_in_slack_a_pause_is_decided_by_clicks_and_modals_resumed_once_and_paused_again():
    ledger = Ledger()
    adapter = PydanticAIAdapter(build_agent(ledger))
    # A small stream buffer, so each text delta the scripted model sends at once goes out as it comes
    # (a real model's deltas are spread over seconds and the publisher flushes them every second).
    async with HitlHarness(adapters=[adapter], stream_limits=StreamLimits(stream_buffer_chars=32)) as hitl:
        result = await paused_run(adapter.agent)
        opened = await adapter.pause_to_approval(hitl.engine, result, channel=hitl.channel, title="Staging cleanup")
        approval = await hitl.posted(opened.id)
        shown = json.dumps(hitl.message(approval).blocks)
        for row_title in ("drop_table", "count_rows", "ask_user"):
            assert row_title in shown

        await decide_in_slack(hitl, approval.message_ts, set(FIRST_DECISIONS) - {"call_ask_backup"})
        await hitl.settle()
        assert ledger.model_calls == 1 and ledger.dropped == []  # one row is still open: no resume
        await decide_in_slack(hitl, approval.message_ts, {"call_ask_backup"})

        first = await hitl.engine.wait_until_final(approval.id, timeout=20)
        await hitl.settle()
        assert first.status == "completed"
        assert {row.id: (row.decided_by, row.decision.outcome) for row in first.rows} == {
            "call_drop_sessions": (ALICE.id, "approved"),
            "call_count_orders": (BOB.id, "answered"),
            "call_drop_users": (ALICE.id, "rejected"),
            "call_ask_backup": (BOB.id, "answered"),
        }
        assert first.row("call_drop_users").decision.reason == REJECT_REASON
        assert ledger.model_calls == 2  # resumed exactly once
        assert [table for table, _ in ledger.dropped] == ["sessions"]
        assert ledger.dropped[0][1]["slack_hitl"]["decided_by"] == ALICE.id

        # The continuation streamed into the thread in several appends, reflecting each decision.
        model_text = [chunk for chunk in stream_appends(hitl, first) if "[call_" in chunk]
        assert len(model_text) > 1
        assert "call_drop_sessions" in model_text[0] and "call_ask_backup" in model_text[-1]
        text = thread_text(hitl, first)
        assert "drop_table[call_drop_sessions] success: dropped sessions" in text
        assert f"drop_table[call_drop_users] denied: Rejected by {ALICE.name}: {REJECT_REASON}" in text
        assert "count_rows[call_count_orders] success: 1234" in text
        assert "ask_user[call_ask_backup] success: weekly" in text

        # The run paused again: a second approval, posted in the same thread, decided by a click.
        nested_message = next(m for m in hitl.thread(first) if "notify_team" in json.dumps(m.blocks))
        nested_id = await hitl.store.approval_for_message(hitl.channel, nested_message.ts)
        nested = await hitl.store.get(nested_id)
        assert nested.parent_id == first.id and nested.thread_ts == first.message_ts
        assert ledger.notified == []
        await hitl.user(BOB.id, BOB.name).click(hitl.channel, first.message_ts, button_text="Approve", near="notify")
        final = await hitl.engine.wait_until_final(nested_id, timeout=20)
        await hitl.settle()
        assert final.status == "approved"
        assert ledger.notified == ["staging cleaned"]
        assert ledger.model_calls == 3
        assert "Team notified: posted 'staging cleaned' to #staging. All done." in thread_text(hitl, first)


@pytest.mark.anyio
async def test_in_slack_a_resume_after_a_restart_works_from_the_database_alone():
    before_restart = Ledger()
    adapter = PydanticAIAdapter(build_agent(before_restart))
    async with HitlHarness(adapters=[adapter]) as hitl:
        result = await paused_run(adapter.agent)
        opened = await adapter.pause_to_approval(hitl.engine, result, channel=hitl.channel, title="Staging cleanup")
        approval = await hitl.posted(opened.id)
        await decide_in_slack(hitl, approval.message_ts, {"call_drop_sessions", "call_drop_users"})
        await hitl.settle()

        # A deploy: new engine, store connection and app; the agent is built anew, nothing kept in memory.
        after_restart = Ledger()
        hitl.adapters[:] = [PydanticAIAdapter(build_agent(after_restart))]
        await hitl.restart()
        await decide_in_slack(hitl, approval.message_ts, {"call_count_orders", "call_ask_backup"})
        final = await hitl.engine.wait_until_final(approval.id, timeout=20)
        await hitl.settle()

        assert final.status == "completed"
        assert before_restart.model_calls == 1 and before_restart.dropped == []
        assert after_restart.model_calls == 1  # the second turn only: the first is in the stored history
        assert [table for table, _ in after_restart.dropped] == ["sessions"]
        text = thread_text(hitl, final)
        assert f"Rejected by {ALICE.name}: {REJECT_REASON}" in text
        assert "count_rows[call_count_orders] success: 1234" in text


def test_the_cookbook_example_runs_offline_and_prints_the_decided_thread():
    example = Path(__file__).parents[2] / "cookbook" / "pydantic_ai_example.py"
    finished = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    printed = finished.stdout
    assert "migrate_database: rejected by Ana (0042 needs the backfill job to finish first)" in printed
    assert "- migrate_database: Rejected by Ana: 0042 needs the backfill job to finish first" in printed
    assert "- error_rate: 0.12" in printed and "- ask_user: canary" in printed
    assert "announce` finished: posted to #releases" in printed
    assert "The release is done." in printed
