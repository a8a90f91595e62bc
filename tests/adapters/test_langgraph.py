"""The LangGraph adapter against the real langgraph / langchain packages, a scripted model and real SQLite.

Two ways a graph pauses are covered: LangChain v1's HumanInTheLoopMiddleware (batched and
per-call) on a ``create_agent`` agent, and plain ``interrupt()`` calls in parallel nodes of a
``StateGraph``. Checkpoints live in a SQLite file (``AsyncSqliteSaver``), approvals in another,
so a "restart" rebuilds every object from the two files.

The first tests go through Slack: the Slack emulator, the app under uvicorn, and a person who
clicks and fills modals with signed requests (``HitlHarness``). The later ones drive the
engine directly, for what Slack adds nothing to (per-call mode, repeated resumes, bad input).
"""

from __future__ import annotations

import importlib.util
import operator
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import structlog
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field
from slack_hitl_langgraph import LangGraphAdapter, PauseNotUsable
from slack_hitl_langgraph.testing import ScriptedChatModel
from typing_extensions import TypedDict

from slack_hitl import (
    Approval,
    Deciders,
    DecisionInput,
    Done,
    Engine,
    NestedPause,
    RequesterRefused,
    TextDelta,
    ToolProgress,
)
from slack_hitl.errors import ClassificationError
from slack_hitl.slack.streaming import StreamLimits
from slack_hitl.testing import RecordingPublisher, SlackTestUser
from slack_hitl.testing.harness import HitlHarness
from tests.adapters.support import decide_all, nested_approval, running_engine, texts
from tests.support import ALICE

pytestmark = pytest.mark.anyio

THREAD = {"configurable": {"thread_id": "order-42"}}
FIX_ORDER_42 = {"messages": [{"role": "user", "content": "fix order 42"}]}


# -- the agent: an order desk whose tools need people ---------------------------------------

FIRST_CALLS = [
    {"id": "call_refund", "name": "refund", "args": {"order": "42", "amount": 120}},
    {"id": "call_delete", "name": "delete_user", "args": {"user": "bob"}},
    {"id": "call_address", "name": "update_address", "args": {"order": "42", "street": "1 Old Rd", "floor": 1}},
    {
        "id": "call_ask",
        "name": "ask_user",
        "args": {"question": "Which tone for the apology?", "options": ["formal", "friendly"]},
    },
    {"id": "call_stock", "name": "check_stock", "args": {"sku": "A1"}},
]
EMAIL_CALL = {"id": "call_email", "name": "send_email", "args": {"to": "bob@example.com", "subject": "Your order 42"}}


def order_desk(messages: list[BaseMessage]) -> AIMessage:
    """The scripted model: five tool calls, then a summary and an email, then a final summary."""
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return AIMessage(content="Looking into order 42.", tool_calls=FIRST_CALLS)
    seen = " | ".join(f"{m.name}: {m.content}" for m in results)
    if not any(m.name == "send_email" for m in results):
        return AIMessage(content=f"So far: {seen}. Now I will email Bob.", tool_calls=[EMAIL_CALL])
    return AIMessage(content=f"All done. {seen}")


@dataclass
class ToolLog:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def order_tools(log: ToolLog) -> list[Any]:
    @tool
    def refund(order: str, amount: int) -> str:
        """Refund an order."""
        log.calls.append(("refund", {"order": order, "amount": amount}))
        return f"refunded {amount} on order {order}"

    @tool
    def delete_user(user: str) -> str:
        """Delete a user account."""
        log.calls.append(("delete_user", {"user": user}))
        return f"deleted {user}"

    @tool
    def update_address(order: str, street: str, floor: int) -> str:
        """Change the delivery address of an order."""
        log.calls.append(("update_address", {"order": order, "street": street, "floor": floor}))
        return f"address of {order} set to {street}, floor {floor}"

    @tool
    def ask_user(question: str, options: list[str]) -> str:
        """Ask the person a question."""
        log.calls.append(("ask_user", {"question": question}))
        return "the tool itself never answers"

    @tool
    def check_stock(sku: str) -> str:
        """Look up stock in the warehouse system (done by a person)."""
        log.calls.append(("check_stock", {"sku": sku}))
        return "the tool itself never answers"

    @tool
    def send_email(to: str, subject: str) -> str:
        """Send an email."""
        log.calls.append(("send_email", {"to": to, "subject": subject}))
        return f"emailed {to}"

    return [refund, delete_user, update_address, ask_user, check_stock, send_email]


