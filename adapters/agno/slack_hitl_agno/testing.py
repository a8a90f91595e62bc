"""A scripted Agno model for tests and examples: no network, no LLM.

``ScriptedModel(script)`` asks ``script(messages)`` what the model says next: text (streamed
in the chunks given) and tool calls. Because the reply depends only on the conversation, a
run continued in a new process gets the same answers as it would have in the old one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agno.models.base import Model
from agno.models.message import Message
from agno.models.response import ModelResponse


@dataclass(frozen=True)
class ToolCall:
    """One tool call the scripted model makes."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def as_provider_call(self, position: int) -> dict[str, Any]:
        call_id = self.id or f"call_{self.name}_{position}"
        return {
            "id": call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


@dataclass(frozen=True)
class Turn:
    """What the model says in one turn: text chunks, streamed one by one, then tool calls."""

    chunks: Sequence[str] = ()
    tool_calls: Sequence[ToolCall] = ()


Script = Callable[[list[Message]], Turn]


@dataclass
class ScriptedModel(Model):
    """An Agno model whose every turn comes from ``script``; it streams text in the given chunks."""

    script: Script | None = None
    id: str = "scripted"
    name: str = "ScriptedModel"
    provider: str = "slack_hitl_agno.testing"

    def _turn(self, messages: list[Message]) -> Turn:
        if self.script is None:
            raise ValueError("ScriptedModel needs a script: ScriptedModel(script=lambda messages: Turn(...))")
        return self.script(messages)

    def _response(self, messages: list[Message]) -> ModelResponse:
        turn = self._turn(messages)
        calls = [call.as_provider_call(n) for n, call in enumerate(turn.tool_calls)]
        return ModelResponse(role="assistant", content="".join(turn.chunks) or None, tool_calls=calls)

    def _deltas(self, messages: list[Message]) -> Iterator[ModelResponse]:
        turn = self._turn(messages)
        for chunk in turn.chunks:
            yield ModelResponse(role="assistant", content=chunk)
        if turn.tool_calls:
            calls = [call.as_provider_call(n) for n, call in enumerate(turn.tool_calls)]
            yield ModelResponse(role="assistant", tool_calls=calls)

    def invoke(self, messages: list[Message], **_: Any) -> ModelResponse:
        return self._response(messages)

    async def ainvoke(self, messages: list[Message], **_: Any) -> ModelResponse:
        return self._response(messages)

    def invoke_stream(self, messages: list[Message], **_: Any) -> Iterator[ModelResponse]:
        yield from self._deltas(messages)

    async def ainvoke_stream(self, messages: list[Message], **_: Any) -> AsyncIterator[ModelResponse]:
        for delta in self._deltas(messages):
            yield delta

    def _parse_provider_response(self, response: Any, **_: Any) -> ModelResponse:
        return response

    def _parse_provider_response_delta(self, response: Any) -> ModelResponse:
        return response


def tool_results(messages: list[Message]) -> dict[str, str]:
    """The results the model has seen so far, by tool call id (a script's usual question)."""
    return {m.tool_call_id: m.get_content_string() for m in messages if m.role == "tool" and m.tool_call_id}
