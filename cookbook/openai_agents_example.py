"""An OpenAI Agents SDK run that pauses on five tool calls, decided by a person in Slack.

Everything runs offline: the SDK's ``ScriptedModel`` plays the LLM, slack_hitl's local Slack
emulator plays Slack, and a scripted person clicks the buttons and fills the modals. The run
pauses on a refund to approve, an account closure to reject (with a reason), a shipping address
to fill in, a question to answer and a stock level to look up; it resumes once, after the last
row, and its continuation is streamed into the message's thread.

    python cookbook/openai_agents_example.py
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("OPENAI_API_KEY", "unused-the-model-is-scripted")

import structlog
from agents import Agent, Runner, function_tool
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from slack_hitl_openai_agents import OpenAIAgentsAdapter, ask_user_tool, external_tool, input_tool

from slack_hitl import Confirmation, InputField
from slack_hitl.testing.harness import HitlHarness

# -- the agent, as you would write it ---------------------------------------------------------------


@function_tool(needs_approval=True)
def refund_order(order_id: str, amount: float) -> str:
    """Refund an order to the customer's card."""
    return f"refunded {amount:.2f} EUR on {order_id}"


@function_tool(needs_approval=True)
def close_account(customer: str) -> str:
    """Close the customer's account."""
    return f"closed the account of {customer}"


@external_tool(result_format="json")
def warehouse_stock(sku: str) -> dict[str, Any]:
    """Stock of a SKU; someone with warehouse access looks it up."""


shipping_address = input_tool(
    "shipping_address",
    "Shipping address for the replacement",
    fields=[InputField(name="street", label="Street"), InputField(name="city", label="City")],
)


def support_agent(model: ScriptedModel) -> Agent[Any]:
    tools = [refund_order, close_account, warehouse_stock, shipping_address, ask_user_tool()]
    return Agent(name="support", instructions="Help the customer.", model=model, tools=tools)


# -- the scripted model: what an LLM would have said ------------------------------------------------


def first_turn() -> list[Any]:
    question = {"question": "Which carrier?", "options": ["UPS", "DHL"], "multiple": False, "allow_free_text": False}
    return [
        function_call("refund_order", {"order_id": "A-17", "amount": 25.0}, call_id="call_refund"),
        function_call("close_account", {"customer": "bob"}, call_id="call_close"),
        function_call("shipping_address", {"message": "Where should the replacement go?"}, call_id="call_address"),
        function_call("ask_user", {"questions": [question]}, call_id="call_ask"),
        function_call("warehouse_stock", {"sku": "KB-42"}, call_id="call_stock"),
    ]


def report(call: ModelCall) -> list[Any]:
    """The model's answer, written from the tool results it received."""
    names = {i["call_id"]: i["name"] for i in call.input if isinstance(i, dict) and i.get("type") == "function_call"}
    lines = [
        f"- {names[i['call_id']]}: {i['output']}\n"
        for i in call.input
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]
    return [assistant_message("".join(["Here is what I did:\n", *lines]))]


# -- wiring it to Slack, and a person deciding --------------------------------------------------------


async def main() -> None:
    # Only warnings from slack_hitl's own logs, so the thread below is easy to read.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    model = ScriptedModel([first_turn(), ModelStep.respond(report)])
    agent = support_agent(model)
    adapter = OpenAIAgentsAdapter(agent)
    async with HitlHarness(adapters=[adapter]) as hitl:
        result = await Runner.run(agent, "Bob's keyboard arrived broken; sort it out.")
        opened = await adapter.pause_to_approval(
            hitl.engine,
            result,
            channel=hitl.channel,
            title="Bob's broken keyboard",
            confirmation=Confirmation(reason="required_on_reject"),
        )
        approval = await hitl.posted(opened.id)
        where, ts = hitl.channel, approval.message_ts
        assert ts is not None

        alice = hitl.user("U0ALICE", "alice")
        await alice.click(where, ts, button_text="Approve", near="refund_order")
        await alice.click(where, ts, button_text="Reject", near="close_account")
        await alice.submit_view({"Reason": "VIP customer: the account manager decides"})
        await alice.click(where, ts, button_text="Provide input", near="Shipping address")
        await alice.submit_view({"Street": "1 Main St", "City": "Lyon"})
        await alice.click(where, ts, button_text="Answer", near="Question from support")
        await alice.submit_view({"Which carrier?": "DHL"})
        await alice.click(where, ts, button_text="Submit result", near="warehouse_stock")
        await alice.submit_view({"Result": '{"sku": "KB-42", "in_stock": 3}'})

        final = await hitl.engine.wait_until_final(approval.id, timeout=30)
        await hitl.settle()
        print(hitl.transcript(final))


if __name__ == "__main__":
    asyncio.run(main())