ORDER_REVIEW: dict[str, Any] = {
    "refund": {"allowed_decisions": ["approve", "reject"]},
    "delete_user": {"allowed_decisions": ["approve", "reject"]},
    "update_address": {"allowed_decisions": ["edit"]},
    "ask_user": {"allowed_decisions": ["respond"]},
    "check_stock": {"allowed_decisions": ["respond"]},
    "send_email": True,
}


def order_agent(
    checkpointer: Any, log: ToolLog, mode: Literal["batched", "per_call"], review_on: dict[str, Any] = ORDER_REVIEW
) -> Any:
    review = HumanInTheLoopMiddleware(interrupt_on=review_on, interrupt_mode=mode)
    return create_agent(
        ScriptedChatModel(script=order_desk), tools=order_tools(log), middleware=[review], checkpointer=checkpointer
    )


ORDER_DECISIONS = {
    "call_refund": DecisionInput(choices=("approve",)),
    "call_delete": DecisionInput(choices=("reject",), reason="Bob asked to keep his account"),
    "call_address": DecisionInput(values={"order": "42", "street": "9 New St", "floor": 3}),
    "call_ask": DecisionInput(values={"answer": {"selected": ["friendly"], "text": "keep it short"}}),
    "call_stock": DecisionInput(result="12 in stock"),
}


# -- a plain graph: four kinds from parallel nodes, by payload convention -------------------


class Scale(BaseModel):
    replicas: int = Field(ge=1, le=10)
    region: Literal["eu", "us"]


class ReleaseState(TypedDict, total=False):
    results: Annotated[list[list[Any]], operator.add]
    summary: str


def release_graph(checkpointer: Any, log: ToolLog) -> Any:
    def deploy(state: ReleaseState) -> ReleaseState:
        answer = interrupt(
            {
                "kind": "confirmation",
                "title": "Deploy v2 to prod?",
                "arguments": {"version": "v2"},
                "reason": "required_on_reject",
            }
        )
        return {"results": [["deploy", answer["approved"], answer["reason"]]]}

    def scale(state: ReleaseState) -> ReleaseState:
        answer = interrupt({"title": "How should it scale?"}, response_schema=Scale)
        return {"results": [["scale", answer.replicas, answer.region]]}

    def tone(state: ReleaseState) -> ReleaseState:
        answer = interrupt(
            {
                "title": "Release note",
                "questions": [
                    {
                        "name": "tone",
                        "question": "Which tone?",
                        "options": ["formal", "casual"],
                        "allow_free_text": True,
                    }
                ],
            }
        )
        return {"results": [["tone", answer["tone"]["selected"], answer["tone"]["text"]]]}

    def migrate(state: ReleaseState) -> ReleaseState:
        # LangGraph runs an interrupted node again from its start on resume: this line runs per attempt.
        log.calls.append(("migrate_started", {}))
        report = interrupt(
            {"title": "Run the migration; paste its JSON report", "external_execution": True, "result_format": "json"}
        )
        go_on = interrupt({"kind": "confirmation", "title": f"Migration touched {report['rows']} rows: go on?"})
        return {"results": [["migrate", report["rows"], go_on["approved"]]]}

    async def announce(state: ReleaseState) -> ReleaseState:
        model = ScriptedChatModel(
            script=lambda _: AIMessage(content=f"Release notes: {sorted(map(str, state['results']))}")
        )
        reply = await model.ainvoke("announce")
        return {"summary": reply.text}

    builder = StateGraph(ReleaseState)
    steps = {"deploy": deploy, "scale": scale, "tone": tone, "migrate": migrate}
    for name, node in steps.items():
        builder.add_node(name, node)
        builder.add_edge(START, name)
    builder.add_node("announce", announce)
    builder.add_edge(list(steps), "announce")
    builder.add_edge("announce", END)
    return builder.compile(checkpointer=checkpointer)


# -- engine plumbing ----------------------------------------------------------------------


@asynccontextmanager
async def running(
    tmp_path: Path, build: Callable[[Any], Any]
) -> AsyncIterator[tuple[Engine, LangGraphAdapter, RecordingPublisher]]:
    """One "process": a checkpointer, the graph, its adapter and an engine on the approvals file; all closed on exit."""
    # Left in reverse: the engine's resumes, which use the checkpointer, finish before it closes.
    async with (
        AsyncSqliteSaver.from_conn_string(str(tmp_path / "checkpoints.db")) as saver,
        running_engine(f"sqlite:///{tmp_path / 'approvals.db'}", LangGraphAdapter(build(saver))) as running,
    ):
        yield running


