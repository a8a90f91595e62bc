"""A Pydantic AI run that pauses on four deferred tool calls, decided by people in Slack.

    python cookbook/pydantic_ai_example.py

Runs offline: a scripted ``FunctionModel`` plays the LLM, and slack_hitl's local Slack emulator
plays Slack (``HitlHarness`` starts it with the app, a SQLite store and the engine). A release
agent pauses with all three of Pydantic AI's kinds of deferred call:

- ``deploy`` needs approval (``requires_approval=True``): approved, so it runs with its arguments;
- ``migrate_database`` needs approval too: rejected, with a reason the model reads;
- ``error_rate`` is deferred to a person (``CallDeferred``), who pastes the dashboard's number;
- ``ask_user`` is a question (``CallDeferred(kind="question")``): which rollout strategy.

Scripted people decide each row with signed clicks and modal submissions. The run resumes once,
after the last row, streams what it saw into the message's thread, pauses again to announce the
release (a nested approval in the same thread), and finishes once that is approved. The thread
is printed at the end. With a real workspace the adapter lines are the same; only the harness is
replaced by slack_hitl's server and a real model.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import structlog
from pydantic_ai import Agent, CallDeferred, DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from slack_hitl_pydantic_ai import PydanticAIAdapter

from slack_hitl.testing.harness import HitlHarness

# -- the agent, as you would write it ------------------------------------------------------------

agent = Agent(output_type=[str, DeferredToolRequests], name="release-bot")


@agent.tool_plain(requires_approval=True)
def deploy(service: str, version: str) -> str:
    """Deploy a version of a service to production."""
    return f"{service} {version} is live on 12/12 pods"


@agent.tool_plain(requires_approval=True)
def migrate_database(migration: str) -> str:
    """Apply a database migration in production."""
    return f"applied {migration}"


@agent.tool_plain
def error_rate(service: str) -> float:
    """The service's error rate; someone with dashboard access reads it."""
    raise CallDeferred(metadata={"result_format": "json", "description": "Paste the 5-minute error rate (%)."})


@agent.tool_plain
def ask_user(question: str, options: list[str]) -> str:
    """Ask the release manager."""
    raise CallDeferred(kind="question")


@agent.tool_plain(requires_approval=True)
def announce(channel: str, message: str) -> str:
    """Post an announcement."""
    return f"posted to {channel}"


# -- a scripted model standing in for the LLM ----------------------------------------------------


def _call(index: int, name: str, call_id: str, **arguments: Any) -> dict[int, DeltaToolCall]:
    return {index: DeltaToolCall(name=name, json_args=json.dumps(arguments), tool_call_id=call_id)}


async def script(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
    last = messages[-1]
    returns = [p for p in last.parts if isinstance(p, ToolReturnPart)] if isinstance(last, ModelRequest) else []
    if not returns:
        yield _call(0, "deploy", "call_deploy", service="checkout", version="v2.8.0")
        yield _call(1, "migrate_database", "call_migrate", migration="0042_drop_legacy_orders")
        yield _call(2, "error_rate", "call_error_rate", service="checkout")
        yield _call(
            3, "ask_user", "call_strategy", question="Which rollout strategy?", options=["canary", "all at once"]
        )
        return
    if returns[0].tool_name == "announce":
        yield "Announced. "
        yield "The release is done."
        return
    yield "Release report:\n"
    for part in returns:
        yield f"- {part.tool_name}: {part.model_response_str()}\n"
    yield _call(1, "announce", "call_announce", channel="#releases", message="checkout v2.8.0 is live")


async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The same script for ``agent.run`` (not streamed)."""
    text, calls = "", []
    async for item in script(messages, info):
        if isinstance(item, str):
            text += item
        else:
            calls += [ToolCallPart(d.name, d.json_args, tool_call_id=d.tool_call_id) for d in item.values()]
    return ModelResponse(parts=[*([TextPart(text)] if text else []), *calls])


# -- the run, decided in Slack -------------------------------------------------------------------


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with agent.override(model=FunctionModel(respond, stream_function=script)):
        adapter = PydanticAIAdapter(agent)
        async with HitlHarness(adapters=[adapter]) as hitl:
            # The wiring: run the agent; if it paused, open one approval for its deferred calls.
            result = await agent.run("Ship checkout v2.8.0")
            assert isinstance(result.output, DeferredToolRequests)
            opened = await adapter.pause_to_approval(hitl.engine, result, channel=hitl.channel, title="Release")

            approval = await hitl.posted(opened.id)
            channel, ts = hitl.channel, approval.message_ts
            assert ts is not None
            ana, raj = hitl.user("U0ANA", "Ana"), hitl.user("U0RAJ", "Raj")
            await ana.click(channel, ts, button_text="Approve", near="deploy")
            await ana.click(channel, ts, button_text="Reject", near="migrate_database")
            await ana.submit_view({"Reason": "0042 needs the backfill job to finish first"})
            await raj.click(channel, ts, button_text="Submit result", near="error_rate")
            await raj.submit_view({"Result": "0.12"})
            await raj.click(channel, ts, button_text="Answer", near="ask_user")
            await raj.submit_view({"Which rollout strategy?": "canary"})

            await hitl.engine.wait_until_final(approval.id, timeout=30)
            await hitl.settle()
            # The run paused again to announce the release: a second approval in the same thread.
            await ana.click(channel, ts, button_text="Approve", near="announce")
            await hitl.settle()

            decided = await hitl.store.get(approval.id)
            print(hitl.message(decided).text)
            for row in decided.rows:
                assert row.decision is not None
                reason = f" ({row.decision.reason})" if row.decision.reason else ""
                print(f"  {row.requirement.title}: {row.decision.outcome} by {row.decided_by_name}{reason}")
            print("\nThread:")
            for reply in hitl.thread(decided):
                print("  ↳", reply.text.strip().replace("\n", "\n    "), "\n")


if __name__ == "__main__":
    asyncio.run(main())
