"""Translate a resumed graph's v2 stream parts into continuation events.

``messages`` parts carry the model's text as it is generated: each piece becomes a
``TextDelta``. ``updates`` parts carry what each node wrote: a tool result becomes a
"finished" / "failed" / "skipped" line, and a node that writes something other than messages
(a plain graph's step) a "finished" line of its own.

A tool call gets a "started" line only when it is known to run: the calls a person just
approved. A call the model makes during the continuation may be gated by an approval of its
own, and announcing it as started would be false.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from slack_hitl import ContinuationEvent, TextDelta, ToolProgress, ToolState

_DETAIL_LIMIT = 200
_PARAGRAPH = "\n\n"
_EDIT_NOTICE_END = "\n\nTool response:\n"


class ContinuationTranslator:
    """Stateful: remembers which tool calls it reported, so each shows one start and one end."""

    def __init__(self, *, rejected_calls: set[str]) -> None:
        self._rejected = set(rejected_calls)
        self._started: set[str] = set()
        self._ended: set[str] = set()
        self._text_message: str | None = None
        self._wrote_text = False

    def tool_started(self, call_id: str, name: str, args: Mapping[str, Any]) -> Iterator[ContinuationEvent]:
        """Report a tool call the person approved; it runs as the graph resumes."""
        if call_id in self._started:
            return
        self._started.add(call_id)
        yield ToolProgress(name=name, state="started", detail=_brief(args))

    def events(self, part: Mapping[str, Any]) -> Iterator[ContinuationEvent]:
        if part.get("type") == "messages":
            message, _metadata = part["data"]
            yield from self._text(message)
        elif part.get("type") == "updates":
            yield from self._updates(part["data"])

    def _text(self, message: Any) -> Iterator[ContinuationEvent]:
        if not isinstance(message, AIMessage):
            return
        text = message.text
        if not text:
            return
        if self._wrote_text and message.id != self._text_message:
            # A new model turn: keep its text apart from the previous one.
            yield TextDelta(text=_PARAGRAPH)
        self._text_message = message.id
        self._wrote_text = True
        yield TextDelta(text=text)

    def _updates(self, data: Mapping[str, Any]) -> Iterator[ContinuationEvent]:
        if (data.get("__metadata__") or {}).get("cached"):
            return  # a node that finished before the pause, replayed from the checkpoint
        for node, update in data.items():
            if node.startswith("__") or not update:
                continue
            messages = _messages_in(update)
            if messages:
                for message in messages:
                    yield from self._tool_lines(message)
            else:
                yield ToolProgress(name=node, state="finished", detail=_brief(update))

    def _tool_lines(self, message: BaseMessage) -> Iterator[ContinuationEvent]:
        if isinstance(message, ToolMessage) and message.tool_call_id not in self._ended:
            self._ended.add(message.tool_call_id)
            state: ToolState = "finished"
            if message.tool_call_id in self._rejected:
                state = "skipped"
            elif message.status == "error":
                state = "failed"
            yield ToolProgress(name=message.name or "tool", state=state, detail=_brief(_tool_result(message.text)))


def _messages_in(update: Any) -> list[BaseMessage]:
    found = update.get("messages") if isinstance(update, Mapping) else None
    if isinstance(found, BaseMessage):
        return [found]
    if isinstance(found, list | tuple):
        return [m for m in found if isinstance(m, BaseMessage)]
    return []


def _tool_result(text: str) -> str:
    """The tool's own result, without the note the middleware puts before an edited call's result."""
    return text.rsplit(_EDIT_NOTICE_END, 1)[-1] if _EDIT_NOTICE_END in text else text


def _brief(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"
