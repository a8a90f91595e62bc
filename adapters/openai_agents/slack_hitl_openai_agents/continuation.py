"""Turn the resumed run's stream into continuation events: text as it comes, tool calls as progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents import RawResponsesStreamEvent, RunItemStreamEvent, RunResultStreaming, ToolCallItem, ToolCallOutputItem
from pydantic import BaseModel

from slack_hitl import ContinuationEvent, TextDelta, ToolProgress

_DETAIL_CHARS = 200


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


async def continuation_events(
    run: RunResultStreaming, *, tool_names: dict[str, str], rejected: dict[str, str | None]
) -> AsyncIterator[ContinuationEvent]:
    """Events of the run until its stream ends. ``tool_names`` by call id for calls begun before
    the pause (their call items were streamed then); ``rejected`` call ids with their reasons."""
    names = dict(tool_names)
    async for event in run.stream_events():
        if isinstance(event, RawResponsesStreamEvent):
            if event.data.type == "response.output_text.delta" and event.data.delta:
                yield TextDelta(text=event.data.delta)
        elif isinstance(event, RunItemStreamEvent):
            progress = _tool_progress(event.item, names, rejected)
            if progress is not None:
                yield progress


def _tool_progress(item: Any, names: dict[str, str], rejected: dict[str, str | None]) -> ToolProgress | None:
    if isinstance(item, ToolCallItem):
        name = item.tool_name or "tool"
        if item.call_id:
            names[item.call_id] = name
        arguments = getattr(item.raw_item, "arguments", None)
        return ToolProgress(name=name, state="started", detail=_short(arguments) if arguments else "")
    if isinstance(item, ToolCallOutputItem):
        call_id = item.call_id or ""
        name = names.get(call_id, "tool")
        if call_id in rejected:
            return ToolProgress(name=name, state="skipped", detail=rejected[call_id] or "rejected")
        return ToolProgress(name=name, state="finished", detail=_short(item.output))
    return None


def jsonable_output(output: Any) -> Any:
    """The run's final output in a form the approval's trace can store."""
    if isinstance(output, BaseModel):
        return output.model_dump(mode="json")
    return output
