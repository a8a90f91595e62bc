"""What a resumed Pydantic AI run's stream events mean for the people in the Slack thread.

Pure: one agent stream event in, zero or more continuation events out. Text arrives as the model
streams it; each tool call becomes a progress line when it starts and when its result is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic_ai.messages import (
    DeferredToolRequestsEvent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolReturnPart,
)

from slack_hitl import ContinuationEvent, TextDelta, ToolProgress

_DETAIL_LENGTH = 200

# Pydantic AI's outcome of a tool return, as the state of its progress line.
_STATE_OF_OUTCOME: dict[str, Any] = {
    "success": "finished",
    "denied": "skipped",
    "failed": "failed",
    "interrupted": "failed",
    "retried": "failed",
}


def continuation_events(event: Any) -> Iterator[ContinuationEvent]:
    """The continuation events one agent stream event stands for (none for most)."""
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart) and event.part.content:
        yield TextDelta(text=event.part.content)
    elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta) and event.delta.content_delta:
        yield TextDelta(text=event.delta.content_delta)
    elif isinstance(event, FunctionToolCallEvent) and event.args_valid:
        # args_valid is None for a resumed call that is not executed (denied, or answered by a person):
        # its result event says what happened.
        yield ToolProgress(name=event.part.tool_name, state="started", detail=_short(event.part.args_as_json_str()))
    elif isinstance(event, FunctionToolResultEvent):
        yield _result_progress(event.part)
    elif isinstance(event, DeferredToolRequestsEvent):
        for call in [*event.requests.approvals, *event.requests.calls]:
            yield ToolProgress(name=call.tool_name, state="skipped", detail="waits for a decision in Slack")


def _result_progress(part: ToolReturnPart) -> ToolProgress:
    state = _STATE_OF_OUTCOME.get(part.outcome, "finished")
    return ToolProgress(name=part.tool_name, state=state, detail=_short(part.model_response_str()))


def _short(text: str) -> str:
    return text if len(text) <= _DETAIL_LENGTH else text[: _DETAIL_LENGTH - 1] + "…"
