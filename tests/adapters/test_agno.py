"""The Agno adapter against the real agno package and a scripted model (no network, no LLM).

The scripted agent cleans up a staging database. Its first turn makes five tool calls that
pause the run with all four of Agno's requirement kinds: ``archive_table`` (confirmation,
approved), ``drop_table`` (confirmation, rejected with a reason), ``send_report`` (user
input: the recipient), ``count_rows`` (external execution) and ``ask_user`` (user feedback).
Its second turn streams, in several chunks, what each call returned as the model saw it,
then calls ``deploy_cleanup`` for the window the person picked: a nested pause. Its third
turn streams what that call returned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from agno.agent import Agent
from agno.db.sqlite import SqliteDb
from agno.models.message import Message
from agno.run import RunContext
from agno.run.base import RunStatus
from agno.tools import tool
from agno.tools.user_control_flow import UserControlFlowTools
from agno.tools.user_feedback import UserFeedbackTools
from slack_hitl_agno import AgnoAdapter, PauseNotUsable
from slack_hitl_agno.testing import ScriptedModel, ToolCall, Turn, tool_results

from slack_hitl import (
    Actor,
    Approval,
    DecisionInput,
    Done,
    Engine,
    NestedPause,
    Status,
    ToolProgress,
)
from slack_hitl.slack.streaming import StreamLimits
from slack_hitl.testing import EmulatedMessage
from slack_hitl.testing.harness import HitlHarness
from tests.adapters.support import nested_approval, running_engine, texts
from tests.support import ALICE, BOB

os.environ.setdefault("AGNO_TELEMETRY", "false")

REJECT_REASON = "users holds the only copy of the test accounts"
RECIPIENT = "ops@example.com"
ROW_COUNT = "1234 rows"
WINDOW_QUESTION = "When should the cleanup run?"

FIRST_CALLS = (
    ToolCall("archive_table", {"table": "orders_2019"}, id="call_archive"),
    ToolCall("drop_table", {"table": "users"}, id="call_drop"),
    ToolCall("send_report", {"subject": "Staging cleanup"}, id="call_report"),
    ToolCall("count_rows", {"table": "orders"}, id="call_count"),
    ToolCall(
        "ask_user",
        {
            "questions": [
                {
                    "question": WINDOW_QUESTION,
                    "header": "Window",
                    "options": [{"label": "tonight"}, {"label": "weekend"}],
                    "multi_select": False,
                }
            ]
        },
        id="call_ask",
    ),
)


# -- the scripted agent ------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the agent's tools did, so a test can check the run's side effects."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)
    """The idempotency key each archive_table call found in its run context."""

    def ran(self, name: str) -> list[dict[str, Any]]:
        return [arguments for tool_name, arguments in self.calls if tool_name == name]


def _chosen_window(results: dict[str, str]) -> str | None:
    answer = results.get("call_ask", "")
    if not answer.startswith("User feedback received: "):
        return None  # the question went unanswered
    return json.loads(answer.removeprefix("User feedback received: "))[0]["selected"][0]


def script(messages: list[Message]) -> Turn:
    """The model's next turn, from the conversation alone: a new process gets the same answers."""
    results = tool_results(messages)
    if not results:
        return Turn(chunks=["Planning the cleanup. "], tool_calls=FIRST_CALLS)
    if "call_deploy" not in results:
        seen = [f"{call.name}: {results.get(call.id, '<no result>')}\n" for call in FIRST_CALLS]
        window = _chosen_window(results)
        if window is None:
            return Turn(chunks=["Here is what happened.\n", *seen, "Nothing scheduled."])
        return Turn(
            chunks=["Here is what happened.\n", *seen],
            tool_calls=[ToolCall("deploy_cleanup", {"window": window}, id="call_deploy")],
        )
    return Turn(chunks=["Deployed: ", results["call_deploy"], ". All done."])


