"""The OpenAI Agents SDK adapter against the real SDK with a scripted model (no network).

One support run pauses on five tool calls of all four kinds: two plain ``needs_approval`` tools
(one approved, one rejected with a reason), a person-filled input tool, an ask-user tool and an
external tool. The model's later turns are written from the tool outputs it actually receives,
so the final output shows what each decision did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("OPENAI_API_KEY", "unused-the-model-is-scripted")

import pytest
from agents import Agent, Runner, UserError, function_tool
from agents.testing import ModelCall, ModelStep, ScriptedModel, function_call
from agents.tool_context import ToolContext
from openai.types.responses import ResponseOutputMessage, ResponseOutputText
from slack_hitl_openai_agents import (
    HumanAnswerMissing,
    OpenAIAgentsAdapter,
    PauseNotUsable,
    ResumedCall,
    ResumeNotPossible,
    ask_user_tool,
    external_tool,
    input_tool,
    resumed_call,
)

from slack_hitl import (
    Approval,
    Confirmation,
    DecisionInput,
    Done,
    InputField,
    NestedPause,
    ToolProgress,
)
from slack_hitl.slack.streaming import StreamLimits
from slack_hitl.testing.harness import HitlHarness
from slack_hitl.testing.slack_user import SlackTestUser
from tests.adapters.support import decide_all, nested_approval, running_engine, texts
from tests.support import ALICE

CHANNEL = "C0SUPPORT"

REFUND, CLOSE, ADDRESS, ASK, STOCK, NOTIFY = (
    "call_refund",
    "call_close",
    "call_address",
    "call_ask",
    "call_stock",
    "call_notify",
)
REJECT_REASON = "VIP customer: never close without the account manager"


# -- the user's agent: tools, scripted model ----------------------------------------------------


class Ledger:
    """What the real tools did, so a test can tell an approved call ran and a rejected one did not."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.resumed: list[ResumedCall | None] = []


def build_agent(model: ScriptedModel, ledger: Ledger) -> Agent[Any]:
    @function_tool(needs_approval=True)
    def refund_order(context: ToolContext[Any], order_id: str, amount: float) -> str:
        """Refund an order to the customer's card."""
        ledger.calls.append(("refund_order", {"order_id": order_id, "amount": amount}))
        ledger.resumed.append(resumed_call(context))
        return f"refunded {amount:.2f} EUR on {order_id}"

    @function_tool(needs_approval=True)
    def close_account(customer: str) -> str:
        """Close the customer's account."""
        ledger.calls.append(("close_account", {"customer": customer}))
        return f"closed {customer}"

    @function_tool(needs_approval=True)
    def notify_customer(message: str) -> str:
        """Email the customer."""
        ledger.calls.append(("notify_customer", {"message": message}))
        return "email sent"

    @external_tool(result_format="json")
    def warehouse_stock(sku: str) -> dict[str, Any]:
        """Stock of a SKU; someone with warehouse access looks it up."""

    address = input_tool(
        "shipping_address",
        "Shipping address for the replacement",
        fields=[
            InputField(name="street"),
            InputField(name="city"),
            InputField(name="express", type="boolean", required=False),
        ],
    )
    return Agent(
        name="support",
        instructions="Help the customer.",
        model=model,
        tools=[refund_order, close_account, notify_customer, warehouse_stock, address, ask_user_tool()],
    )


def tool_outputs(call: ModelCall) -> dict[str, str]:
    """What the model received for each tool call so far, by tool name."""
    names = {i["call_id"]: i["name"] for i in call.input if isinstance(i, dict) and i.get("type") == "function_call"}
    return {
        names[i["call_id"]]: i["output"]
        for i in call.input
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    }


def message(*chunks: str) -> ResponseOutputMessage:
    """An assistant message in several parts: the scripted model streams one delta per part."""
    parts = [ResponseOutputText(text=c, type="output_text", annotations=[], logprobs=[]) for c in chunks]
    return ResponseOutputMessage(id="msg", type="message", role="assistant", status="completed", content=parts)


def summary(call: ModelCall) -> list[str]:
    return [f"{name}: {output}\n" for name, output in sorted(tool_outputs(call).items())]


def first_turn() -> list[Any]:
    questions = [
        {"question": "Which carrier?", "options": ["UPS", "DHL"], "multiple": False, "allow_free_text": False},
        {"question": "A note for the customer?", "options": [], "multiple": False, "allow_free_text": True},
    ]
    return [
        function_call("refund_order", {"order_id": "A-17", "amount": 25.0}, call_id=REFUND),
        function_call("close_account", {"customer": "bob"}, call_id=CLOSE),
        function_call("shipping_address", {"message": "Where should the replacement go?"}, call_id=ADDRESS),
        function_call("ask_user", {"questions": questions}, call_id=ASK),
        function_call("warehouse_stock", {"sku": "KB-42"}, call_id=STOCK),
    ]


