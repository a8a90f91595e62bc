"""The final state of a finished run, as a short summary and a JSON-safe record for the trace."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

_SUMMARY_LIMIT = 3000


def final_output(values: Any) -> tuple[str, Any]:
    """``(summary, output)``: the last AI message's text, and the state made JSON-safe."""
    return _last_ai_text(values)[:_SUMMARY_LIMIT], jsonable(values)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: messages and models dumped, unknown objects as their ``repr``."""
    if isinstance(value, BaseMessage):
        dumped = {"type": value.type, "content": value.content}
        for name in ("name", "tool_call_id", "status"):
            if getattr(value, name, None):
                dumped[name] = getattr(value, name)
        if isinstance(value, AIMessage) and value.tool_calls:
            dumped["tool_calls"] = [{"id": c.get("id"), "name": c["name"], "args": c["args"]} for c in value.tool_calls]
        return jsonable(dumped)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _last_ai_text(values: Any) -> str:
    messages = values.get("messages") if isinstance(values, Mapping) else None
    for message in reversed(messages or []):
        if isinstance(message, AIMessage) and message.text:
            return message.text
    return ""
