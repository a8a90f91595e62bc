"""Agno's run events as slack_hitl continuation events: text as it comes, tool calls as progress."""

from __future__ import annotations

from typing import Any

from agno.models.response import ToolExecution
from agno.run.agent import (
    RunCancelledEvent,
    RunContentEvent,
    RunErrorEvent,
    ToolCallCompletedEvent,
    ToolCallErrorEvent,
    ToolCallStartedEvent,
)

from slack_hitl import ContinuationEvent, ResumeNotPossible, TextDelta, ToolProgress

_DETAIL_LENGTH = 200


def continuation_event(event: Any) -> ContinuationEvent | None:
    """The continuation event for one Agno stream event; ``None`` for those people need not see.

    A failed or cancelled run raises ``ResumeNotPossible`` so the approval becomes retryable.
    """
    if isinstance(event, RunContentEvent):
        # Structured output arrives whole at the end; only text is streamed as it comes.
        return TextDelta(text=event.content) if isinstance(event.content, str) and event.content else None
    if isinstance(event, ToolCallStartedEvent) and event.tool is not None:
        return ToolProgress(name=_name(event.tool), state="started", detail=_arguments(event.tool))
    if isinstance(event, ToolCallCompletedEvent) and event.tool is not None:
        state = "failed" if event.tool.tool_call_error else "finished"
        return ToolProgress(name=_name(event.tool), state=state, detail=_short(event.tool.result))
    if isinstance(event, ToolCallErrorEvent):
        name = _name(event.tool) if event.tool is not None else "tool"
        return ToolProgress(name=name, state="failed", detail=_short(event.error))
    if isinstance(event, RunErrorEvent):
        raise ResumeNotPossible(f"the Agno run failed: {event.error_type or 'error'}: {event.content}")
    if isinstance(event, RunCancelledEvent):
        raise ResumeNotPossible(f"the Agno run was cancelled: {event.reason or 'no reason given'}")
    return None


def _name(tool: ToolExecution) -> str:
    return tool.tool_name or "tool"


def _arguments(tool: ToolExecution) -> str:
    return _short(", ".join(f"{name}={value!r}" for name, value in (tool.tool_args or {}).items()))


def _short(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= _DETAIL_LENGTH else text[: _DETAIL_LENGTH - 1] + "…"