def after_decisions(call: ModelCall) -> ModelStep:
    """Reports what it received, then asks to email the customer: the nested pause."""
    return ModelStep(
        output=[
            message("Here is what happened:\n", *summary(call)),
            function_call("notify_customer", {"message": "Your replacement is on its way"}, call_id=NOTIFY),
        ]
    )


def final_answer(call: ModelCall) -> ModelStep:
    return ModelStep(output=[message("All done.\n", *summary(call))])


def resumed_steps() -> list[Any]:
    return [ModelStep.respond(after_decisions), ModelStep.respond(final_answer)]


async def paused_run(agent: Agent[Any]) -> Any:
    result = Runner.run_streamed(agent, "Bob's keyboard arrived broken; sort it out.")
    async for _ in result.stream_events():
        pass
    return result


FIRST_DECISIONS: dict[str, DecisionInput] = {
    REFUND: DecisionInput(choices=("approve",)),
    CLOSE: DecisionInput(choices=("reject",), reason=REJECT_REASON),
    ADDRESS: DecisionInput(values={"street": "1 Main St", "city": "Lyon", "express": True}),
    ASK: DecisionInput(values={"q1": {"selected": ["DHL"]}, "q2": "Sorry for the trouble"}),
    STOCK: DecisionInput(result='{"sku": "KB-42", "in_stock": 3}'),
}


# -- engine level: a store on a SQLite file and a publisher that records ------------------------


def assert_decisions_reached_the_run(model: ScriptedModel, ledger: Ledger) -> None:
    """After the first resume: the approved tool ran with its arguments, the rejected one did not
    and the model read the reason, and the input values, answers and external result arrived."""
    assert ("refund_order", {"order_id": "A-17", "amount": 25.0}) in ledger.calls
    assert all(name != "close_account" for name, _ in ledger.calls)
    seen = tool_outputs(model.calls[-1])
    assert seen["refund_order"] == "refunded 25.00 EUR on A-17"
    assert seen["close_account"] == REJECT_REASON
    assert json.loads(seen["shipping_address"]) == {"street": "1 Main St", "city": "Lyon", "express": True}
    assert json.loads(seen["ask_user"]) == [
        {"question": "Which carrier?", "selected": ["DHL"], "text": None},
        {"question": "A note for the customer?", "selected": [], "text": "Sorry for the trouble"},
    ]
    assert json.loads(seen["warehouse_stock"]) == {"sku": "KB-42", "in_stock": 3}


def assert_first_continuation(events: list[Any]) -> None:
    """The first resume streamed its text in pieces, reported each tool, and paused again."""
    streamed = texts(events)
    assert len(streamed) >= 6 and streamed[0] == "Here is what happened:\n"
    assert f"close_account: {REJECT_REASON}\n" in streamed
    progress = {(e.name, e.state) for e in events if isinstance(e, ToolProgress)}
    assert {("refund_order", "finished"), ("close_account", "skipped"), ("notify_customer", "started")} <= progress
    nested = [e for e in events if isinstance(e, NestedPause)]
    assert [r.id for r in nested[0].requirements] == [NOTIFY]
    assert not any(isinstance(e, Done) for e in events)


