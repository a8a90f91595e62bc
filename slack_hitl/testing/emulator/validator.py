"""Slack's Block Kit rules, checked on the blocks of a message and on a modal definition.

Blocks and views are checked here; the elements in them (and their options) by ``elements``.

Problems are worded as Slack words them in ``invalid_blocks`` / ``invalid_arguments`` answers,
each with the JSON pointer of the offending part, so a test reads the same error as the app
would from Slack. The rules are written from Slack's documentation, not from slack_hitl's
renderer: the emulator is the oracle the renderer is tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_hitl.slack.documented_limits import (
    ACTIONS_ELEMENTS,
    BLOCK_ID,
    CALLBACK_ID,
    CONTEXT_ELEMENTS,
    EXTERNAL_ID,
    FIELD_TEXT,
    HEADER_TEXT,
    INPUT_HINT,
    INPUT_LABEL,
    MESSAGE_BLOCKS,
    MODAL_BLOCKS,
    PRIVATE_METADATA,
    SECTION_FIELDS,
    SECTION_TEXT,
    TEXT_OBJECT,
    VIEW_BUTTON,
    VIEW_TITLE,
)
from slack_hitl.testing.emulator.elements import check_element
from slack_hitl.testing.emulator.problems import PLAIN, Problems
from slack_hitl.testing.emulator.records import JSONDict

BLOCK_TYPES = frozenset(
    {
        "actions",
        "alert",
        "call",
        "card",
        "carousel",
        "container",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "plan",
        "rich_text",
        "section",
        "table",
        "task_card",
        "video",
    }
)


def _check_section(problems: Problems, block: JSONDict, pointer: str) -> None:
    if "text" not in block and "fields" not in block:
        problems.add("must provide either text or fields", pointer)
    if "text" in block:
        problems.text_object(block["text"], f"{pointer}/text", limit=SECTION_TEXT)
    if "fields" in block:
        fields = block["fields"]
        problems.max_items(fields, SECTION_FIELDS, f"{pointer}/fields")
        for index, item in enumerate(fields if isinstance(fields, list) else []):
            problems.text_object(item, f"{pointer}/fields/{index}", limit=FIELD_TEXT)
    if "accessory" in block:
        check_element(problems, block["accessory"], f"{pointer}/accessory")


def _check_header(problems: Problems, block: JSONDict, pointer: str) -> None:
    problems.text_object(block.get("text"), f"{pointer}/text", limit=HEADER_TEXT, types=PLAIN)


def _check_context(problems: Problems, block: JSONDict, pointer: str) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.add("missing required field: elements", pointer)
        return
    problems.max_items(elements, CONTEXT_ELEMENTS, f"{pointer}/elements")
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            continue
        problems.text_object(element, element_pointer, limit=TEXT_OBJECT)


def _check_actions(problems: Problems, block: JSONDict, pointer: str) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.add("missing required field: elements", pointer)
        return
    problems.max_items(elements, ACTIONS_ELEMENTS, f"{pointer}/elements")
    seen: set[str] = set()
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        check_element(problems, element, element_pointer)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen:
                problems.add(f"duplicate action_id `{action_id}`", f"{element_pointer}/action_id")
            seen.add(action_id)


def _check_input(problems: Problems, block: JSONDict, pointer: str) -> None:
    problems.text_object(block.get("label"), f"{pointer}/label", limit=INPUT_LABEL, types=PLAIN)
    if "hint" in block:
        problems.text_object(block["hint"], f"{pointer}/hint", limit=INPUT_HINT, types=PLAIN)
    if "element" not in block:
        problems.add("missing required field: element", pointer)
        return
    check_element(problems, block["element"], f"{pointer}/element")


_BLOCK_CHECKS: dict[str, Callable[[Problems, JSONDict, str], None]] = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
}


def _check_blocks(problems: Problems, blocks: list[Any], pointer: str, *, limit: int) -> None:
    problems.max_items(blocks, limit, pointer)
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        block_pointer = f"{pointer}/{index}"
        if not isinstance(block, dict):
            problems.add("must provide an object", block_pointer)
            continue
        block_type = block.get("type")
        if not isinstance(block_type, str) or block_type not in BLOCK_TYPES:
            problems.add(f"unsupported block type `{block_type}`", f"{block_pointer}/type")
            continue
        block_id = block.get("block_id")
        if block_id is not None and not isinstance(block_id, str):
            problems.add("must be a string", f"{block_pointer}/block_id")
        elif block_id is not None:
            problems.max_length(block_id, BLOCK_ID, f"{block_pointer}/block_id")
            if block_id in seen_block_ids:
                problems.add(f"duplicate block_id `{block_id}`", f"{block_pointer}/block_id")
            seen_block_ids.add(block_id)
        check = _BLOCK_CHECKS.get(block_type)
        if check is not None:
            check(problems, block, block_pointer)


def message_block_problems(blocks: list[Any]) -> list[str]:
    """Slack's `invalid_blocks` messages for the blocks of one message (empty when valid)."""
    problems = Problems()
    _check_blocks(problems, blocks, "/blocks", limit=MESSAGE_BLOCKS)
    return problems.messages


def view_problems(view: JSONDict, *, surface: str = "modal") -> list[str]:
    """Slack's `invalid_arguments` messages for a modal (or, with ``surface="home"``, an App Home tab)."""
    problems = Problems()
    if view.get("type") != surface:
        problems.add(f"must be one of: {surface}", "/view/type")
    if surface == "home":
        if view.get("title") is not None:
            problems.text_object(view["title"], "/view/title", limit=VIEW_TITLE, types=PLAIN)
    elif "title" not in view:
        problems.add("missing required field: title", "/view")
    else:
        problems.text_object(view["title"], "/view/title", limit=VIEW_TITLE, types=PLAIN)
    for name in ("submit", "close"):
        if view.get(name) is not None:
            problems.text_object(view[name], f"/view/{name}", limit=VIEW_BUTTON, types=PLAIN)
    problems.max_length(view.get("private_metadata"), PRIVATE_METADATA, "/view/private_metadata")
    problems.max_length(view.get("callback_id"), CALLBACK_ID, "/view/callback_id")
    problems.max_length(view.get("external_id"), EXTERNAL_ID, "/view/external_id")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        problems.add("missing required field: blocks", "/view")
        return problems.messages
    _check_blocks(problems, blocks, "/view/blocks", limit=MODAL_BLOCKS)
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if has_input and view.get("submit") is None:
        problems.add("missing required field: submit (a modal with input blocks needs one)", "/view")
    return problems.messages