def progress(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.name, e.state) for e in events if isinstance(e, ToolProgress)]


async def resumes(engine: Engine, approval_id: str) -> int:
    return sum(entry["event"] == "resuming" for entry in await engine.store.decision_log(approval_id))


# -- through Slack: signed clicks and modal submissions ------------------------------------

ORDER_IN_SLACK = {
    # row id: (button, text near it, what the person fills in the modal it opens, if any)
    "call_refund": ("Approve", "Run refund", None),
    "call_delete": ("Reject", "Run delete_user", {"Reason": "Bob asked to keep his account"}),
    "call_address": ("Provide input", "Edit update_address", {"street": "9 New St", "floor": 3}),
    "call_ask": (
        "Answer",
        "Which tone for the apology?",
        {"Which tone for the apology?": "friendly", "Or answer in your own words": "keep it short"},
    ),
    "call_stock": ("Submit result", "Result of check_stock", {"Result": "12 in stock"}),
}


@asynccontextmanager
async def order_desk_in_slack(tmp_path: Path, log: ToolLog) -> AsyncIterator[tuple[HitlHarness, LangGraphAdapter]]:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "checkpoints.db")) as saver:
        adapter = LangGraphAdapter(order_agent(saver, log, "batched"))
        harness = HitlHarness(
            adapters=[adapter],
            database_url=f"sqlite:///{tmp_path / 'approvals.db'}",
            stream_limits=StreamLimits(stream_buffer_chars=40),
        )
        async with harness as hitl:
            yield hitl, adapter


async def decide_in_slack(hitl: HitlHarness, approval: Approval, person: SlackTestUser, plan: dict[str, Any]) -> None:
    for button, near, modal in plan.values():
        response = await person.click(hitl.channel, approval.message_ts, button_text=button, near=near)
        assert response.status_code == 200
        if modal is not None:
            response = await person.submit_view(modal)
            assert response.status_code == 200 and not response.content, response.text


def replies_text(hitl: HitlHarness, approval: Approval) -> str:
    return "\n".join(message.text for message in hitl.thread(approval))


async def order_posted(hitl: HitlHarness, adapter: LangGraphAdapter) -> Approval:
    """The order desk paused on its first tool calls, and their approval posted in Slack."""
    paused = await adapter.graph.ainvoke(FIX_ORDER_42, THREAD, version="v2")
    opened = await adapter.pause_to_approval(hitl.engine, paused, config=THREAD, channel=hitl.channel, title="Order 42")
    return await hitl.posted(opened.id)


async def test_slack_decides_a_middleware_pause_of_four_kinds_resumes_once_streams_and_nests(tmp_path):
    log = ToolLog()
    async with order_desk_in_slack(tmp_path, log) as (hitl, adapter):
        approval = await order_posted(hitl, adapter)
        assert {r.requirement.kind for r in approval.rows} == {
            "confirmation",
            "user_input",
            "user_feedback",
            "external_execution",
        }
        alice = hitl.user("U0ALICE", "alice")

        await decide_in_slack(hitl, approval, alice, ORDER_IN_SLACK)
        first = await hitl.engine.wait_until_final(approval.id, timeout=30)
        await hitl.settle()

        assert first.status == "completed"
        assert {row.id: row.decided_by for row in first.rows} == dict.fromkeys(ORDER_IN_SLACK, "U0ALICE")
        assert first.row("call_delete").decision.reason == "Bob asked to keep his account"
        assert await resumes(hitl.engine, approval.id) == 1
        assert sorted(log.calls) == [
            ("refund", {"order": "42", "amount": 120}),
            ("update_address", {"order": "42", "street": "9 New St", "floor": 3}),
        ]
        continuation = hitl.thread(approval)[0]
        assert len(continuation.stream_chunks) > 5, "the continuation is streamed, not posted at once"
        text = continuation.text
        assert "⏭️ `delete_user` skipped: User rejected the tool call for `delete_user` with reason: Bob asked" in text
        assert "✅ `update_address` finished: address of 42 set to 9 New St, floor 3" in text
        assert "ask_user: friendly; keep it short | check_stock: 12 in stock" in text
        assert "Now I will email Bob." in text

        # The model's next call (send_email allows approve / edit / reject) is a second approval in the thread.
        nested = await hitl.posted((await nested_approval(hitl.store, approval.id)).id)
        assert (nested.channel, nested.thread_ts) == (hitl.channel, approval.message_ts)
        assert any(m.ts == nested.message_ts for m in hitl.thread(approval))
        await alice.click(hitl.channel, nested.message_ts, button_text="Decide…", near="Run send_email")
        await alice.submit_view({"Decision": "Approve", "subject": "Order 42 is fixed"})
        second = await hitl.engine.wait_until_final(nested.id, timeout=30)
        await hitl.settle()

        assert second.status == "approved"
        assert log.calls[-1] == ("send_email", {"to": "bob@example.com", "subject": "Order 42 is fixed"})
        assert await resumes(hitl.engine, nested.id) == 1
        final_text = replies_text(hitl, approval)
        assert "All done." in final_text and "emailed bob@example.com" in final_text