@pytest.mark.anyio
async def test_pause_decide_resume_and_nested_pause(sqlite_url: str) -> None:
    ledger = Ledger()
    model = ScriptedModel([first_turn(), *resumed_steps()])
    agent = build_agent(model, ledger)
    adapter = OpenAIAgentsAdapter(agent)
    async with running_engine(sqlite_url, adapter) as (engine, _, publisher):
        result = await paused_run(agent)
        approval = await adapter.pause_to_approval(engine, result, channel=CHANNEL, title="Bob's broken keyboard")

        kinds = {row.id: row.requirement.kind for row in approval.rows}
        assert kinds == {
            REFUND: "confirmation",
            CLOSE: "confirmation",
            ADDRESS: "user_input",
            ASK: "user_feedback",
            STOCK: "external_execution",
        }
        assert approval.row(REFUND).requirement.arguments == {"order_id": "A-17", "amount": 25.0}
        assert [q.question for q in approval.row(ASK).requirement.questions] == [
            "Which carrier?",
            "A note for the customer?",
        ]
        assert ledger.calls == []

        # Answered out of order: rows are matched by call id, and nothing resumes before the last.
        order = [STOCK, CLOSE, ASK, REFUND, ADDRESS]
        for row_id in order[:-1]:
            outcome = await engine.decide(approval.id, row_id, FIRST_DECISIONS[row_id], ALICE)
            assert not outcome.resumed
        assert len(model.calls) == 1
        last = await engine.decide(approval.id, ADDRESS, FIRST_DECISIONS[ADDRESS], ALICE)
        assert last.resumed
        first = await engine.wait_until_final(approval.id, timeout=20)
        assert first.status == "completed"  # one rejection among approvals and answers
        assert_decisions_reached_the_run(model, ledger)
        assert_first_continuation(publisher.events[approval.id])
        assert ledger.resumed == [ResumedCall(approval.id, approval.id, ALICE.id, ALICE.name)]

        follow_up = await engine.store.get(publisher.opened[-1])
        assert follow_up.parent_id == approval.id and follow_up.channel == CHANNEL
        assert [r.requirement.kind for r in follow_up.rows] == ["confirmation"]
        await engine.decide(follow_up.id, NOTIFY, DecisionInput(choices=("approve",)), ALICE)
        done = await engine.wait_until_final(follow_up.id, timeout=20)

    assert done.status == "approved"
    assert ("notify_customer", {"message": "Your replacement is on its way"}) in ledger.calls
    final = [e for e in publisher.events[follow_up.id] if isinstance(e, Done)]
    assert len(final) == 1
    output = final[0].output
    assert output.startswith("All done.\n")
    for line in (
        "refund_order: refunded 25.00 EUR on A-17",
        f"close_account: {REJECT_REASON}",
        "notify_customer: email sent",
        '"city": "Lyon"',
        '"in_stock": 3',
    ):
        assert line in output
    model.assert_complete()


@pytest.mark.anyio
async def test_resume_after_restart_uses_only_the_database_and_the_agent(sqlite_url: str) -> None:
    before = Ledger()
    agent_before = build_agent(ScriptedModel([first_turn()]), before)
    adapter_before = OpenAIAgentsAdapter(agent_before)
    async with running_engine(sqlite_url, adapter_before) as (engine, _, _):
        result = await paused_run(agent_before)
        approval = await adapter_before.pause_to_approval(engine, result, channel=CHANNEL, title="keyboard")
        await engine.decide(approval.id, REFUND, FIRST_DECISIONS[REFUND], ALICE)

    # A new process: a new agent object (same definition), a new adapter, engine and store.
    after = Ledger()
    model_after = ScriptedModel(resumed_steps())
    adapter_after = OpenAIAgentsAdapter(build_agent(model_after, after))
    async with running_engine(sqlite_url, adapter_after) as (engine, _, publisher):
        await decide_all(engine, approval.id, {k: v for k, v in FIRST_DECISIONS.items() if k != REFUND})
        resumed = await engine.wait_until_final(approval.id, timeout=20)
        assert resumed.status == "completed"
        assert_decisions_reached_the_run(model_after, after)
        assert_first_continuation(publisher.events[approval.id])
        assert before.calls == []

        follow_up = await engine.store.get(publisher.opened[-1])
        await engine.decide(follow_up.id, NOTIFY, DecisionInput(choices=("reject",), reason="not yet"), ALICE)
        done = await engine.wait_until_final(follow_up.id, timeout=20)
    assert done.status == "rejected"
    assert tool_outputs(model_after.calls[-1])["notify_customer"] == "not yet"
    assert all(name != "notify_customer" for name, _ in after.calls)


@pytest.mark.anyio
async def test_state_that_does_not_match_the_rows_fails_the_resume_and_stays_retryable(sqlite_url: str) -> None:
    ledger = Ledger()
    agent = build_agent(ScriptedModel([first_turn()]), ledger)
    adapter = OpenAIAgentsAdapter(agent)
    async with running_engine(sqlite_url, adapter) as (engine, _, _):
        result = await paused_run(agent)
        paused = await adapter.pause_to_approval(engine, result, channel=CHANNEL, title="x")
        # An approval whose rows name a call the stored run is not waiting on.
        approval = await engine.open_approval(
            title="mismatch",
            requirements=[paused.row(REFUND).requirement.model_copy(update={"id": "call_other"})],
            adapter=adapter,
            resume_state=paused.resume_state,
        )
        await engine.decide(approval.id, "call_other", DecisionInput(choices=("approve",)), ALICE)
        await engine.drain()
        failed = await engine.store.get(approval.id)
    assert failed.status == "pending" and failed.all_decided
    assert failed.last_error is not None and ResumeNotPossible.__name__ in failed.last_error
    assert "but the run waits on tool calls" in failed.last_error
    assert ledger.calls == []


