"""Slack's Block Kit rules, checked on the blocks of a message and on a modal definition.

Problems are worded as Slack words them in ``invalid_blocks`` / ``invalid_arguments`` answers,
each with the JSON pointer of the offending part, so a test reads the same error as the app
would from Slack. The rules are written from Slack's documentation, not from slack_hitl's
renderer: the emulator is the oracle the renderer is tested against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_hitl.slack.documented_limits import (
    ACTION_ID,
    ACTIONS_ELEMENTS,
    BLOCK_ID,
    BUTTON_TEXT,
    BUTTON_URL,
    BUTTON_VALUE,
    CALLBACK_ID,
    CHOICE_LIST_OPTIONS,
    CONTEXT_ELEMENTS,
    EXTERNAL_ID,
    FIELD_TEXT,
    HEADER_TEXT,
    INPUT_HINT,
    INPUT_LABEL,
    MESSAGE_BLOCKS,
    MODAL_BLOCKS,
    OPTION_TEXT,
    OPTION_VALUE,
    OVERFLOW_OPTIONS,
    PRIVATE_METADATA,
    SECTION_FIELDS,
    SECTION_TEXT,
    SELECT_OPTIONS,
    TEXT_INPUT_LENGTH,
    VIEW_BUTTON,
    VIEW_TITLE,
)
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
ELEMENT_TYPES = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "feedback_buttons",
        "file_input",
        "icon_button",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)
_OPTION_LIMITS: dict[str, int] = {
    "static_select": SELECT_OPTIONS,
    "multi_static_select": SELECT_OPTIONS,
    "overflow": OVERFLOW_OPTIONS,
    "checkboxes": CHOICE_LIST_OPTIONS,
    "radio_buttons": CHOICE_LIST_OPTIONS,
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Problems:
    """Collects Block Kit violations worded like Slack's, each with its JSON pointer."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.messages.append(f"{message} [json-pointer:{pointer}]")

    def max_length(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def max_items(self, items: object, limit: int, pointer: str) -> None:
        if isinstance(items, list) and len(items) > limit:
            self.add(f"no more than {limit} items allowed", pointer)


def _check_text_object(
    problems: _Problems,
    obj: object,
    pointer: str,
    *,
    limit: int | None,
    plain_only: bool = False,
) -> None:
    if not isinstance(obj, dict):
        problems.add("must provide an object", pointer)
        return
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        problems.add(f"must be one of: {', '.join(allowed)}", f"{pointer}/type")
    text = obj.get("text")
    if not isinstance(text, str):
        problems.add("missing required field: text", pointer)
    elif not text:
        problems.add("must be more than 0 characters", f"{pointer}/text")
    elif limit is not None:
        problems.max_length(text, limit, f"{pointer}/text")


def _check_options(problems: _Problems, options: object, limit: int, pointer: str) -> None:
    if not isinstance(options, list):
        problems.add("must provide an array", pointer)
        return
    problems.max_items(options, limit, pointer)
    for index, option in enumerate(options):
        option_pointer = f"{pointer}/{index}"
        if not isinstance(option, dict):
            problems.add("must provide an object", option_pointer)
            continue
        _check_text_object(problems, option.get("text"), f"{option_pointer}/text", limit=OPTION_TEXT)
        problems.max_length(option.get("value"), OPTION_VALUE, f"{option_pointer}/value")


def _check_option_source(problems: _Problems, element: JSONDict, pointer: str) -> None:
    limit = _OPTION_LIMITS[element["type"]]
    if "option_groups" in element:
        groups = element["option_groups"]
        problems.max_items(groups, limit, f"{pointer}/option_groups")
        for index, group in enumerate(groups if isinstance(groups, list) else []):
            if isinstance(group, dict):
                group_pointer = f"{pointer}/option_groups/{index}/options"
                _check_options(problems, group.get("options"), limit, group_pointer)
        return
    if "options" not in element:
        problems.add("must provide either options or option_groups", pointer)
        return
    _check_options(problems, element["options"], limit, f"{pointer}/options")


def _check_button(problems: _Problems, element: JSONDict, pointer: str) -> None:
    _check_text_object(problems, element.get("text"), f"{pointer}/text", limit=BUTTON_TEXT, plain_only=True)
    problems.max_length(element.get("value"), BUTTON_VALUE, f"{pointer}/value")
    problems.max_length(element.get("url"), BUTTON_URL, f"{pointer}/url")
    if "style" in element and element["style"] not in ("primary", "danger"):
        problems.add("must be one of: primary, danger", f"{pointer}/style")


def _check_plain_text_input(problems: _Problems, element: JSONDict, pointer: str) -> None:
    max_length = element.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or not 1 <= max_length <= TEXT_INPUT_LENGTH):
        problems.add(f"must be between 1 and {TEXT_INPUT_LENGTH}", f"{pointer}/max_length")
    min_length = element.get("min_length")
    if min_length is not None and (not isinstance(min_length, int) or not 0 <= min_length <= TEXT_INPUT_LENGTH):
        problems.add(f"must be between 0 and {TEXT_INPUT_LENGTH}", f"{pointer}/min_length")


def _check_number_input(problems: _Problems, element: JSONDict, pointer: str) -> None:
    if not isinstance(element.get("is_decimal_allowed"), bool):
        problems.add("missing required field: is_decimal_allowed", pointer)