def build_agent(ledger: Ledger, db: SqliteDb | None = None) -> Agent:
    """The same agent definition every time: a new process builds it anew and resumes from the database."""

    @tool(requires_confirmation=True)
    def archive_table(table: str, run_context: RunContext) -> str:
        """Archive a table."""
        ledger.calls.append(("archive_table", {"table": table}))
        ledger.keys.append((run_context.metadata or {}).get("slack_hitl", {}).get("idempotency_key"))
        return f"archived {table}"

    @tool(requires_confirmation=True)
    def drop_table(table: str) -> str:
        """Drop a table."""
        ledger.calls.append(("drop_table", {"table": table}))
        return f"dropped {table}"

    @tool(requires_user_input=True, user_input_fields=["recipient"])
    def send_report(subject: str, recipient: str) -> str:
        """Mail the cleanup report."""
        ledger.calls.append(("send_report", {"subject": subject, "recipient": recipient}))
        return f"sent {subject!r} to {recipient}"

    @tool(external_execution=True)
    def count_rows(table: str) -> str:
        """Count a table's rows (a person runs it)."""
        ledger.calls.append(("count_rows", {"table": table}))
        return "the agent must never run this itself"

    @tool(requires_confirmation=True)
    def deploy_cleanup(window: str) -> str:
        """Schedule the cleanup."""
        ledger.calls.append(("deploy_cleanup", {"window": window}))
        return f"cleanup scheduled for {window}"

    return Agent(
        name="janitor",
        model=ScriptedModel(script=script),
        tools=[archive_table, drop_table, send_report, count_rows, deploy_cleanup, UserFeedbackTools()],
        db=db,
        telemetry=False,
    )


# -- engine-level plumbing (no Slack) ------------------------------------------------------------


def row_id(approval: Approval, tool_call_id: str) -> str:
    """The row of one tool call: rows are keyed by Agno's requirement id, not by position."""
    return next(r.id for r in approval.rows if r.requirement.metadata["tool_call_id"] == tool_call_id)


FIRST_DECISIONS: dict[str, tuple[Actor, DecisionInput]] = {
    "call_archive": (ALICE, DecisionInput(choices=("approve",))),
    "call_drop": (ALICE, DecisionInput(choices=("reject",), reason=REJECT_REASON)),
    "call_report": (BOB, DecisionInput(values={"recipient": RECIPIENT})),
    "call_count": (BOB, DecisionInput(result=ROW_COUNT)),
    "call_ask": (BOB, DecisionInput(values={"window": "weekend"})),
}


async def decide_first(engine: Engine, approval: Approval, order: list[str] | None = None) -> None:
    for call_id in order or list(FIRST_DECISIONS):
        actor, submitted = FIRST_DECISIONS[call_id]
        await engine.decide(approval.id, row_id(approval, call_id), submitted, actor)


# -- the pause ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_paused_run_becomes_one_approval_with_a_row_per_requirement(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, AgnoAdapter(build_agent(ledger))) as (engine, adapter, _):
        run = await adapter.agent.arun("Clean up the staging database")
        assert run.is_paused
        approval = await adapter.pause_to_approval(engine, run, channel="C_OPS")
        again = await adapter.pause_to_approval(engine, run, channel="C_OPS")

    assert again.id == approval.id, "the same pause must open the same approval"
    assert approval.adapter == "agno"
    assert approval.title == f"janitor: archive_table, drop_table, send_report, count_rows, {WINDOW_QUESTION}"
    assert [r.id for r in approval.rows] == [r.id for r in run.requirements], "row ids are Agno's requirement ids"
    kinds = {r.requirement.metadata["tool_call_id"]: r.requirement.kind for r in approval.rows}
    assert kinds == {
        "call_archive": "confirmation",
        "call_drop": "confirmation",
        "call_report": "user_input",
        "call_count": "external_execution",
        "call_ask": "user_feedback",
    }
    report = approval.row(row_id(approval, "call_report")).requirement
    assert [f.name for f in report.fields] == ["recipient"], "only the field the model left to the person"
    assert report.arguments == {"subject": "Staging cleanup"}
    count = approval.row(row_id(approval, "call_count")).requirement
    assert (count.title, count.arguments) == ("count_rows", {"table": "orders"})
    (question,) = approval.row(row_id(approval, "call_ask")).requirement.questions
    assert (question.name, question.question, question.options) == ("window", WINDOW_QUESTION, ("tonight", "weekend"))
    assert approval.resume_state["run"]["status"] == "PAUSED"
    assert ledger.calls == [], "nothing runs before people decide"


