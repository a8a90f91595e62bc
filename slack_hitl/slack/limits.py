"""Slack's Block Kit limits, checked before every post, update and modal open.

slack_sdk's models check many limits when they serialise, but not the ones that span a whole
message or view (block count, duplicate ids, total text, payload size) nor a few per-field
ones. ``validate_message`` and ``validate_view`` check those on the final dicts and raise
``SlackLimitError`` naming the limit and where it was crossed (a JSON pointer), so a bug in
the renderer shows up as a clear error here instead of an ``invalid_blocks`` from Slack.

Slack's numbers, and how lengths are counted (UTF-16 code units), live in
``documented_limits``; what this module adds is the product's own budgets and the checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_hitl.slack.documented_limits import (
    ACTION_ID,
    ACTIONS_ELEMENTS,
    BLOCK_ID,
    BUTTON_TEXT,
    BUTTON_VALUE,
    CALLBACK_ID,
    CHOICE_LIST_OPTIONS,
    CONTEXT_ELEMENTS,
    FIELD_TEXT,
    HEADER_TEXT,
    INPUT_HINT,
    INPUT_LABEL,
    MESSAGE_BLOCKS,
    MESSAGE_BLOCKS_TEXT,
    MESSAGE_TEXT,
    MODAL_BLOCKS,
    OPTION_GROUP_LABEL,
    OPTION_TEXT,
    OPTION_VALUE,
    PLACEHOLDER,
    PRIVATE_METADATA,
    SECTION_FIELDS,
    SECTION_TEXT,
    SELECT_OPTIONS,
    TEXT_INPUT_LENGTH,
    TEXT_OBJECT,
    VIEW_BUTTON,
    VIEW_BYTES,
    VIEW_TITLE,
    blocks_text_length,
    slack_length,
)

MESSAGE_BLOCKS_TEXT_BUDGET = MESSAGE_BLOCKS_TEXT - 1_000
"""Total text of a message's blocks the renderer stays within: clear of where Slack starts
failing (``msg_blocks_too_long``, reported around 13k and varying with the blocks)."""

_OPTION_LIMITS = {
    "static_select": SELECT_OPTIONS,
    "multi_static_select": SELECT_OPTIONS,
    "radio_buttons": CHOICE_LIST_OPTIONS,
    "checkboxes": CHOICE_LIST_OPTIONS,
}


class SlackLimitError(ValueError):
    """A message or view crosses one of Slack's limits.

    ``limit`` names the limit (e.g. ``"blocks per message"``), ``pointer`` is the JSON pointer
    of the offending part (e.g. ``/blocks/3/fields/2/text``).
    """

    def __init__(self, limit: str, pointer: str, detail: str) -> None:
        self.limit = limit
        self.pointer = pointer
        super().__init__(f"{detail} at {pointer} (Slack limit: {limit})")


def view_size(view: dict[str, Any]) -> int:
    """Bytes of the view as slack_sdk sends it (JSON with non-ASCII escaped)."""
    return len(json.dumps(view).encode())


def validate_message(blocks: list[dict[str, Any]], text: str) -> None:
    """Raise ``SlackLimitError`` unless Slack accepts ``blocks`` and fallback ``text`` as one message."""
    if not isinstance(text, str) or not text:
        raise SlackLimitError("fallback text", "/text", "a message needs a non-empty fallback text")
    _at_most(slack_length(text), MESSAGE_TEXT, "fallback text length", "/text")
    _check_blocks(blocks, "/blocks", MESSAGE_BLOCKS, "blocks per message")
    _at_most(blocks_text_length(blocks), MESSAGE_BLOCKS_TEXT_BUDGET, "total text in a message's blocks", "/blocks")


def validate_view(view: dict[str, Any]) -> None:
    """Raise ``SlackLimitError`` unless Slack accepts ``view`` in views.open / views.update."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        raise SlackLimitError("view type", "/view/type", "the view must be a modal")
    _check_text(view.get("title"), "/view/title", VIEW_TITLE, "modal title", plain=True)
    for name in ("submit", "close"):
        if view.get(name) is not None:
            _check_text(view[name], f"/view/{name}", VIEW_BUTTON, f"modal {name} label", plain=True)
    metadata = view.get("private_metadata")
    if metadata is not None:
        _at_most(slack_length(metadata), PRIVATE_METADATA, "private_metadata length", "/view/private_metadata")
    callback_id = view.get("callback_id")
    if callback_id is not None:
        _at_most(slack_length(callback_id), CALLBACK_ID, "callback_id length", "/view/callback_id")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise SlackLimitError("blocks per modal", "/view/blocks", "a modal needs at least one block")
    _check_blocks(blocks, "/view/blocks", MODAL_BLOCKS, "blocks per modal")
    if view.get("submit") is None and any(b.get("type") == "input" for b in blocks):
        raise SlackLimitError("modal submit", "/view/submit", "a modal with input blocks needs a submit label")
    _at_most(view_size(view), VIEW_BYTES, "view size in bytes", "/view")