def _check_datepicker(problems: _Problems, element: JSONDict, pointer: str) -> None:
    initial = element.get("initial_date")
    if initial is not None and not (isinstance(initial, str) and _DATE_RE.match(initial)):
        problems.add("must match format YYYY-MM-DD", f"{pointer}/initial_date")


_ELEMENT_CHECKS: dict[str, Callable[[_Problems, JSONDict, str], None]] = {
    "button": _check_button,
    "static_select": _check_option_source,
    "multi_static_select": _check_option_source,
    "overflow": _check_option_source,
    "checkboxes": _check_option_source,
    "radio_buttons": _check_option_source,
    "plain_text_input": _check_plain_text_input,
    "number_input": _check_number_input,
    "datepicker": _check_datepicker,
}


def _check_element(problems: _Problems, element: object, pointer: str) -> None:
    if not isinstance(element, dict):
        problems.add("must provide an object", pointer)
        return
    element_type = element.get("type")
    if element_type not in ELEMENT_TYPES:
        problems.add(f"unsupported element type `{element_type}`", f"{pointer}/type")
        return
    problems.max_length(element.get("action_id"), ACTION_ID, f"{pointer}/action_id")
    check = _ELEMENT_CHECKS.get(element_type)
    if check is not None:
        check(problems, element, pointer)


def _check_section(problems: _Problems, block: JSONDict, pointer: str) -> None:
    if "text" not in block and "fields" not in block:
        problems.add("must provide either text or fields", pointer)
    if "text" in block:
        _check_text_object(problems, block["text"], f"{pointer}/text", limit=SECTION_TEXT)
    if "fields" in block:
        fields = block["fields"]
        problems.max_items(fields, SECTION_FIELDS, f"{pointer}/fields")
        for index, item in enumerate(fields if isinstance(fields, list) else []):
            _check_text_object(problems, item, f"{pointer}/fields/{index}", limit=FIELD_TEXT)
    if "accessory" in block:
        _check_element(problems, block["accessory"], f"{pointer}/accessory")


def _check_header(problems: _Problems, block: JSONDict, pointer: str) -> None:
    _check_text_object(problems, block.get("text"), f"{pointer}/text", limit=HEADER_TEXT, plain_only=True)


def _check_context(problems: _Problems, block: JSONDict, pointer: str) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.add("missing required field: elements", pointer)
        return
    problems.max_items(elements, CONTEXT_ELEMENTS, f"{pointer}/elements")
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            continue
        _check_text_object(problems, element, element_pointer, limit=None)


def _check_actions(problems: _Problems, block: JSONDict, pointer: str) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.add("missing required field: elements", pointer)
        return
    problems.max_items(elements, ACTIONS_ELEMENTS, f"{pointer}/elements")
    seen: set[str] = set()
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        _check_element(problems, element, element_pointer)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen:
                problems.add(f"duplicate action_id `{action_id}`", f"{element_pointer}/action_id")
            seen.add(action_id)


def _check_input(problems: _Problems, block: JSONDict, pointer: str) -> None:
    _check_text_object(problems, block.get("label"), f"{pointer}/label", limit=INPUT_LABEL, plain_only=True)
    if "hint" in block:
        _check_text_object(problems, block["hint"], f"{pointer}/hint", limit=INPUT_HINT, plain_only=True)
    if "element" not in block:
        problems.add("missing required field: element", pointer)
        return
    _check_element(problems, block["element"], f"{pointer}/element")


_BLOCK_CHECKS: dict[str, Callable[[_Problems, JSONDict, str], None]] = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
}


def _check_blocks(problems: _Problems, blocks: list[Any], pointer: str, *, limit: int) -> None:
    problems.max_items(blocks, limit, pointer)
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        block_pointer = f"{pointer}/{index}"
        if not isinstance(block, dict):
            problems.add("must provide an object", block_pointer)
            continue
        block_type = block.get("type")
        if block_type not in BLOCK_TYPES:
            problems.add(f"unsupported block type `{block_type}`", f"{block_pointer}/type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            problems.max_length(block_id, BLOCK_ID, f"{block_pointer}/block_id")
            if block_id in seen_block_ids:
                problems.add(f"duplicate block_id `{block_id}`", f"{block_pointer}/block_id")
            seen_block_ids.add(block_id)
        check = _BLOCK_CHECKS.get(block_type)
        if check is not None:
            check(problems, block, block_pointer)


def message_block_problems(blocks: list[Any]) -> list[str]:
    """Slack's `invalid_blocks` messages for the blocks of one message (empty when valid)."""
    problems = _Problems()
    _check_blocks(problems, blocks, "/blocks", limit=MESSAGE_BLOCKS)
    return problems.messages


def view_problems(view: JSONDict) -> list[str]:
    """Slack's `invalid_arguments` messages for a modal definition (empty when valid)."""
    problems = _Problems()
    if view.get("type") != "modal":
        problems.add("must be one of: modal", "/view/type")
    if "title" not in view:
        problems.add("missing required field: title", "/view")
    else:
        _check_text_object(problems, view["title"], "/view/title", limit=VIEW_TITLE, plain_only=True)
    for name in ("submit", "close"):
        if view.get(name) is not None:
            _check_text_object(problems, view[name], f"/view/{name}", limit=VIEW_BUTTON, plain_only=True)
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
