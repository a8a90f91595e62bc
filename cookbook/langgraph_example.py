"""A LangChain agent whose tool calls wait for people in Slack (HumanInTheLoopMiddleware + LangGraph).

Everything runs offline: ``ScriptedChatModel`` plays the LLM, slack_hitl's local Slack emulator
plays Slack, and a scripted person clicks the buttons and fills the modals. The agent pauses on
five tool calls: a refund to approve, an account deletion to reject (with a reason), an address
to correct, a question to answer and a stock level to look up. It resumes once, after the last
row; the continuation is streamed into the message's thread, where the agent's next call (an
email) becomes a second approval that the person approves with an edited subject.

    python cookbook/langgraph_example.py
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

import structlog
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from slack_hitl_langgraph import LangGraphAdapter
from slack_hitl_langgraph.testing import ScriptedChatModel

from slack_hitl.testing.harness import HitlHarness

# -- the agent, as you would write it ---------------------------------------------------------------


@tool
def refund(order: str, amount: int) -> str:
    """Refund an order to the customer's card."""
    return f"refunded {amount} EUR on order {order}"


@tool
def delete_account(customer: str) -> str:
    """Delete a customer's account."""
    return f"deleted the account of {customer}"


@tool
def update_address(order: str, street: str, city: str) -> str:
    """Change where an order is delivered."""
    return f"order {order} now goes to {street}, {city}"


@tool
def ask_user(question: str, options: list[str]) -> str:
    """Ask the person in charge a question (a person answers in the tool's place)."""
    raise RuntimeError("never runs: the middleware only lets a person respond")


@tool
def warehouse_stock(sku: str) -> str:
    """Stock of a SKU; someone with warehouse access looks it up."""
    raise RuntimeError("never runs: the middleware only lets a person respond")


@tool
def send_email(to: str, subject: str) -> str:
    """Email a customer."""
    return f"emailed {to}: {subject!r}"


review = HumanInTheLoopMiddleware(
    interrupt_on={
        "refund": {"allowed_decisions": ["approve", "reject"]},
        "delete_account": {"allowed_decisions": ["approve", "reject"]},
        "update_address": {"allowed_decisions": ["edit"]},
        "ask_user": {"allowed_decisions": ["respond"]},
        "warehouse_stock": {"allowed_decisions": ["respond"]},
        "send_email": True,  # approve, edit or reject
    }
)


# -- the scripted model: what an LLM would have said ------------------------------------------------

FIRST_CALLS = [
    {"id": "call_refund", "name": "refund", "args": {"order": "A-17", "amount": 25}},
    {"id": "call_delete", "name": "delete_account", "args": {"customer": "bob"}},
    {"id": "call_address", "name": "update_address", "args": {"order": "A-17", "street": "1 Old Rd", "city": "Lyon"}},
    {"id": "call_ask", "name": "ask_user", "args": {"question": "Which carrier?", "options": ["UPS", "DHL"]}},
    {"id": "call_stock", "name": "warehouse_stock", "args": {"sku": "KB-42"}},
]


def support_model(messages: list[BaseMessage]) -> AIMessage:
    """Five tool calls, then a report and an email, then a closing line: all read from the tool results."""
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return AIMessage(content="Let me sort out Bob's broken keyboard.", tool_calls=FIRST_CALLS)
    report = "\n".join(f"- {m.name}: {m.content.rsplit(chr(10), 1)[-1]}" for m in results)
    if not any(m.name == "send_email" for m in results):
        email = {"id": "call_email", "name": "send_email", "args": {"to": "bob@example.com", "subject": "Refund"}}
        return AIMessage(content=f"Here is what happened:\n{report}\nI will let Bob know.", tool_calls=[email])
    return AIMessage(content=f"All done:\n{report}")


# -- wiring it to Slack, and a person deciding --------------------------------------------------------


async def main() -> None:
    # Only warnings from slack_hitl's own logs, so the thread below is easy to read.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        # A durable checkpointer: the run survives a restart, so its approval can be resumed later.
        async with AsyncSqliteSaver.from_conn_string(str(Path(tmp) / "checkpoints.db")) as checkpointer:
            tools: list[Any] = [refund, delete_account, update_address, ask_user, warehouse_stock, send_email]
            agent = create_agent(
                ScriptedChatModel(script=support_model), tools=tools, middleware=[review], checkpointer=checkpointer
            )
            adapter = LangGraphAdapter(agent)
            async with HitlHarness(adapters=[adapter]) as hitl:
                config = {"configurable": {"thread_id": "ticket-981"}}
                result = await agent.ainvoke(
                    {"messages": [{"role": "user", "content": "Bob's keyboard arrived broken."}]}, config, version="v2"
                )
                opened = await adapter.pause_to_approval(
                    hitl.engine, result, config=config, channel=hitl.channel, title="Bob's broken keyboard"
                )
                await decide_as_a_person(hitl, opened.id)
                await show(hitl, opened.id)


async def decide_as_a_person(hitl: HitlHarness, approval_id: str) -> None:
    approval = await hitl.posted(approval_id)
    where, ts = hitl.channel, approval.message_ts
    assert ts is not None
    alice = hitl.user("U0ALICE", "alice")
    await alice.click(where, ts, button_text="Approve", near="Run refund")
    await alice.click(where, ts, button_text="Reject", near="Run delete_account")
    await alice.submit_view({"Reason": "VIP customer: the account manager decides"})
    await alice.click(where, ts, button_text="Provide input", near="Edit update_address")
    await alice.submit_view({"street": "9 Rue Neuve"})
    await alice.click(where, ts, button_text="Answer", near="Which carrier?")
    await alice.submit_view({"Which carrier?": "DHL"})
    await alice.click(where, ts, button_text="Submit result", near="Result of warehouse_stock")
    await alice.submit_view({"Result": "3 in stock, aisle 12"})
    await hitl.engine.wait_until_final(approval.id, timeout=30)
    await hitl.settle()

    # The agent's email is a second approval in the thread; Alice approves it with a better subject.
    nested = next(a for a in await hitl.store.list_approvals() if a.parent_id == approval.id)
    nested = await hitl.posted(nested.id)
    assert nested.message_ts is not None
    await alice.click(where, nested.message_ts, button_text="Decide…", near="Run send_email")
    await alice.submit_view({"Decision": "Approve", "subject": "Your refund and replacement"})
    await hitl.engine.wait_until_final(nested.id, timeout=30)
    await hitl.settle()


async def show(hitl: HitlHarness, approval_id: str) -> None:
    print(hitl.transcript(await hitl.store.get(approval_id)))


if __name__ == "__main__":
    asyncio.run(main())
