"""Block Kit builders and helpers shared by the emulator's tests."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

JSONDict = dict[str, Any]

CHANNEL = "C0APPROVALS"

SIGNING_SECRET = "test-signing-secret"


def plain(text: str) -> JSONDict:
    return {"type": "plain_text", "text": text}


def section(text: str = "row", **extra: Any) -> JSONDict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def header(text: str) -> JSONDict:
    return {"type": "header", "text": plain(text)}


def context(*texts: str) -> JSONDict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts]}


def button(text: str = "Go", action_id: str = "go", **extra: Any) -> JSONDict:
    return {"type": "button", "text": plain(text), "action_id": action_id, **extra}


def actions(*elements: JSONDict, **extra: Any) -> JSONDict:
    return {"type": "actions", "elements": list(elements), **extra}


def option(text: str, value: str) -> JSONDict:
    return {"text": plain(text), "value": value}


def static_select(options: list[JSONDict], action_id: str = "pick") -> JSONDict:
    return {"type": "static_select", "action_id": action_id, "placeholder": plain("Pick"), "options": options}


def grouped_select(groups: list[JSONDict], action_id: str = "pick") -> JSONDict:
    return {"type": "static_select", "action_id": action_id, "placeholder": plain("Pick"), "option_groups": groups}


def number_input(**bounds: str) -> JSONDict:
    return {"type": "number_input", "action_id": "value", "is_decimal_allowed": False, **bounds}


def input_block(block_id: str, label: str, element: JSONDict, *, optional: bool = False) -> JSONDict:
    return {"type": "input", "block_id": block_id, "label": plain(label), "element": element, "optional": optional}


def modal(blocks: list[JSONDict], **extra: Any) -> JSONDict:
    return {"type": "modal", "title": plain("Decide"), "submit": plain("Submit"), "blocks": blocks, **extra}


async def api_error(call: Awaitable[Any]) -> JSONDict:
    with pytest.raises(SlackApiError) as raised:
        await call
    return dict(raised.value.response.data)
