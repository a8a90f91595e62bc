"""Slack's rules for Block Kit elements (buttons, menus, choice lists, inputs) and their options."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator

from slack_hitl.slack.documented_limits import (
    ACTION_ID,
    BUTTON_TEXT,
    BUTTON_URL,
    BUTTON_VALUE,
    CHOICE_LIST_OPTIONS,
    MAX_SELECTED_ITEMS_MIN,
    OPTION_DESCRIPTION,
    OPTION_GROUP_LABEL,
    OPTION_TEXT,
    OPTION_VALUE,
    OVERFLOW_OPTIONS,
    PLACEHOLDER,
    SELECT_OPTION_GROUPS,
    SELECT_OPTIONS,
    TEXT_INPUT_LENGTH,
)
from slack_hitl.testing.emulator.problems import PLAIN, Problems
from slack_hitl.testing.emulator.records import JSONDict

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
_MULTI_SELECTS = frozenset(t for t in ELEMENT_TYPES if t.startswith("multi_") and t.endswith("_select"))
_MENUS = frozenset({"static_select", "multi_static_select", "overflow"})
"""Elements whose options are menu items: their text and description are plain_text only."""
_OPTION_LIMITS: dict[str, int] = {
    "static_select": SELECT_OPTIONS,
    "multi_static_select": SELECT_OPTIONS,
    "overflow": OVERFLOW_OPTIONS,
    "checkboxes": CHOICE_LIST_OPTIONS,
    "radio_buttons": CHOICE_LIST_OPTIONS,
}
_GROUPED = frozenset({"static_select", "multi_static_select"})
"""Elements that may list their options in option_groups instead."""
_INITIAL_OPTIONS = {
    "static_select": "initial_option",
    "radio_buttons": "initial_option",
    "multi_static_select": "initial_options",
    "checkboxes": "initial_options",
}
_DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_element(problems: Problems, element: object, pointer: str) -> None:
    """The rules every element follows, then its type's own."""
    if not isinstance(element, dict):
        problems.add("must provide an object", pointer)
        return
    element_type = element.get("type")
    if not isinstance(element_type, str) or element_type not in ELEMENT_TYPES:
        problems.add(f"unsupported element type `{element_type}`", f"{pointer}/type")
        return
    problems.max_length(element.get("action_id"), ACTION_ID, f"{pointer}/action_id")
    if "placeholder" in element:
        problems.text_object(element["placeholder"], f"{pointer}/placeholder", limit=PLACEHOLDER, types=PLAIN)
    if element_type in _MULTI_SELECTS:
        _check_max_selected_items(problems, element, pointer)
    check = _ELEMENT_CHECKS.get(element_type)
    if check is not None:
        check(problems, element, pointer)


def _check_button(problems: Problems, element: JSONDict, pointer: str) -> None:
    problems.text_object(element.get("text"), f"{pointer}/text", limit=BUTTON_TEXT, types=PLAIN)
    problems.max_length(element.get("value"), BUTTON_VALUE, f"{pointer}/value")
    problems.max_length(element.get("url"), BUTTON_URL, f"{pointer}/url")
    if "style" in element and element["style"] not in ("primary", "danger"):
        problems.add("must be one of: primary, danger", f"{pointer}/style")


def _check_max_selected_items(problems: Problems, element: JSONDict, pointer: str) -> None:
    limit = element.get("max_selected_items")
    if limit is None:
        return
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < MAX_SELECTED_ITEMS_MIN:
        problems.add(f"must be at least {MAX_SELECTED_ITEMS_MIN}", f"{pointer}/max_selected_items")


def _check_plain_text_input(problems: Problems, element: JSONDict, pointer: str) -> None:
    max_length = element.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or not 1 <= max_length <= TEXT_INPUT_LENGTH):
        problems.add(f"must be between 1 and {TEXT_INPUT_LENGTH}", f"{pointer}/max_length")
    min_length = element.get("min_length")
    if min_length is not None and (not isinstance(min_length, int) or not 0 <= min_length <= TEXT_INPUT_LENGTH):
        problems.add(f"must be between 0 and {TEXT_INPUT_LENGTH}", f"{pointer}/min_length")


def _check_number_input(problems: Problems, element: JSONDict, pointer: str) -> None:
    if not isinstance(element.get("is_decimal_allowed"), bool):
        problems.add("missing required field: is_decimal_allowed", pointer)
    bounds = {name: _number(problems, element, name, pointer) for name in ("min_value", "max_value")}
    low, high = bounds["min_value"], bounds["max_value"]
    if low is not None and high is not None and low > high:
        problems.add("must be less than or equal to max_value", f"{pointer}/min_value")


def _number(problems: Problems, element: JSONDict, name: str, pointer: str) -> float | None:
    """The element's ``name`` (a number given as a string) as a float; None if absent or not a number."""
    value = element.get(name)
    if value is None:
        return None
    try:
        number = float(str(value))
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.add("must be a number", f"{pointer}/{name}")
        return None
    return number


