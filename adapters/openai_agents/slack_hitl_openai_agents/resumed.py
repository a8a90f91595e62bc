"""What a tool call of a resumed run may know about the decision that let it run.

The adapter sets it for the run it resumes; tools read it with ``resumed_call``. It lives in a
context variable (not on the agent or a global) so runs resumed at once in one process never
see each other's decisions, and the run's own context object stays the user's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents import Runner, RunResultStreaming
from agents.tool_context import ToolContext

_RESUMED: contextvars.ContextVar[Mapping[str, ResumedCall] | None] = contextvars.ContextVar(
    "slack_hitl_openai_agents_resumed", default=None
)


@dataclass(frozen=True)
class ResumedCall:
    """The decision behind one tool call of a resumed run.

    ``idempotency_key`` is the same on every attempt to resume the approval: use it to make a
    side effect safe to repeat when a failed resume is retried. ``answer`` is what a person
    supplied for a human tool (input values, answers or an external result), as the tool's output.
    """

    approval_id: str
    idempotency_key: str
    decided_by: str | None
    decided_by_name: str | None
    answer: str | None = None


def resumed_call(context: ToolContext[Any]) -> ResumedCall | None:
    """The decision that let this tool call run, when the run was resumed by slack_hitl."""
    calls = _RESUMED.get()
    return None if calls is None else calls.get(context.tool_call_id)


def run_resumed(calls: Mapping[str, ResumedCall], /, *args: Any, **kwargs: Any) -> RunResultStreaming:
    """``Runner.run_streamed`` with ``calls`` visible to the run's tool calls only."""
    context = contextvars.copy_context()
    context.run(_RESUMED.set, dict(calls))
    # run_streamed creates its run task synchronously, and that task inherits this context.
    return context.run(Runner.run_streamed, *args, **kwargs)