async def test_slack_decisions_before_and_after_a_restart_resume_the_run_in_the_new_process(tmp_path):
    before, after = ToolLog(), ToolLog()
    checkpoints = str(tmp_path / "checkpoints.db")
    async with order_desk_in_slack(tmp_path, before) as (hitl, adapter):
        approval = await order_posted(hitl, adapter)
        alice = hitl.user("U0ALICE", "alice")
        early = {k: v for k, v in ORDER_IN_SLACK.items() if k in ("call_refund", "call_delete")}
        await decide_in_slack(hitl, approval, alice, early)
        await hitl.settle()

        # The new process builds its own graph on its own connection to the checkpoint file.
        async with AsyncSqliteSaver.from_conn_string(checkpoints) as new_saver:
            hitl.adapters = [LangGraphAdapter(order_agent(new_saver, after, "batched"))]
            await hitl.restart()
            alice = hitl.user("U0ALICE", "alice")  # the new app listens on a new port
            late = {k: v for k, v in ORDER_IN_SLACK.items() if k not in early}
            await decide_in_slack(hitl, approval, alice, late)
            finished = await hitl.engine.wait_until_final(approval.id, timeout=30)
            await hitl.settle()

        assert finished.status == "completed"
        assert before.calls == []
        assert sorted(after.names()) == ["refund", "update_address"]
        text = replies_text(hitl, approval)
        assert "with reason: Bob asked to keep his account" in text and "check_stock: 12 in stock" in text


async def test_slack_decides_parallel_plain_interrupts_of_four_kinds_and_their_nested_question(tmp_path):
    log = ToolLog()
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "checkpoints.db")) as saver:
        adapter = LangGraphAdapter(release_graph(saver, log))
        async with HitlHarness(adapters=[adapter], stream_limits=StreamLimits(stream_buffer_chars=40)) as hitl:
            paused = await adapter.graph.ainvoke({"results": []}, THREAD, version="v2")
            opened = await adapter.pause_to_approval(
                hitl.engine, paused, config=THREAD, channel=hitl.channel, title="Release v2"
            )
            approval = await hitl.posted(opened.id)
            bob = hitl.user("U0BOB", "bob")
            plan = {
                "deploy": ("Reject", "Deploy v2 to prod?", {"Reason": "freeze until Monday"}),
                "scale": ("Provide input", "How should it scale?", {"Replicas": 4, "Region": "eu"}),
                "tone": (
                    "Answer",
                    "Release note",
                    {"Which tone?": "casual", "Or answer in your own words": "mention the fix"},
                ),
                "migrate": ("Submit result", "Run the migration", {"Result": '{"rows": 1200}'}),
            }
            await decide_in_slack(hitl, approval, bob, plan)
            first = await hitl.engine.wait_until_final(approval.id, timeout=30)
            await hitl.settle()
            assert first.status == "completed"
            assert await resumes(hitl.engine, approval.id) == 1

            nested = await hitl.posted((await nested_approval(hitl.store, approval.id)).id)
            assert [r.requirement.title for r in nested.rows] == ["Migration touched 1200 rows: go on?"]
            await bob.click(hitl.channel, nested.message_ts, button_text="Approve", near="go on?")
            await hitl.engine.wait_until_final(nested.id, timeout=30)
            await hitl.settle()

            results = sorted(map(str, (await adapter.graph.aget_state(THREAD)).values["results"]))
            assert results == sorted(
                map(
                    str,
                    [
                        ["deploy", False, "freeze until Monday"],
                        ["scale", 4, "eu"],
                        ["tone", ["casual"], "mention the fix"],
                        ["migrate", 1200, True],
                    ],
                )
            )
            streamed = [m for m in hitl.thread(approval) if "Release notes:" in m.text]
            assert len(streamed) == 1 and len(streamed[0].stream_chunks) > 3
            assert "freeze until Monday" in streamed[0].text