@pytest.mark.anyio
async def test_a_human_tool_approved_outside_slack_hitl_fails_clearly() -> None:
    ledger = Ledger()
    model = ScriptedModel([[function_call("warehouse_stock", {"sku": "KB-42"}, call_id=STOCK)]])
    agent = build_agent(model, ledger)
    result = await paused_run(agent)
    state = result.to_state()
    state.approve(result.interruptions[0])
    with pytest.raises(UserError, match="answered by a person in Slack") as raised:
        await Runner.run(agent, state)
    assert isinstance(raised.value.__cause__, HumanAnswerMissing)


@pytest.mark.anyio
async def test_a_run_that_is_not_paused_is_refused(sqlite_url: str) -> None:
    model = ScriptedModel([[message("nothing to approve")]])
    agent = build_agent(model, Ledger())
    adapter = OpenAIAgentsAdapter(agent)
    async with running_engine(sqlite_url, adapter) as (engine, _, publisher):
        result = await paused_run(agent)
        with pytest.raises(PauseNotUsable, match="not paused"):
            await adapter.pause_to_approval(engine, result, channel=CHANNEL, title="nothing")
        assert publisher.opened == []
        assert await engine.store.list() == []


@pytest.mark.anyio
async def test_an_expired_approval_tells_the_model_no_one_decided(sqlite_url: str) -> None:
    ledger = Ledger()
    model = ScriptedModel([first_turn()[:3], ModelStep.respond(final_answer)])
    agent = build_agent(model, ledger)
    adapter = OpenAIAgentsAdapter(agent)
    async with running_engine(sqlite_url, adapter) as (engine, _, _):
        result = await paused_run(agent)
        approval = await adapter.pause_to_approval(engine, result, channel=CHANNEL, title="keyboard")
        await engine.decide(approval.id, CLOSE, FIRST_DECISIONS[CLOSE], ALICE)
        assert await engine.expire(approval.id)
        expired = await engine.wait_until_final(approval.id, timeout=20)
    assert expired.status == "expired"
    assert ledger.calls == []
    seen = tool_outputs(model.calls[-1])
    assert seen["close_account"] == REJECT_REASON  # decided by a person before the expiry
    for expired_call in ("refund_order", "shipping_address"):
        assert seen[expired_call].startswith("No one decided this tool call in time")


# -- through Slack: signed clicks and modal submissions against the emulator -----------------------

# Every text delta goes out on its own, so the thread shows how the continuation was streamed.
DELTA_BY_DELTA = StreamLimits(stream_buffer_chars=1, flush_seconds=0.0)


async def pause_in_slack(hitl: HitlHarness, adapter: OpenAIAgentsAdapter, agent: Agent[Any]) -> Approval:
    result = await paused_run(agent)
    opened = await adapter.pause_to_approval(
        hitl.engine,
        result,
        channel=hitl.channel,
        title="Bob's broken keyboard",
        confirmation=Confirmation(reason="required_on_reject"),
    )
    return await hitl.posted(opened.id)


async def click_refund_and_close(alice: SlackTestUser, channel: str, ts: str) -> None:
    await alice.click(channel, ts, button_text="Approve", near="refund_order")
    await alice.click(channel, ts, button_text="Reject", near="close_account")
    await alice.submit_view({"reason": REJECT_REASON})  # the reject opened the reason modal


async def fill_the_modals(alice: SlackTestUser, channel: str, ts: str) -> None:
    await alice.click(channel, ts, button_text="Provide input", near="Shipping address for the replacement")
    await alice.submit_view({"f:street": "1 Main St", "f:city": "Lyon", "f:express": True})
    await alice.click(channel, ts, button_text="Answer", near="Questions from support")
    await alice.submit_view({"q:q1": "DHL", "qt:q2": "Sorry for the trouble"})
    await alice.click(channel, ts, button_text="Submit result", near="warehouse_stock")
    await alice.submit_view({"result": '{"sku": "KB-42", "in_stock": 3}'})


def markdown_chunks(hitl: HitlHarness, approval: Approval) -> list[list[str]]:
    """The text chunks of each streamed reply in the approval's thread, oldest reply first."""
    return [
        [c["text"] for c in reply.stream_chunks if c.get("type") == "markdown_text"]
        for reply in hitl.thread(approval)
        if reply.stream_chunks
    ]


