"""Agno + slack_hitl: a paused agent run decided row by row in Slack, then continued in the thread.

    python cookbook/agno_example.py

Runs offline: a scripted model stands in for the LLM and the local Slack emulator stands in
for Slack (``HitlHarness`` starts it with the app, a SQLite store and the engine). An on-call
agent investigating failed checkouts pauses with all four of Agno's requirement kinds:

- ``restart_service`` needs a confirmation (approved);
- ``purge_cache`` needs a confirmation (rejected, with a reason the model reads);
- ``open_incident`` needs user input (the ticket number);
- ``read_error_rate`` is an external execution (a person pastes the dashboard's number);
- ``ask_user`` asks which region to fail over (user feedback).

A scripted person decides each row with signed clicks and modal submissions. The run resumes
once, streams what it saw into the thread, pauses again to page the on-call team (a nested
approval in the same thread), and finishes once that is approved. The thread is printed.

With a real Slack workspace, the adapter lines are the same; only the harness is replaced by
``slack_hitl``'s server and a real model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

import structlog

os.environ.setdefault("AGNO_TELEMETRY", "false")  # before agno is imported: no network calls

from agno.agent import Agent
from agno.models.message import Message
from agno.tools import tool
from agno.tools.user_feedback import UserFeedbackTools
from slack_hitl_agno import AgnoAdapter
from slack_hitl_agno.testing import ScriptedModel, ToolCall, Turn, tool_results

from slack_hitl import Approval
from slack_hitl.testing import EmulatedMessage
from slack_hitl.testing.harness import HitlHarness

REGION_QUESTION = "Which region should take the traffic?"

# -- the agent: ordinary Agno tools, marked the way Agno marks them ------------------------------


@tool(requires_confirmation=True)
def restart_service(service: str) -> str:
    """Restart a service."""
    return f"{service} restarted, 3/3 pods healthy"


@tool(requires_confirmation=True)
def purge_cache(scope: str) -> str:
    """Purge a cache."""
    return f"purged {scope}"


@tool(requires_user_input=True, user_input_fields=["ticket"])
def open_incident(summary: str, ticket: str) -> str:
    """Open an incident."""
    return f"incident {ticket} opened: {summary}"


@tool(external_execution=True)
def read_error_rate(service: str) -> str:
    """Read a service's error rate from the dashboard (a person does it)."""
    raise RuntimeError("a person reads the dashboard")


@tool(requires_confirmation=True)
def page_oncall(rotation: str, region: str) -> str:
    """Page an on-call rotation."""
    return f"paged {rotation} about {region}"


FIRST_CALLS = [
    ToolCall("restart_service", {"service": "checkout"}, id="call_restart"),
    ToolCall("purge_cache", {"scope": "all"}, id="call_purge"),
    ToolCall("open_incident", {"summary": "checkout failures"}, id="call_incident"),
    ToolCall("read_error_rate", {"service": "checkout"}, id="call_rate"),
    ToolCall(
        "ask_user",
        {
            "questions": [
                {
                    "question": REGION_QUESTION,
                    "header": "Region",
                    "options": [{"label": "eu-west"}, {"label": "us-east"}],
                    "multi_select": False,
                }
            ]
        },
        id="call_region",
    ),
]


def script(messages: list[Message]) -> Turn:
    """The model: what it says next depends only on the tool results it has seen."""
    results = tool_results(messages)
    if not results:
        return Turn(chunks=["Looking into the failed checkouts. "], tool_calls=FIRST_CALLS)
    if "call_page" not in results:
        region = json.loads(results["call_region"].removeprefix("User feedback received: "))[0]["selected"][0]
        seen = [f"\n• {call.name}: {results[call.id]}" for call in FIRST_CALLS]
        return Turn(
            chunks=["Here is where we are:", *seen, "\nPaging the on-call team next."],
            tool_calls=[ToolCall("page_oncall", {"rotation": "payments", "region": region}, id="call_page")],
        )
    return Turn(chunks=["Done: ", results["call_page"], "."])


def build_agent() -> Agent:
    tools = [restart_service, purge_cache, open_incident, read_error_rate, page_oncall, UserFeedbackTools()]
    return Agent(name="oncall-bot", model=ScriptedModel(script=script), tools=tools, telemetry=False)


# -- the wiring: these are the lines a user writes -------------------------------------------------


async def main() -> None:
    agent = build_agent()
    adapter = AgnoAdapter(agent)
    async with HitlHarness(adapters=[adapter]) as hitl:  # a real deployment gives its Engine the adapter
        run = await agent.arun("Checkouts are failing, investigate.")
        if run.is_paused:
            opened = await adapter.pause_to_approval(hitl.engine, run, channel=hitl.channel, title="Checkout incident")
            approval = await hitl.posted(opened.id)
            await decide_as_a_person(hitl, approval)
            await hitl.engine.wait_until_final(approval.id, timeout=30)
            nested = await hitl.posted(
                next(a.id for a in await hitl.store.list_approvals() if a.parent_id == approval.id)
            )
            await hitl.user("U0DANA", "dana").click(
                hitl.channel, nested.message_ts, button_text="Approve", near="page_oncall"
            )
            await hitl.engine.wait_until_final(nested.id, timeout=30)
            await hitl.settle()
            print_thread(hitl.message(await hitl.store.get(approval.id)), hitl.thread(approval))


async def decide_as_a_person(hitl: HitlHarness, approval: Approval) -> None:
    """Dana decides every row the way she would in Slack: buttons, and modals where a row needs more."""
    dana, channel, ts = hitl.user("U0DANA", "dana"), hitl.channel, approval.message_ts
    await dana.click(channel, ts, button_text="Approve", near="restart_service")
    await dana.click(channel, ts, button_text="Reject", near="purge_cache")
    await dana.submit_view({"reason": "a full purge would take the storefront down; purge checkout only"})
    await dana.click(channel, ts, button_text="Provide input", near="open_incident")
    await dana.submit_view({"ticket": "INC-4242"})
    await dana.click(channel, ts, button_text="Submit result", near="read_error_rate")
    await dana.submit_view({"result": "12.5% of requests fail (dashboard, last 15 min)"})
    await dana.click(channel, ts, button_text="Answer", near=REGION_QUESTION)
    await dana.submit_view({REGION_QUESTION: "eu-west"})


# -- printing what Slack shows ------------------------------------------------------------------


def print_thread(root: EmulatedMessage, replies: list[EmulatedMessage]) -> None:
    print("=" * 72)
    print(message_text(root))
    for reply in replies:
        print("-" * 72)
        print(message_text(reply))
    print("=" * 72)


def message_text(message: EmulatedMessage) -> str:
    """The words a person reads: the blocks' text when there are blocks, else the message text."""
    lines: list[str] = []
    for block in message.blocks:
        lines += _block_lines(block)
    if message.stream_chunks or not lines:
        lines.append(message.text)
    return "\n".join(line for line in lines if line)


def _block_lines(block: dict) -> list[str]:
    texts = [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]
    return [t["text"] for t in texts if isinstance(t, dict) and isinstance(t.get("text"), str)]


if __name__ == "__main__":
    # The thread is what this example shows; keep slack_hitl's own log lines to warnings.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main())