# -- HumanInTheLoopMiddleware, through the engine ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["batched", "per_call"])
async def test_middleware_pause_becomes_rows_of_four_kinds_and_resumes_once_with_each_decision(tmp_path, mode):
    log = ToolLog()
    async with running(tmp_path, lambda saver: order_agent(saver, log, mode)) as (engine, adapter, publisher):
        paused = await adapter.graph.ainvoke(FIX_ORDER_42, THREAD, version="v2")
        approval = await adapter.pause_to_approval(engine, paused, config=THREAD, channel="C1", title="Order 42")

        kinds = {row.id: row.requirement.kind for row in approval.rows}
        assert kinds == {
            "call_refund": "confirmation",
            "call_delete": "confirmation",
            "call_address": "user_input",
            "call_ask": "user_feedback",
            "call_stock": "external_execution",
        }
        address = approval.row("call_address").requirement
        assert [(f.name, f.type, f.default) for f in address.fields] == [
            ("order", "text", "42"),
            ("street", "text", "1 Old Rd"),
            ("floor", "integer", 1),
        ]
        question = approval.row("call_ask").requirement.questions[0]
        assert (question.question, question.options) == ("Which tone for the apology?", ("formal", "friendly"))
        assert log.calls == []

        # Decide in an order unlike the rows' order: answers go by id.
        for row_id in ["call_stock", "call_delete", "call_ask", "call_address"]:
            outcome = await engine.decide(approval.id, row_id, ORDER_DECISIONS[row_id], ALICE)
            assert not outcome.resumed
        assert not publisher.events, "nothing resumes while a row is undecided"
        assert (await engine.decide(approval.id, "call_refund", ORDER_DECISIONS["call_refund"], ALICE)).resumed

        first = await engine.wait_until_final(approval.id, timeout=30)
        assert first.status == "completed"  # approved and rejected rows
        assert await resumes(engine, approval.id) == 1

        # Approved tools ran with their (edited) arguments; the rejected and answered ones did not run.
        assert sorted(log.calls, key=lambda c: c[0]) == [
            ("refund", {"order": "42", "amount": 120}),
            ("update_address", {"order": "42", "street": "9 New St", "floor": 3}),
        ]
        events = publisher.events[approval.id]
        streamed = "".join(texts(events))
        assert sum(isinstance(e, TextDelta) for e in events) > 5
        assert "User rejected the tool call for `delete_user` with reason: Bob asked to keep his account" in streamed
        assert "ask_user: friendly; keep it short" in streamed
        assert "check_stock: 12 in stock" in streamed
        assert "address of 42 set to 9 New St, floor 3" in streamed
        lines = progress(events)
        assert ("refund", "started") in lines and ("refund", "finished") in lines
        assert ("update_address", "finished") in lines
        assert ("delete_user", "skipped") in lines and ("delete_user", "started") not in lines

        # The model then asked to send an email: a nested approval in the same thread.
        assert isinstance(events[-1], NestedPause)
        nested = await nested_approval(engine.store, approval.id)
        assert [r.id for r in nested.rows] == ["call_email"]
        assert nested.row("call_email").requirement.kind == "confirmation"
        assert nested.channel == "C1"
        await engine.decide(nested.id, "call_email", DecisionInput(choices=("approve",)), ALICE)
        second = await engine.wait_until_final(nested.id, timeout=30)

        assert second.status == "approved"
        assert log.calls[-1] == ("send_email", {"to": "bob@example.com", "subject": "Your order 42"})
        done = publisher.events[nested.id][-1]
        assert isinstance(done, Done)
        assert done.summary.startswith("All done.") and "send_email: emailed bob@example.com" in done.summary
        assert done.output["messages"][-1]["content"] == done.summary
        assert await resumes(engine, nested.id) == 1


EARLY_ROWS = ("call_refund", "call_delete")
"""Decided before the restart; the others after it."""