@pytest.mark.anyio
async def test_a_run_that_did_not_pause_is_refused_and_nothing_is_stored(sqlite_url):
    async with running_engine(sqlite_url, AgnoAdapter(build_agent(Ledger()))) as (engine, adapter, _):
        finished = await Agent(
            model=ScriptedModel(script=lambda _: Turn(chunks=["nothing to do"])), telemetry=False
        ).arun("hello")
        assert finished.status == RunStatus.completed
        with pytest.raises(PauseNotUsable, match="nothing for a person to decide"):
            await adapter.pause_to_approval(engine, finished, channel="C_OPS")
        with pytest.raises(PauseNotUsable, match="expected the agno RunOutput"):
            await adapter.pause_to_approval(engine, {"run_id": "x"}, channel="C_OPS")  # type: ignore[arg-type]
        assert await engine.store.list() == []


# -- resuming through the engine ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_decisions_resume_once_stream_the_continuation_and_a_nested_pause_resumes_again(database_url):
    ledger = Ledger()
    async with running_engine(database_url, AgnoAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        run = await adapter.agent.arun("Clean up the staging database")
        approval = await adapter.pause_to_approval(engine, run, channel="C_OPS")
        await decide_first(engine, approval, order=["call_ask", "call_count", "call_report", "call_drop"])
        assert ledger.calls == [], "no resume while a row is undecided"
        await engine.decide(approval.id, row_id(approval, "call_archive"), DecisionInput(choices=("approve",)), ALICE)

        first = await engine.wait_until_final(approval.id, timeout=10)
        nested = await nested_approval(engine.store, approval.id)
        assert first.status == "completed", "one call was rejected, the others approved or answered"

        events = publisher.events[approval.id]
        assert isinstance(events[0], Status)
        chunks = texts(events)
        assert len(chunks) > 1, "the continuation streams in several chunks"
        said = "".join(chunks)
        assert "archive_table: archived orders_2019" in said
        assert f"drop_table: {REJECT_REASON}" in said, "the model saw the rejection reason"
        assert f"send_report: sent 'Staging cleanup' to {RECIPIENT}" in said
        assert f"count_rows: {ROW_COUNT}" in said
        assert '"selected": ["weekend"]' in said
        assert ToolProgress(name="drop_table", state="skipped", detail=f"rejected: {REJECT_REASON}") in events
        assert ToolProgress(name="archive_table", state="started", detail="table='orders_2019'") in events
        assert [e for e in events if isinstance(e, NestedPause)], "the new pause was reported"
        assert not [e for e in events if isinstance(e, Done)], "a paused continuation is not done"

        assert ledger.ran("archive_table") == [{"table": "orders_2019"}]
        assert ledger.ran("drop_table") == [], "a rejected call never runs"
        assert ledger.ran("send_report") == [{"subject": "Staging cleanup", "recipient": RECIPIENT}]
        assert ledger.ran("count_rows") == [], "an external call is run by a person, not by the agent"

        (deploy,) = nested.rows
        assert (deploy.requirement.kind, deploy.requirement.title) == ("confirmation", "deploy_cleanup")
        assert deploy.requirement.arguments == {"window": "weekend"}, "the person's answer reached the model"
        assert nested.channel == "C_OPS"
        await engine.decide(nested.id, deploy.id, DecisionInput(choices=("approve",)), ALICE)
        done = await engine.wait_until_final(nested.id, timeout=10)

    assert done.status == "approved"
    assert ledger.ran("deploy_cleanup") == [{"window": "weekend"}]
    nested_events = publisher.events[nested.id]
    assert len(texts(nested_events)) > 1
    assert "".join(texts(nested_events)) == "Deployed: cleanup scheduled for weekend. All done."
    (final,) = [e for e in nested_events if isinstance(e, Done)]
    assert "cleanup scheduled for weekend" in final.output
    assert len(ledger.ran("archive_table")) == 1, "each approved call ran exactly once"
    assert ledger.keys == [approval.id], "the tool can tell a retried resume by the approval's idempotency key"
    assert publisher.failures == []


@pytest.mark.anyio
async def test_an_agent_with_its_own_agno_database_records_the_run_as_completed(sqlite_url, tmp_path):
    ledger = Ledger()
    agno_db = SqliteDb(db_file=str(tmp_path / "agno.db"))
    async with running_engine(sqlite_url, AgnoAdapter(build_agent(ledger, agno_db))) as (engine, adapter, _):
        run = await adapter.agent.arun("Clean up the staging database")
        approval = await adapter.pause_to_approval(engine, run, channel="C_OPS")
        await decide_first(engine, approval)
        await engine.wait_until_final(approval.id, timeout=10)
        nested = await nested_approval(engine.store, approval.id)
        await engine.decide(nested.id, nested.rows[0].id, DecisionInput(choices=("reject",), reason="not today"), BOB)
        done = await engine.wait_until_final(nested.id, timeout=10)
        stored = await adapter.agent.aget_run_output(run_id=run.run_id, session_id=run.session_id)

    assert done.status == "rejected"
    assert ledger.ran("deploy_cleanup") == []
    assert stored is not None and stored.status == RunStatus.completed
    assert "not today" in (stored.content or ""), "the rejection reason reached the model"


@pytest.mark.anyio
async def test_expired_rows_reach_the_model_as_rejections_and_their_calls_never_run(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, AgnoAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        run = await adapter.agent.arun("Clean up the staging database")
        approval = await adapter.pause_to_approval(engine, run, channel="C_OPS", expiry_policy="reject")
        await decide_first(engine, approval, order=["call_archive", "call_drop"])
        assert await engine.expire(approval.id)
        await engine.wait_until_final(approval.id, timeout=10)
        said = "".join(texts(publisher.events[approval.id]))

    assert ledger.ran("archive_table") == [{"table": "orders_2019"}]
    assert ledger.ran("send_report") == [] and ledger.ran("count_rows") == []
    assert "send_report: expired" in said and "count_rows: expired" in said and "ask_user: expired" in said
    skipped = {e.name for e in publisher.events[approval.id] if isinstance(e, ToolProgress) and e.state == "skipped"}
    assert skipped == {"drop_table", "send_report", "count_rows", "ask_user"}


@pytest.mark.anyio
async def test_rows_that_do_not_match_the_paused_run_fail_the_resume_and_leave_it_retryable(sqlite_url):
    ledger = Ledger()
    async with running_engine(sqlite_url, AgnoAdapter(build_agent(ledger))) as (engine, adapter, publisher):
        run = await adapter.agent.arun("Clean up the staging database")
        rows = adapter.rows_for(run)
        stray = rows[0].model_copy(update={"id": "not-an-agno-requirement"})
        approval = await engine.open_approval(
            title="tampered",
            requirements=[stray, *rows[1:]],
            adapter=adapter,
            resume_state=(await adapter.pause_to_approval(engine, run, channel="C_X")).resume_state,
        )
        for row in approval.rows:
            kind = row.requirement.kind
            submitted = {
                "confirmation": DecisionInput(choices=("approve",)),
                "user_input": DecisionInput(values={"recipient": RECIPIENT}),
                "external_execution": DecisionInput(result=ROW_COUNT),
                "user_feedback": DecisionInput(values={"window": "tonight"}),
            }[kind]
            await engine.decide(approval.id, row.id, submitted, ALICE)
        await engine.drain()
        after = await engine.store.get(approval.id)

    assert after.status == "pending" and after.all_decided, "retryable: rows stay decided"
    assert "not-an-agno-requirement" in (after.last_error or "")
    assert publisher.failures and publisher.failures[0][0] == approval.id
    assert ledger.calls == [], "nothing of the run happened"


def form_and_survey(messages: list[Message]) -> Turn:
    """A model that asks for a form (Agno's get_user_input) and two questions, then repeats the answers."""
    results = tool_results(messages)
    if results:
        return Turn(chunks=[results["call_form"], "\n", results["call_survey"]])
    form = [
        {"field_name": "budget", "field_type": "int", "field_description": "Monthly budget in EUR"},
        {"field_name": "regions", "field_type": "list", "field_description": "Where to deploy"},
        {"field_name": "dry_run", "field_type": "bool", "field_description": "Only plan"},
    ]
    survey = [
        {
            "question": "Which checks must pass?",
            "header": "Checks",
            "options": [{"label": "lint"}, {"label": "tests"}, {"label": "e2e"}],
            "multi_select": True,
        },
        {"question": "Anything else?", "header": "Notes"},
    ]
    return Turn(
        tool_calls=[
            ToolCall("get_user_input", {"user_input_fields": form}, id="call_form"),
            ToolCall("ask_user", {"questions": survey}, id="call_survey"),
        ]
    )


@pytest.mark.anyio
async def test_a_form_and_open_and_multi_select_questions_reach_the_model_typed(sqlite_url):
    agent = Agent(
        model=ScriptedModel(script=form_and_survey),
        tools=[UserControlFlowTools(), UserFeedbackTools()],
        telemetry=False,
    )
    async with running_engine(sqlite_url, AgnoAdapter(agent)) as (engine, adapter, publisher):
        approval = await adapter.pause_to_approval(engine, await agent.arun("Plan the rollout"), channel="C_OPS")
        form = approval.row(row_id(approval, "call_form")).requirement
        survey = approval.row(row_id(approval, "call_survey")).requirement
        assert (form.kind, survey.kind) == ("user_input", "user_feedback")
        assert [(f.name, f.type) for f in form.fields] == [
            ("budget", "integer"),
            ("regions", "long_text"),
            ("dry_run", "boolean"),
        ]
        checks, notes = survey.questions
        assert (checks.name, checks.multiple, checks.options) == ("checks", True, ("lint", "tests", "e2e"))
        assert (notes.name, notes.options, notes.allow_free_text) == ("notes", (), True)

        await engine.decide(
            approval.id,
            form.id,
            DecisionInput(values={"budget": "1200", "regions": '["eu-west", "us-east"]', "dry_run": True}),
            ALICE,
        )
        await engine.decide(
            approval.id,
            survey.id,
            DecisionInput(values={"checks": {"selected": ["lint", "e2e"]}, "notes": "ship before friday"}),
            BOB,
        )
        done = await engine.wait_until_final(approval.id, timeout=10)
        said = "".join(texts(publisher.events[approval.id]))

    assert done.status == "approved"
    expected_form = [
        {"name": "budget", "value": 1200},
        {"name": "regions", "value": ["eu-west", "us-east"]},
        {"name": "dry_run", "value": True},
    ]
    assert f"User inputs retrieved: {json.dumps(expected_form)}" in said, "typed values, the list parsed from JSON"
    assert '"selected": ["lint", "e2e"]' in said
    assert '{"question": "Anything else?", "selected": ["ship before friday"]}' in said


# -- a resume in another process ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
PAUSE_IN_ANOTHER_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from slack_hitl import Engine, Store
    from slack_hitl_agno import AgnoAdapter
    from tests.adapters.test_agno import Ledger, build_agent

    async def main():
        store = await Store.open({url!r})
        adapter = AgnoAdapter(build_agent(Ledger()))
        engine = Engine(store, adapters=[adapter])
        run = await adapter.agent.arun("Clean up the staging database")
        approval = await adapter.pause_to_approval(engine, run, channel="C_OPS")
        await store.close()
        print(approval.id)

    asyncio.run(main())
    """
)


def pause_in_another_process(url: str) -> str:
    """Run the agent until it pauses and open its approval in a separate Python process."""
    code = PAUSE_IN_ANOTHER_PROCESS.format(root=str(ROOT), url=url)
    env = {**os.environ, "AGNO_TELEMETRY": "false"}
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip().splitlines()[-1]


@pytest.mark.anyio
async def test_a_run_paused_in_one_process_resumes_in_another_from_the_database_alone(sqlite_url):
    approval_id = await anyio.to_thread.run_sync(pause_in_another_process, sqlite_url)

    ledger = Ledger()
    async with running_engine(sqlite_url, AgnoAdapter(build_agent(ledger))) as (engine, _, publisher):
        approval = await engine.store.get(approval_id)
        await decide_first(engine, approval)
        await engine.wait_until_final(approval.id, timeout=10)
        nested = await nested_approval(engine.store, approval.id)
        await engine.decide(nested.id, nested.rows[0].id, DecisionInput(choices=("approve",)), ALICE)
        done = await engine.wait_until_final(nested.id, timeout=10)

    assert done.status == "approved"
    assert ledger.ran("archive_table") == [{"table": "orders_2019"}]
    assert ledger.ran("drop_table") == []
    assert ledger.ran("send_report") == [{"subject": "Staging cleanup", "recipient": RECIPIENT}]
    assert ledger.ran("deploy_cleanup") == [{"window": "weekend"}]
    assert f"drop_table: {REJECT_REASON}" in "".join(texts(publisher.events[approval.id]))


# -- through Slack: signed clicks and modal submissions against the emulator --------------------------

SLACK_STREAM = StreamLimits(stream_buffer_chars=1, flush_seconds=0.0)
"""Every text delta goes out in its own ``chat.appendStream``, so chunking is visible in the emulator."""


async def decide_in_slack(hitl: HitlHarness, approval: Approval, call_ids: list[str]) -> None:
    """Alice confirms by button (and rejects with a reason in the modal); Bob fills the other modals."""
    channel, ts = hitl.channel, approval.message_ts
    assert ts is not None
    alice, bob = hitl.user("U0ALICE", "alice"), hitl.user("U0BOB", "bob")
    for call_id in call_ids:
        match call_id:
            case "call_archive":
                await alice.click(channel, ts, button_text="Approve", near="archive_table")
            case "call_drop":
                await alice.click(channel, ts, button_text="Reject", near="drop_table")
                await alice.submit_view({"reason": REJECT_REASON})
            case "call_report":
                await bob.click(channel, ts, button_text="Provide input", near="send_report")
                await bob.submit_view({"f:recipient": RECIPIENT})
            case "call_count":
                await bob.click(channel, ts, button_text="Submit result", near="count_rows")
                await bob.submit_view({"result": ROW_COUNT})
            case "call_ask":
                await bob.click(channel, ts, button_text="Answer", near=WINDOW_QUESTION)
                await bob.submit_view({"q:window": "weekend"})


def streamed_replies(hitl: HitlHarness, approval: Approval) -> list[EmulatedMessage]:
    return [m for m in hitl.thread(approval) if m.stream_chunks]


@pytest.mark.anyio
async def test_through_slack_four_kinds_are_decided_by_clicks_and_modals_and_the_run_resumes_twice():
    ledger = Ledger()
    adapter = AgnoAdapter(build_agent(ledger))
    async with HitlHarness(adapters=[adapter], stream_limits=SLACK_STREAM) as hitl:
        run = await adapter.agent.arun("Clean up the staging database")
        approval = await hitl.posted((await adapter.pause_to_approval(hitl.engine, run, channel=hitl.channel)).id)
        await decide_in_slack(hitl, approval, ["call_archive", "call_drop", "call_report", "call_count"])
        await hitl.settle()
        assert ledger.calls == [] and streamed_replies(hitl, approval) == [], "no resume while a row is undecided"
        await decide_in_slack(hitl, approval, ["call_ask"])

        first = await hitl.engine.wait_until_final(approval.id, timeout=20)
        nested = await hitl.posted((await nested_approval(hitl.store, approval.id)).id)
        await hitl.settle()
        (reply,) = streamed_replies(hitl, approval)
        assert len(reply.stream_chunks) > 1, "the continuation reached the thread in several chunks"
        assert f"drop_table: {REJECT_REASON}" in reply.text, "the model saw the reason given in the modal"
        assert f"send_report: sent 'Staging cleanup' to {RECIPIENT}" in reply.text
        assert f"count_rows: {ROW_COUNT}" in reply.text
        assert '"selected": ["weekend"]' in reply.text
        decisions = {r.requirement.metadata["tool_call_id"]: (r.decided_by, r.decision) for r in first.rows}
        assert decisions["call_drop"][0] == "U0ALICE" and decisions["call_drop"][1].reason == REJECT_REASON
        assert decisions["call_report"][0] == "U0BOB"
        assert nested.thread_ts == approval.message_ts, "the nested approval is posted in the same thread"
        assert any(m.ts == nested.message_ts for m in hitl.thread(approval))

        await hitl.user("U0ALICE", "alice").click(
            hitl.channel, nested.message_ts, button_text="Approve", near="deploy_cleanup"
        )
        done = await hitl.engine.wait_until_final(nested.id, timeout=20)
        await hitl.settle()
        replies = streamed_replies(hitl, approval)

    assert (first.status, done.status) == ("completed", "approved")
    assert ledger.ran("archive_table") == [{"table": "orders_2019"}]
    assert ledger.ran("drop_table") == [] and ledger.ran("count_rows") == []
    assert ledger.ran("send_report") == [{"subject": "Staging cleanup", "recipient": RECIPIENT}]
    assert ledger.ran("deploy_cleanup") == [{"window": "weekend"}]
    assert len(replies) == 2, "each resume streamed its own reply into the thread"
    assert "Deployed: cleanup scheduled for weekend. All done." in replies[1].text
    assert len(replies[1].stream_chunks) > 1


@pytest.mark.anyio
async def test_through_slack_a_resume_after_a_restart_continues_the_run_with_a_new_agent():
    before = Ledger()
    async with HitlHarness(adapters=[AgnoAdapter(build_agent(before))], stream_limits=SLACK_STREAM) as hitl:
        adapter = hitl.engine.adapters["agno"]
        assert isinstance(adapter, AgnoAdapter)
        run = await adapter.agent.arun("Clean up the staging database")
        approval = await hitl.posted((await adapter.pause_to_approval(hitl.engine, run, channel=hitl.channel)).id)
        await decide_in_slack(hitl, approval, ["call_drop", "call_report", "call_ask"])
        await hitl.settle()

        await hitl.restart()
        after = Ledger()
        hitl.engine.register(AgnoAdapter(build_agent(after)))  # a new process builds its agent anew
        await decide_in_slack(hitl, approval, ["call_archive", "call_count"])
        await hitl.engine.wait_until_final(approval.id, timeout=20)
        nested = await hitl.posted((await nested_approval(hitl.store, approval.id)).id)
        await hitl.user("U0BOB", "bob").click(
            hitl.channel, nested.message_ts, button_text="Reject", near="deploy_cleanup"
        )
        await hitl.user("U0BOB", "bob").submit_view({"reason": "not this week"})
        done = await hitl.engine.wait_until_final(nested.id, timeout=20)
        await hitl.settle()
        replies = streamed_replies(hitl, approval)

    assert before.calls == [], "nothing ran in the process that stopped"
    assert done.status == "rejected"
    assert after.ran("archive_table") == [{"table": "orders_2019"}]
    assert after.ran("send_report") == [{"subject": "Staging cleanup", "recipient": RECIPIENT}]
    assert after.ran("drop_table") == [] and after.ran("deploy_cleanup") == []
    assert f"drop_table: {REJECT_REASON}" in replies[0].text, "a reason given before the restart still arrived"
    assert "Deployed: not this week" in replies[1].text, "the nested rejection reason reached the model"