def _at_most(value: int, limit: int, what: str, pointer: str) -> None:
    if value > limit:
        raise SlackLimitError(f"{what} <= {limit}", pointer, f"{what} is {value}")


def _check_blocks(blocks: Any, pointer: str, limit: int, what: str) -> None:
    if not isinstance(blocks, list):
        raise SlackLimitError("blocks", pointer, "blocks must be a list")
    _at_most(len(blocks), limit, what, pointer)
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        here = f"{pointer}/{index}"
        if not isinstance(block, dict):
            raise SlackLimitError("block", here, "a block must be an object")
        block_id = block.get("block_id")
        if block_id is not None:
            _at_most(slack_length(block_id), BLOCK_ID, "block_id length", f"{here}/block_id")
            if block_id in seen:
                raise SlackLimitError("unique block_id", f"{here}/block_id", f"block_id {block_id!r} is used twice")
            seen.add(block_id)
        check = _BLOCK_CHECKS.get(block.get("type", ""))
        if check is not None:
            check(block, here)


def _check_text(obj: Any, pointer: str, limit: int | None, what: str, *, plain: bool = False) -> None:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise SlackLimitError(what, pointer, f"{what} must be a text object")
    if plain and obj.get("type") != "plain_text":
        raise SlackLimitError(what, f"{pointer}/type", f"{what} must be plain_text")
    if not obj["text"]:
        raise SlackLimitError(what, f"{pointer}/text", f"{what} is empty")
    if limit is not None:
        _at_most(slack_length(obj["text"]), limit, f"{what} length", f"{pointer}/text")


def _check_section(block: dict[str, Any], pointer: str) -> None:
    if "text" not in block and "fields" not in block:
        raise SlackLimitError("section content", pointer, "a section needs text or fields")
    if "text" in block:
        _check_text(block["text"], f"{pointer}/text", SECTION_TEXT, "section text")
    fields = block.get("fields") or []
    _at_most(len(fields), SECTION_FIELDS, "fields per section", f"{pointer}/fields")
    for index, field in enumerate(fields):
        _check_text(field, f"{pointer}/fields/{index}", FIELD_TEXT, "section field")
    if "accessory" in block:
        _check_elements([block["accessory"]], f"{pointer}/accessory", single=True)


def _check_header(block: dict[str, Any], pointer: str) -> None:
    _check_text(block.get("text"), f"{pointer}/text", HEADER_TEXT, "header text", plain=True)


def _check_context(block: dict[str, Any], pointer: str) -> None:
    elements = block.get("elements") or []
    if not elements:
        raise SlackLimitError("context elements", pointer, "a context block needs elements")
    _at_most(len(elements), CONTEXT_ELEMENTS, "elements per context block", f"{pointer}/elements")
    for index, element in enumerate(elements):
        if element.get("type") != "image":
            _check_text(element, f"{pointer}/elements/{index}", TEXT_OBJECT, "context text")