async def test_middleware_resume_after_restart_uses_only_the_two_databases(tmp_path):
    log = ToolLog()
    async with running(tmp_path, lambda saver: order_agent(saver, log, "batched")) as (engine, adapter, _):
        paused = await adapter.graph.ainvoke(FIX_ORDER_42, THREAD, version="v2")
        approval = await adapter.pause_to_approval(engine, paused, config=THREAD, channel="C1", title="Order 42")
        await decide_all(engine, approval.id, {k: v for k, v in ORDER_DECISIONS.items() if k in EARLY_ROWS})

    # A new "process": new store, saver, model, tools, graph, adapter and engine.
    after_restart = ToolLog()
    async with running(tmp_path, lambda saver: order_agent(saver, after_restart, "batched")) as (engine, _, publisher):
        await decide_all(engine, approval.id, {k: v for k, v in ORDER_DECISIONS.items() if k not in EARLY_ROWS})
        finished = await engine.wait_until_final(approval.id, timeout=30)

        assert finished.status == "completed"
        assert after_restart.names() == ["refund", "update_address"]
        streamed = "".join(texts(publisher.events[approval.id]))
        assert "with reason: Bob asked to keep his account" in streamed and "12 in stock" in streamed


async def test_resuming_an_approval_twice_does_not_answer_or_run_anything_again(tmp_path):
    log = ToolLog()
    async with running(tmp_path, lambda saver: order_agent(saver, log, "per_call")) as (engine, adapter, _):
        paused = await adapter.graph.ainvoke(FIX_ORDER_42, THREAD, version="v2")
        approval = await adapter.pause_to_approval(engine, paused, config=THREAD, channel="C1", title="Order 42")
        await decide_all(engine, approval.id, ORDER_DECISIONS)
        await engine.wait_until_final(approval.id, timeout=30)
        ran = list(log.calls)

        # As if the process died after LangGraph saved the resume but before the approval finished.
        decided = await engine.store.get(approval.id)
        again = [event async for event in adapter.resume(decided, idempotency_key=decided.id)]

        assert log.calls == ran
        assert not any(isinstance(e, TextDelta) for e in again)
        assert isinstance(again[-1], NestedPause)
        assert [r.id for r in again[-1].requirements] == ["call_email"]


async def test_an_expired_pause_rejects_calls_with_the_reason_and_tells_the_model_no_one_answered(tmp_path):
    log = ToolLog()
    review_on = {**ORDER_REVIEW, "update_address": {"allowed_decisions": ["approve", "edit", "reject"]}}
    async with running(tmp_path, lambda saver: order_agent(saver, log, "per_call", review_on)) as (
        engine,
        adapter,
        publisher,
    ):
        paused = await adapter.graph.ainvoke(FIX_ORDER_42, THREAD, version="v2")
        approval = await adapter.pause_to_approval(engine, paused, config=THREAD, channel="C1", title="Order 42")
        await engine.decide(approval.id, "call_refund", ORDER_DECISIONS["call_refund"], ALICE)
        assert await engine.expire(approval.id)
        finished = await engine.wait_until_final(approval.id, timeout=30)

        assert finished.status == "expired"
        assert log.names() == ["refund"]
        streamed = "".join(texts(publisher.events[approval.id]))
        assert "User rejected the tool call for `update_address` with reason: expired" in streamed
        assert "ask_user: No answer was given (expired)." in streamed
        assert ("update_address", "skipped") in progress(publisher.events[approval.id])


# -- plain interrupt(), through the engine --------------------------------------------------------------------


RELEASE_DECISIONS = {
    "deploy": DecisionInput(choices=("reject",), reason="freeze until Monday"),
    "scale": DecisionInput(values={"replicas": 4, "region": "eu"}),
    "tone": DecisionInput(values={"tone": {"selected": ["casual"], "text": "mention the fix"}}),
    "migrate": DecisionInput(result='{"rows": 1200}'),
}


