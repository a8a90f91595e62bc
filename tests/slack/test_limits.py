"""The last check before every post, update and modal open.

What it proves: each Slack limit that slack_sdk does not enforce (and the per-element ones
our renderer relies on) is caught with an error that names the limit and the JSON pointer of
the offending part, and a message or modal within every limit passes untouched.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from slack_hitl.slack.documented_limits import blocks_text_length
from slack_hitl.slack.limits import SlackLimitError, validate_message, validate_view


def section(text: str = "hello", block_id: str | None = None, **extra: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def button(text: str = "Go", action: str = "slack_hitl:choose:0", value: str = "{}") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action, "value": value}


def options(count: int, text: str = "option") -> list[dict[str, Any]]:
    return [{"text": {"type": "plain_text", "text": text}, "value": str(i)} for i in range(count)]


def input_block(element: dict[str, Any], block_id: str = "f:x", label: str = "Label") -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": {"action_id": "slack_hitl:value", **element},
    }


def modal(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    view = {
        "type": "modal",
        "callback_id": "slack_hitl:decide",
        "title": {"type": "plain_text", "text": "Decide"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": "{}",
        "blocks": list(blocks) or [section()],
    }
    view.update(extra)
    return view


def test_a_message_within_every_limit_passes_unchanged() -> None:
    blocks = [
        {"type": "header", "block_id": "h", "text": {"type": "plain_text", "text": "H" * 150}},
        {"type": "context", "block_id": "c", "elements": [{"type": "mrkdwn", "text": "x"}] * 10},
        section("s" * 3000, "s", fields=[{"type": "mrkdwn", "text": "f" * 1000}] * 5),
        {"type": "actions", "block_id": "a", "elements": [button(action=f"slack_hitl:choose:{i}") for i in range(25)]},
        *[{"type": "divider", "block_id": f"d{i}"} for i in range(46)],
    ]
    before = copy.deepcopy(blocks)
    validate_message(blocks, "t" * 4000)
    assert blocks == before


@pytest.mark.parametrize(
    ("blocks", "text", "limit", "pointer"),
    [
        ([{"type": "divider"}] * 51, "t", "blocks per message <= 50", "/blocks"),
        ([section()], "t" * 4001, "fallback text length <= 4000", "/text"),
        ([section()], "", "fallback text", "/text"),
        ([section(block_id="x"), section(block_id="x")], "t", "unique block_id", "/blocks/1/block_id"),
        ([section(block_id="b" * 256)], "t", "block_id length <= 255", "/blocks/0/block_id"),
        ([section("s" * 3001)], "t", "section text length <= 3000", "/blocks/0/text/text"),
        ([section("")], "t", "section text", "/blocks/0/text/text"),
        (
            [section(fields=[{"type": "mrkdwn", "text": "f"}] * 11)],
            "t",
            "fields per section <= 10",
            "/blocks/0/fields",
        ),
        (
            [section(fields=[{"type": "mrkdwn", "text": "ok"}, {"type": "mrkdwn", "text": "f" * 2001}])],
            "t",
            "section field length <= 2000",
            "/blocks/0/fields/1/text",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "H" * 151}}],
            "t",
            "header text length <= 150",
            "/blocks/0/text/text",
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]}],
            "t",
            "context text length <= 3000",
            "/blocks/0/elements/0/text",
        ),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "H"}}],
            "t",
            "header text",
            "/blocks/0/text/type",
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}],
            "t",
            "elements per context block <= 10",
            "/blocks/0/elements",
        ),
        (
            [{"type": "actions", "elements": [button(action=f"a{i}") for i in range(26)]}],
            "t",
            "elements per actions block <= 25",
            "/blocks/0/elements",
        ),
        (
            [{"type": "actions", "elements": [button(), button()]}],
            "t",
            "action_id unique within its block",
            "/blocks/0/elements/1/action_id",
        ),
        (
            [{"type": "actions", "elements": [button(action="a" * 256)]}],
            "t",
            "action_id length <= 255",
            "/blocks/0/elements/0/action_id",
        ),
        (
            [{"type": "actions", "elements": [button(text="B" * 76)]}],
            "t",
            "button text length <= 75",
            "/blocks/0/elements/0/text/text",
        ),
        (
            [{"type": "actions", "elements": [button(value="v" * 2001)]}],
            "t",
            "button value length <= 2000",
            "/blocks/0/elements/0/value",
        ),
        (
            [section(accessory=button(text="B" * 76))],
            "t",
            "button text length <= 75",
            "/blocks/0/accessory/text/text",
        ),
        (
            [section("s" * 2500, f"b{i}") for i in range(5)],
            "t",
            "total text in a message's blocks <= 12000",
            "/blocks",
        ),
        # Lengths are UTF-16 units, as Slack counts: an emoji outside the BMP counts twice.
        (
            [section(accessory=button(text="\U0001f44d" * 38))],
            "t",
            "button text length <= 75",
            "/blocks/0/accessory/text/text",
        ),
        ([section("s")], "\U0001f44d" * 2000 + "t", "fallback text length <= 4000", "/text"),
    ],
)
def test_each_message_limit_is_named_with_its_json_pointer(
    blocks: list[dict[str, Any]], text: str, limit: str, pointer: str
) -> None:
    with pytest.raises(SlackLimitError) as caught:
        validate_message(blocks, text)
    assert caught.value.limit == limit
    assert caught.value.pointer == pointer
    assert pointer in str(caught.value)


def test_the_same_action_id_in_two_blocks_is_fine() -> None:
    blocks = [{"type": "actions", "block_id": f"a{i}", "elements": [button()]} for i in range(2)]
    validate_message(blocks, "t")


def test_total_text_counts_every_text_string_in_the_blocks() -> None:
    blocks = [
        section("abc", fields=[{"type": "mrkdwn", "text": "de"}]),
        {"type": "actions", "elements": [button("fg")]},
    ]
    assert blocks_text_length(blocks) == 3 + 2 + 2
    assert blocks_text_length([section("\U0001f44d" * 3)]) == 6


def test_a_modal_within_every_limit_passes() -> None:
    view = modal(
        section(block_id="intro"),
        input_block({"type": "plain_text_input", "max_length": 3000, "initial_value": "x" * 3000}),
        input_block({"type": "radio_buttons", "options": options(10)}, block_id="choice"),
        input_block({"type": "static_select", "options": options(100, "o" * 75)}, block_id="f:s"),
        *[{"type": "divider", "block_id": f"d{i}"} for i in range(96)],
        title={"type": "plain_text", "text": "T" * 24},
        private_metadata="m" * 3000,
    )
    validate_view(view)


def _grouped_select(groups: int) -> dict[str, Any]:
    return {"type": "static_select", "option_groups": [{"label": {}, "options": options(100)}] * groups}


@pytest.mark.parametrize(
    ("view", "limit", "pointer"),
    [
        (modal(*[{"type": "divider"}] * 101), "blocks per modal <= 100", "/view/blocks"),
        (modal(title={"type": "plain_text", "text": "T" * 25}), "modal title length <= 24", "/view/title/text"),
        (
            modal(submit={"type": "plain_text", "text": "S" * 25}),
            "modal submit label length <= 24",
            "/view/submit/text",
        ),
        (modal(close={"type": "plain_text", "text": "C" * 25}), "modal close label length <= 24", "/view/close/text"),
        (modal(private_metadata="m" * 3001), "private_metadata length <= 3000", "/view/private_metadata"),
        (modal(callback_id="c" * 256), "callback_id length <= 255", "/view/callback_id"),
        (modal(type="home"), "view type", "/view/type"),
        (modal(blocks=[]), "blocks per modal", "/view/blocks"),
        (modal(section(block_id="x"), section(block_id="x")), "unique block_id", "/view/blocks/1/block_id"),
        (
            modal(input_block({"type": "plain_text_input"}), submit=None),
            "modal submit",
            "/view/submit",
        ),
        (
            modal(input_block({"type": "plain_text_input"}, label="L" * 2001)),
            "input label length <= 2000",
            "/view/blocks/0/label/text",
        ),
        (
            modal(input_block({"type": "plain_text_input", "max_length": 3001})),
            "plain_text_input max_length 1..3000",
            "/view/blocks/0/element/max_length",
        ),
        (
            modal(input_block({"type": "plain_text_input", "max_length": 5, "initial_value": "toolong"})),
            "initial_value length <= 5",
            "/view/blocks/0/element/initial_value",
        ),
        (
            modal(input_block({"type": "radio_buttons", "options": options(11)})),
            "options per element <= 10",
            "/view/blocks/0/element/options",
        ),
        (
            modal(input_block({"type": "checkboxes", "options": options(11)})),
            "options per element <= 10",
            "/view/blocks/0/element/options",
        ),
        (
            modal(input_block({"type": "static_select", "options": options(101)})),
            "options per element <= 100",
            "/view/blocks/0/element/options",
        ),
        (
            modal(input_block(_grouped_select(101))),
            "option groups <= 100",
            "/view/blocks/0/element/option_groups",
        ),
        (
            modal(
                input_block(
                    {
                        "type": "static_select",
                        "option_groups": [{"label": {"type": "plain_text", "text": "g" * 76}, "options": options(2)}],
                    }
                )
            ),
            "option group label length <= 75",
            "/view/blocks/0/element/option_groups/0/label/text",
        ),
        (
            modal(input_block({"type": "static_select", "options": options(2, "o" * 76)})),
            "option text length <= 75",
            "/view/blocks/0/element/options/0/text/text",
        ),
        (
            modal(
                input_block(
                    {
                        "type": "static_select",
                        "options": [{"text": {"type": "plain_text", "text": "o"}, "value": "v" * 151}],
                    }
                )
            ),
            "option value length <= 150",
            "/view/blocks/0/element/options/0/value",
        ),
        (
            modal(input_block({"type": "static_select", "options": []})),
            "options",
            "/view/blocks/0/element/options",
        ),
        (
            modal(*[input_block({"type": "plain_text_input"}, block_id=f"f{i}", label="ü" * 2000) for i in range(30)]),
            "view size in bytes <= 250000",
            "/view",
        ),
    ],
)
def test_each_modal_limit_is_named_with_its_json_pointer(view: dict[str, Any], limit: str, pointer: str) -> None:
    with pytest.raises(SlackLimitError) as caught:
        validate_view(view)
    assert caught.value.limit == limit
    assert caught.value.pointer == pointer