def _check_actions(block: dict[str, Any], pointer: str) -> None:
    elements = block.get("elements") or []
    if not elements:
        raise SlackLimitError("actions elements", pointer, "an actions block needs elements")
    _at_most(len(elements), ACTIONS_ELEMENTS, "elements per actions block", f"{pointer}/elements")
    _check_elements(elements, f"{pointer}/elements", single=False)


def _check_input(block: dict[str, Any], pointer: str) -> None:
    _check_text(block.get("label"), f"{pointer}/label", INPUT_LABEL, "input label", plain=True)
    if "hint" in block:
        _check_text(block["hint"], f"{pointer}/hint", INPUT_HINT, "input hint", plain=True)
    if "element" not in block:
        raise SlackLimitError("input element", pointer, "an input block needs an element")
    _check_elements([block["element"]], f"{pointer}/element", single=True)


def _check_elements(elements: list[dict[str, Any]], pointer: str, *, single: bool) -> None:
    seen: set[str] = set()
    for index, element in enumerate(elements):
        here = pointer if single else f"{pointer}/{index}"
        action_id = element.get("action_id")
        if action_id is not None:
            _at_most(slack_length(action_id), ACTION_ID, "action_id length", f"{here}/action_id")
            if action_id in seen:
                raise SlackLimitError(
                    "action_id unique within its block", f"{here}/action_id", f"action_id {action_id!r} is used twice"
                )
            seen.add(action_id)
        _check_element(element, here)


def _check_element(element: dict[str, Any], pointer: str) -> None:
    kind = element.get("type")
    if "placeholder" in element:
        _check_text(element["placeholder"], f"{pointer}/placeholder", PLACEHOLDER, "placeholder", plain=True)
    if kind == "button":
        _check_text(element.get("text"), f"{pointer}/text", BUTTON_TEXT, "button text", plain=True)
        _at_most(slack_length(element.get("value") or ""), BUTTON_VALUE, "button value length", f"{pointer}/value")
    elif kind in _OPTION_LIMITS:
        _check_option_source(element, pointer, _OPTION_LIMITS[kind])
    elif kind == "plain_text_input":
        _check_text_input(element, pointer)


def _check_option_source(element: dict[str, Any], pointer: str, limit: int) -> None:
    if "option_groups" in element:
        groups = element["option_groups"]
        _at_most(len(groups), limit, "option groups", f"{pointer}/option_groups")
        for index, group in enumerate(groups):
            here = f"{pointer}/option_groups/{index}"
            _check_text(group.get("label"), f"{here}/label", OPTION_GROUP_LABEL, "option group label", plain=True)
            _check_options(group.get("options") or [], f"{here}/options", limit)
        return
    _check_options(element.get("options") or [], f"{pointer}/options", limit)


def _check_options(options: list[dict[str, Any]], pointer: str, limit: int) -> None:
    if not options:
        raise SlackLimitError("options", pointer, "a choice element needs options")
    _at_most(len(options), limit, "options per element", pointer)
    for index, option in enumerate(options):
        _check_text(option.get("text"), f"{pointer}/{index}/text", OPTION_TEXT, "option text")
        _at_most(
            slack_length(option.get("value") or ""), OPTION_VALUE, "option value length", f"{pointer}/{index}/value"
        )


def _check_text_input(element: dict[str, Any], pointer: str) -> None:
    max_length = element.get("max_length")
    if max_length is not None and not 1 <= max_length <= TEXT_INPUT_LENGTH:
        raise SlackLimitError(
            f"plain_text_input max_length 1..{TEXT_INPUT_LENGTH}",
            f"{pointer}/max_length",
            f"max_length is {max_length}",
        )
    initial = element.get("initial_value")
    if initial is not None:
        _at_most(
            slack_length(initial), max_length or TEXT_INPUT_LENGTH, "initial_value length", f"{pointer}/initial_value"
        )


_BLOCK_CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
}