async def check_follow_up_in_thread(hitl: HitlHarness, alice: SlackTestUser, first: Approval) -> Approval:
    """The nested pause is a second approval in the first one's thread; approving it resumes the run."""
    follow_up = await hitl.posted((await nested_approval(hitl.store, first.id)).id)
    assert follow_up.thread_ts == first.message_ts
    assert follow_up.title == "Bob's broken keyboard (follow-up)"
    assert follow_up.message_ts in [m.ts for m in hitl.thread(first)]
    await alice.click(hitl.channel, first.message_ts or "", button_text="Approve", near="notify_customer")
    done = await hitl.engine.wait_until_final(follow_up.id, timeout=20)
    await hitl.settle()
    return done


@pytest.mark.anyio
async def test_slack_five_rows_decided_by_clicks_and_modals_resume_once_then_nest() -> None:
    ledger = Ledger()
    model = ScriptedModel([first_turn(), *resumed_steps()])
    agent = build_agent(model, ledger)
    adapter = OpenAIAgentsAdapter(agent)
    async with HitlHarness(adapters=[adapter], stream_limits=DELTA_BY_DELTA) as hitl:
        approval = await pause_in_slack(hitl, adapter, agent)
        ts = approval.message_ts or ""
        alice = hitl.user("U0ALICE", "alice")

        await click_refund_and_close(alice, hitl.channel, ts)
        await fill_the_modals(alice, hitl.channel, ts)
        first = await hitl.engine.wait_until_final(approval.id, timeout=20)
        await hitl.settle()

        assert first.status == "completed"
        assert {row.id: row.decided_by for row in first.rows} == dict.fromkeys(FIRST_DECISIONS, "U0ALICE")
        assert len(model.calls) == 2  # the pause, then exactly one resume
        assert_decisions_reached_the_run(model, ledger)
        streamed = markdown_chunks(hitl, first)
        assert len(streamed) == 1 and len(streamed[0]) > 1
        text = "".join(streamed[0])
        assert "Here is what happened:" in text and f"close_account: {REJECT_REASON}" in text
        assert "`refund_order` finished" in text and "`close_account` skipped" in text

        done = await check_follow_up_in_thread(hitl, alice, first)
        assert done.status == "approved"
        assert len(model.calls) == 3
        assert ("notify_customer", {"message": "Your replacement is on its way"}) in ledger.calls
        final_text = "".join(markdown_chunks(hitl, first)[-1])
        assert "All done." in final_text and "notify_customer: email sent" in final_text
        assert '"in_stock": 3' in final_text and "refund_order: refunded 25.00 EUR on A-17" in final_text
    model.assert_complete()


@pytest.mark.anyio
async def test_slack_resume_after_restart_with_a_new_engine_on_the_same_database() -> None:
    before = Ledger()
    agent_before = build_agent(ScriptedModel([first_turn()]), before)
    adapter_before = OpenAIAgentsAdapter(agent_before)
    async with HitlHarness(adapters=[adapter_before], stream_limits=DELTA_BY_DELTA) as hitl:
        approval = await pause_in_slack(hitl, adapter_before, agent_before)
        ts = approval.message_ts or ""
        alice = hitl.user("U0ALICE", "alice")
        await click_refund_and_close(alice, hitl.channel, ts)
        await hitl.settle()

        # A deploy: the app, engine and store stop; new ones start with a new agent object.
        after = Ledger()
        model_after = ScriptedModel(resumed_steps())
        hitl.adapters = [OpenAIAgentsAdapter(build_agent(model_after, after))]
        await hitl.restart()

        alice = hitl.user("U0ALICE", "alice")  # the restarted app listens on a new port
        await fill_the_modals(alice, hitl.channel, ts)
        first = await hitl.engine.wait_until_final(approval.id, timeout=20)
        await hitl.settle()
        assert first.status == "completed"
        assert_decisions_reached_the_run(model_after, after)
        assert before.calls == []
        assert len(markdown_chunks(hitl, first)[0]) > 1

        done = await check_follow_up_in_thread(hitl, alice, first)
        assert done.status == "approved"
        assert ("notify_customer", {"message": "Your replacement is on its way"}) in after.calls
    model_after.assert_complete()


def test_the_cookbook_example_runs_offline_and_prints_the_decided_thread() -> None:
    example = Path(__file__).parents[2] / "cookbook" / "openai_agents_example.py"
    finished = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr[-2000:]
    printed = finished.stdout
    assert printed.startswith("approval completed")
    assert ">VIP customer: the account manager decides" in printed  # the decided row shows the reason
    assert "- close_account: VIP customer: the account manager decides" in printed  # and the model read it
    assert "- refund_order: refunded 25.00 EUR on A-17" in printed
    assert '- shipping_address: {"street": "1 Main St", "city": "Lyon"}' in printed
    assert '"selected": ["DHL"]' in printed and '- warehouse_stock: {"sku": "KB-42", "in_stock": 3}' in printed