async def test_parallel_interrupts_of_four_kinds_resume_once_then_a_second_interrupt_nests(tmp_path):
    log = ToolLog()
    async with running(tmp_path, lambda saver: release_graph(saver, log)) as (engine, adapter, publisher):
        paused = await adapter.graph.ainvoke({"results": []}, THREAD, version="v2")
        approval = await adapter.pause_to_approval(engine, paused, config=THREAD, channel="C2", title="Release v2")

        rows = {row.requirement.title: row for row in approval.rows}
        assert {title: row.requirement.kind for title, row in rows.items()} == {
            "Deploy v2 to prod?": "confirmation",
            "How should it scale?": "user_input",
            "Release note": "user_feedback",
            "Run the migration; paste its JSON report": "external_execution",
        }
        assert all(row.id == row.requirement.metadata["interrupt_id"] for row in approval.rows)
        fields = rows["How should it scale?"].requirement.fields
        assert [(f.name, f.type, f.min_value, f.max_value, f.choices) for f in fields] == [
            ("replicas", "integer", 1, 10, ()),
            ("region", "single_choice", None, None, ("eu", "us")),
        ]
        ids = {title.split()[0].lower(): row.id for title, row in rows.items()}
        decisions = {
            ids["deploy"]: RELEASE_DECISIONS["deploy"],
            ids["how"]: RELEASE_DECISIONS["scale"],
            ids["release"]: RELEASE_DECISIONS["tone"],
            ids["run"]: RELEASE_DECISIONS["migrate"],
        }
        await decide_all(engine, approval.id, decisions)
        first = await engine.wait_until_final(approval.id, timeout=30)
        assert first.status == "completed"
        assert await resumes(engine, approval.id) == 1

        # The migrate node asks its second question only now: a nested approval.
        events = publisher.events[approval.id]
        assert isinstance(events[-1], NestedPause)
        assert ("deploy", "finished") in progress(events) and ("scale", "finished") in progress(events)
        nested = await nested_approval(engine.store, approval.id)
        assert [r.requirement.title for r in nested.rows] == ["Migration touched 1200 rows: go on?"]
        await engine.decide(nested.id, nested.rows[0].id, DecisionInput(choices=("approve",)), ALICE)
        await engine.wait_until_final(nested.id, timeout=30)

        final = await adapter.graph.aget_state(THREAD)
        assert sorted(map(str, final.values["results"])) == sorted(
            map(
                str,
                [
                    ["deploy", False, "freeze until Monday"],
                    ["scale", 4, "eu"],
                    ["tone", ["casual"], "mention the fix"],
                    ["migrate", 1200, True],
                ],
            )
        )
        done = publisher.events[nested.id][-1]
        assert isinstance(done, Done) and done.output["summary"].startswith("Release notes:")
        assert sum(isinstance(e, TextDelta) for e in publisher.events[nested.id]) > 3
        assert "freeze until Monday" in "".join(texts(publisher.events[nested.id]))
        # The node ran from its start once per answer, as LangGraph documents.
        assert log.names().count("migrate_started") == 3


async def test_two_approvals_splitting_one_pause_each_answer_only_their_interrupts(tmp_path):
    log = ToolLog()
    async with running(tmp_path, lambda saver: release_graph(saver, log)) as (engine, adapter, publisher):
        paused = await adapter.graph.ainvoke({"results": []}, THREAD, version="v2")
        by_title = {found.value["title"]: found for found in paused.interrupts}
        ops = [by_title["Deploy v2 to prod?"], by_title["How should it scale?"]]
        writers = [by_title["Release note"], by_title["Run the migration; paste its JSON report"]]
        for_ops = await adapter.pause_to_approval(engine, ops, config=THREAD, channel="C1", title="Ops")
        for_writers = await adapter.pause_to_approval(engine, writers, config=THREAD, channel="C2", title="Writers")

        await decide_all(
            engine,
            for_ops.id,
            {ops[0].id: RELEASE_DECISIONS["deploy"], ops[1].id: RELEASE_DECISIONS["scale"]},
        )
        assert (await engine.wait_until_final(for_ops.id, timeout=30)).status == "completed"
        assert isinstance(publisher.events[for_ops.id][-1], Done), "the writers' interrupts are not the ops' to open"
        assert {found.id for found in (await adapter.graph.aget_state(THREAD)).interrupts} == {w.id for w in writers}

        await decide_all(
            engine,
            for_writers.id,
            {writers[0].id: RELEASE_DECISIONS["tone"], writers[1].id: RELEASE_DECISIONS["migrate"]},
        )
        await engine.wait_until_final(for_writers.id, timeout=30)
        nested = publisher.events[for_writers.id][-1]
        assert isinstance(nested, NestedPause)
        assert [r.title for r in nested.requirements] == ["Migration touched 1200 rows: go on?"]
        results = sorted(map(str, (await adapter.graph.aget_state(THREAD)).values.get("results", [])))
        assert results == sorted(
            map(
                str,
                [["deploy", False, "freeze until Monday"], ["scale", 4, "eu"], ["tone", ["casual"], "mention the fix"]],
            )
        )


# -- bad input ----------------------------------------------------------------------------