def _check_datepicker(problems: Problems, element: JSONDict, pointer: str) -> None:
    initial = element.get("initial_date")
    if initial is None:
        return
    if not (isinstance(initial, str) and _DATE_FORMAT.match(initial)):
        problems.add("must match format YYYY-MM-DD", f"{pointer}/initial_date")
        return
    try:
        dt.date.fromisoformat(initial)
    except ValueError:
        problems.add("must be a valid date", f"{pointer}/initial_date")


# -- options ------------------------------------------------------------------------------------


def _check_option_source(problems: Problems, element: JSONDict, pointer: str) -> None:
    """A choice element's options (or a menu's option groups), their values unique, its initial options among them."""
    element_type = element["type"]
    limit = _OPTION_LIMITS[element_type]
    has_options, has_groups = "options" in element, "option_groups" in element
    if has_groups and element_type not in _GROUPED:
        problems.add("option_groups is not allowed here; use options", f"{pointer}/option_groups")
        return
    if has_options and has_groups:
        problems.add("must provide either options or option_groups, not both", pointer)
        return
    if not has_options and not has_groups:
        problems.add("must provide either options or option_groups", pointer)
        return
    types = PLAIN if element_type in _MENUS else ("plain_text", "mrkdwn")
    if has_groups:
        groups = element["option_groups"]
        if not isinstance(groups, list):
            problems.add("must provide an array", f"{pointer}/option_groups")
            return
        problems.max_items(groups, SELECT_OPTION_GROUPS, f"{pointer}/option_groups")
        for index, group in enumerate(groups):
            _check_option_group(problems, group, limit, types, f"{pointer}/option_groups/{index}")
    else:
        _check_options(problems, element["options"], limit, types, f"{pointer}/options")
    offered = list(_offered_options(element, pointer))
    _check_unique_values(problems, offered)
    _check_initial_options(problems, element, [option for option, _ in offered], pointer)


def _check_option_group(problems: Problems, group: object, limit: int, types: tuple[str, ...], pointer: str) -> None:
    if not isinstance(group, dict):
        problems.add("must provide an object", pointer)
        return
    problems.text_object(group.get("label"), f"{pointer}/label", limit=OPTION_GROUP_LABEL, types=PLAIN)
    _check_options(problems, group.get("options"), limit, types, f"{pointer}/options")


def _check_options(problems: Problems, options: object, limit: int, types: tuple[str, ...], pointer: str) -> None:
    if not isinstance(options, list):
        problems.add("must provide an array", pointer)
        return
    problems.max_items(options, limit, pointer)
    for index, option in enumerate(options):
        option_pointer = f"{pointer}/{index}"
        if not isinstance(option, dict):
            problems.add("must provide an object", option_pointer)
            continue
        problems.text_object(option.get("text"), f"{option_pointer}/text", limit=OPTION_TEXT, types=types)
        problems.max_length(option.get("value"), OPTION_VALUE, f"{option_pointer}/value")
        if "description" in option:
            description = option["description"]
            problems.text_object(description, f"{option_pointer}/description", limit=OPTION_DESCRIPTION, types=types)


def _offered_options(element: JSONDict, pointer: str) -> Iterator[tuple[JSONDict, str]]:
    """Every well-formed option the element offers, with its JSON pointer."""
    if "option_groups" in element:
        lists = [
            (group.get("options"), f"{pointer}/option_groups/{index}/options")
            for index, group in enumerate(element["option_groups"])
            if isinstance(group, dict)
        ]
    else:
        lists = [(element.get("options"), f"{pointer}/options")]
    for options, options_pointer in lists:
        for index, option in enumerate(options if isinstance(options, list) else []):
            if isinstance(option, dict):
                yield option, f"{options_pointer}/{index}"


def _check_unique_values(problems: Problems, offered: list[tuple[JSONDict, str]]) -> None:
    seen: set[object] = set()
    for option, option_pointer in offered:
        value = option.get("value")
        if not isinstance(value, str):
            continue
        if value in seen:
            problems.add(f"duplicate option value `{value}`", f"{option_pointer}/value")
        seen.add(value)


def _check_initial_options(problems: Problems, element: JSONDict, offered: list[JSONDict], pointer: str) -> None:
    name = _INITIAL_OPTIONS.get(element["type"])
    if name is None or element.get(name) is None:
        return
    initial = element[name]
    many = name == "initial_options"
    if many and not isinstance(initial, list):
        problems.add("must provide an array", f"{pointer}/{name}")
        return
    chosen = list(enumerate(initial)) if many else [(None, initial)]
    shown = [_option_key(option) for option in offered]
    for index, option in chosen:
        if _option_key(option) not in shown:
            where = f"{pointer}/{name}" if index is None else f"{pointer}/{name}/{index}"
            problems.add("must exactly match one of the options", where)


def _option_key(option: object) -> tuple[object, ...]:
    """What an initial option must share with the option it names: its value, text and description."""
    if not isinstance(option, dict):
        return (option,)
    return option.get("value"), _text_key(option.get("text")), _text_key(option.get("description"))


def _text_key(text: object) -> tuple[object, object]:
    return (text.get("type"), text.get("text")) if isinstance(text, dict) else (None, None)


_ELEMENT_CHECKS: dict[str, Callable[[Problems, JSONDict, str], None]] = {
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