async def test_a_pause_that_cannot_become_an_approval_is_refused_and_stores_nothing(tmp_path):
    def unmarked(state: ReleaseState) -> ReleaseState:
        interrupt("Deploy?")
        return {}

    def graph_with(saver: Any) -> Any:
        builder = StateGraph(ReleaseState)
        builder.add_node("unmarked", unmarked)
        builder.add_edge(START, "unmarked")
        return builder.compile(checkpointer=saver)

    async with running(tmp_path, graph_with) as (engine, adapter, _):
        paused = await adapter.graph.ainvoke({"results": []}, THREAD, version="v2")
        with pytest.raises(ClassificationError, match=r"from node 'unmarked'.*Mark the interrupt's value"):
            await adapter.pause_to_approval(engine, paused, config=THREAD, channel="C1", title="t")
        with pytest.raises(PauseNotUsable, match="thread_id"):
            await adapter.pause_to_approval(engine, paused, config={}, channel="C1", title="t")
        with pytest.raises(PauseNotUsable, match="not pending"):
            await adapter.pause_to_approval(
                engine, paused, config={"configurable": {"thread_id": "other"}}, channel="C1", title="t"
            )
        with pytest.raises(PauseNotUsable, match="not paused"):
            await adapter.pause_to_approval(engine, [], config=THREAD, channel="C1", title="t")
        no_saver = LangGraphAdapter(graph_with(None))
        with pytest.raises(PauseNotUsable, match="checkpointer"):
            await no_saver.pause_to_approval(engine, paused, config=THREAD, channel="C1", title="t")
        assert await engine.store.approval_ids() == []


async def test_opening_the_same_pause_twice_returns_the_same_approval(tmp_path):
    log = ToolLog()
    async with running(tmp_path, lambda saver: order_agent(saver, log, "batched")) as (engine, adapter, publisher):
        paused = await adapter.graph.ainvoke(FIX_ORDER_42, THREAD, version="v2")
        first = await adapter.pause_to_approval(engine, paused, config=THREAD, channel="C1", title="Order 42")
        state = await adapter.graph.aget_state(THREAD)
        second = await adapter.pause_to_approval(engine, state, config=THREAD, channel="C1", title="Order 42")
        assert first.id == second.id
        assert publisher.opened == [first.id]


async def test_in_memory_saver_works_in_one_process(tmp_path):
    log = ToolLog()
    agent = order_agent(InMemorySaver(), log, "per_call")
    url = f"sqlite:///{tmp_path / 'approvals.db'}"
    async with running_engine(url, LangGraphAdapter(agent, name="orders")) as (engine, adapter, _):
        paused = await agent.ainvoke(FIX_ORDER_42, THREAD, version="v2")
        approval = await adapter.pause_to_approval(engine, paused, config=THREAD, channel=None, title="Order 42")
        assert approval.adapter == "orders"
        await decide_all(engine, approval.id, ORDER_DECISIONS)
        assert (await engine.wait_until_final(approval.id, timeout=30)).status == "completed"
        assert sorted(log.names()) == ["refund", "update_address"]


async def test_the_cookbook_example_runs_offline_and_prints_the_decided_thread(capsys):
    path = Path(__file__).parents[2] / "cookbook" / "langgraph_example.py"
    spec = importlib.util.spec_from_file_location("langgraph_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    try:
        await example.main()
    finally:
        structlog.reset_defaults()  # the example quiets slack_hitl's logs for the whole process

    printed = capsys.readouterr().out
    assert "approval completed" in printed
    assert "`delete_account` skipped: User rejected the tool call for `delete_account` with reason: VIP" in printed
    assert "- update_address: order A-17 now goes to 9 Rue Neuve, Lyon" in printed
    assert "- ask_user: DHL" in printed and "- warehouse_stock: 3 in stock, aisle 12" in printed
    assert "- send_email: emailed bob@example.com: 'Your refund and replacement'" in printed


async def test_a_pause_names_its_requester_and_four_eyes_keeps_them_from_deciding(tmp_path):
    log = ToolLog()
    async with running(tmp_path, lambda saver: order_agent(saver, log, "batched")) as (engine, adapter, _):
        paused = await adapter.graph.ainvoke(FIX_ORDER_42, THREAD, version="v2")
        approval = await adapter.pause_to_approval(
            engine,
            paused,
            config=THREAD,
            channel="C1",
            title="Order 42",
            deciders=Deciders(not_requester=True),
            requested_by=ALICE.id,
        )
        assert approval.requested_by == ALICE.id
        with pytest.raises(RequesterRefused):
            await engine.decide(approval.id, "call_refund", ORDER_DECISIONS["call_refund"], ALICE)
        assert log.calls == []
