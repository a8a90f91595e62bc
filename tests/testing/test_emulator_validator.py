"""Slack's Block Kit rules in messages and modals: each limit refused with Slack's error and JSON
pointer, through the real slack_sdk client, and the shapes exactly at each limit accepted."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import SlackEmulator
from tests.testing.support import (
    CHANNEL,
    JSONDict,
    actions,
    api_error,
    button,
    context,
    grouped_select,
    header,
    input_block,
    modal,
    number_input,
    option,
    plain,
    section,
    static_select,
)

pytestmark = pytest.mark.anyio


def _many_buttons(count: int) -> list[JSONDict]:
    return [button(f"b{i}", f"a{i}") for i in range(count)]


MESSAGE_LIMITS = [
    pytest.param([section()] * 51, "no more than 50 items allowed [json-pointer:/blocks]", id="51-blocks"),
    pytest.param(
        [section(block_id="row"), section(block_id="row")],
        "duplicate block_id `row` [json-pointer:/blocks/1/block_id]",
        id="duplicate-block-id",
    ),
    pytest.param(
        [actions(button("A", "same"), button("B", "same"))],
        "duplicate action_id `same` [json-pointer:/blocks/0/elements/1/action_id]",
        id="duplicate-action-id",
    ),
    pytest.param(
        [section("x" * 3001)], "must be less than 3001 characters [json-pointer:/blocks/0/text/text]", id="section"
    ),
    pytest.param(
        [{"type": "section", "fields": [plain("f")] * 11}],
        "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        id="11-fields",
    ),
    pytest.param(
        [{"type": "section", "fields": [plain("f" * 2001)]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
        id="field-length",
    ),
    pytest.param(
        [header("h" * 151)], "must be less than 151 characters [json-pointer:/blocks/0/text/text]", id="header"
    ),
    pytest.param(
        [context(*["c"] * 11)], "no more than 10 items allowed [json-pointer:/blocks/0/elements]", id="context"
    ),
    pytest.param(
        [actions(*_many_buttons(26))],
        "no more than 25 items allowed [json-pointer:/blocks/0/elements]",
        id="26-actions",
    ),
    pytest.param(
        [actions(button("b" * 76))],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        id="button-text",
    ),
    pytest.param(
        [actions(button(value="v" * 2001))],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        id="button-value",
    ),
    pytest.param(
        [actions(button(action_id="a" * 256))],
        "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
        id="action-id",
    ),
    pytest.param(
        [section(block_id="b" * 256)],
        "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
        id="block-id",
    ),
    pytest.param(
        [actions(static_select([option(f"o{i}", f"v{i}") for i in range(101)]))],
        "no more than 100 items allowed [json-pointer:/blocks/0/elements/0/options]",
        id="101-options",
    ),
    pytest.param(
        [actions(static_select([option("o" * 76, "v")]))],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/options/0/text/text]",
        id="option-text",
    ),
    pytest.param(
        [actions(static_select([option("o", "v" * 151)]))],
        "must be less than 151 characters [json-pointer:/blocks/0/elements/0/options/0/value]",
        id="option-value",
    ),
    pytest.param(
        [input_block("in", "In", {"type": "plain_text_input", "action_id": "v", "max_length": 0})],
        "must be between 1 and 3000 [json-pointer:/blocks/0/element/max_length]",
        id="max-length-0",
    ),
    pytest.param(
        [input_block("in", "In", {"type": "plain_text_input", "action_id": "v", "max_length": 3001})],
        "must be between 1 and 3000 [json-pointer:/blocks/0/element/max_length]",
        id="max-length-3001",
    ),
    pytest.param(
        [{"type": "fancy"}], "unsupported block type `fancy` [json-pointer:/blocks/0/type]", id="unknown-type"
    ),
    pytest.param([section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]", id="empty"),
    # The limits an independent check against Slack's documentation found missing:
    pytest.param(
        [context("c" * 3001)],
        "must be less than 3001 characters [json-pointer:/blocks/0/elements/0/text]",
        id="context-text",
    ),
    pytest.param(
        [actions(static_select([{"text": {"type": "mrkdwn", "text": "*o*"}, "value": "v"}]))],
        "must be one of: plain_text [json-pointer:/blocks/0/elements/0/options/0/text/type]",
        id="mrkdwn-option-in-a-select",
    ),
    pytest.param(
        [actions(static_select([option("A", "same"), option("B", "same")]))],
        "duplicate option value `same` [json-pointer:/blocks/0/elements/0/options/1/value]",
        id="duplicate-option-value",
    ),
    pytest.param(
        [actions(static_select([{**option("o", "v"), "description": plain("d" * 76)}]))],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/options/0/description/text]",
        id="option-description",
    ),
    pytest.param(
        [actions(grouped_select([{"label": plain("l" * 76), "options": [option("o", "v")]}]))],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/option_groups/0/label/text]",
        id="option-group-label",
    ),
    pytest.param(
        [actions({**static_select([option("A", "a")]), "initial_option": option("B", "b")})],
        "must exactly match one of the options [json-pointer:/blocks/0/elements/0/initial_option]",
        id="initial-option-not-offered",
    ),
    pytest.param(
        [actions({**static_select([option("A", "a")]), "placeholder": plain("p" * 151)})],
        "must be less than 151 characters [json-pointer:/blocks/0/elements/0/placeholder/text]",
        id="placeholder",
    ),
    pytest.param(
        [actions({**static_select([option("A", "a")]), "option_groups": [{"label": plain("G"), "options": []}]})],
        "must provide either options or option_groups, not both [json-pointer:/blocks/0/elements/0]",
        id="options-and-option-groups",
    ),
    pytest.param(
        [input_block("n", "N", number_input(min_value="5", max_value="1"))],
        "must be less than or equal to max_value [json-pointer:/blocks/0/element/min_value]",
        id="number-min-over-max",
    ),
    pytest.param(
        [actions({"type": "datepicker", "action_id": "day", "initial_date": "2024-02-30"})],
        "must be a valid date [json-pointer:/blocks/0/elements/0/initial_date]",
        id="impossible-initial-date",
    ),
    pytest.param(
        [actions({**static_select([option("A", "a")]), "type": "multi_static_select", "max_selected_items": 0})],
        "must be at least 1 [json-pointer:/blocks/0/elements/0/max_selected_items]",
        id="max-selected-items-0",
    ),
]


@pytest.mark.parametrize(("blocks", "problem"), MESSAGE_LIMITS)
async def test_message_limits_give_invalid_blocks(
    client: AsyncWebClient, slack_emulator: SlackEmulator, blocks: list[JSONDict], problem: str
) -> None:
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks))

    assert error["error"] == "invalid_blocks"
    assert problem in error["errors"]
    assert f"[ERROR] {problem}" in error["response_metadata"]["messages"]
    assert slack_emulator.messages(CHANNEL) == []


async def test_update_enforces_the_same_block_limits(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1")

    error = await api_error(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2", blocks=[section()] * 51))

    assert error["error"] == "invalid_blocks"


async def test_blocks_exactly_at_the_limits_are_accepted(client: AsyncWebClient) -> None:
    at_limits = [
        header("h" * 150),
        section("s" * 3000, block_id="b" * 255),
        {"type": "section", "fields": [plain("f" * 700)] * 10},
        context(*["c"] * 10),
        actions(*[button("b" * 75, f"{i:03d}" + "a" * 252, value="v" * 2000) for i in range(25)]),
        *[{"type": "divider"}] * 45,
    ]
    selects = [actions(static_select([option("o" * 75, f"{i:03d}" + "v" * 147) for i in range(100)]))]
    text_input = [input_block("in", "In", {"type": "plain_text_input", "action_id": "v", "max_length": 3000})]

    for blocks in (at_limits, selects, text_input):
        assert (await client.chat_postMessage(channel=CHANNEL, text="ok", blocks=blocks))["ok"] is True


async def test_the_newly_enforced_limits_accept_what_slack_accepts(client: AsyncWebClient) -> None:
    described = [{**option(f"o{i}", f"v{i}"), "description": plain("d" * 75)} for i in range(3)]
    groups = [{"label": plain("l" * 75), "options": described[:2]}, {"label": plain("G"), "options": described[2:]}]
    choice_lists = [
        {"type": kind, "action_id": kind, "options": [{"text": {"type": "mrkdwn", "text": "*o*"}, "value": "v"}]}
        for kind in ("checkboxes", "radio_buttons")
    ]
    blocks = [
        context("c" * 3000),
        actions(
            {**grouped_select(groups), "placeholder": plain("p" * 150), "initial_option": described[2]},
            {**static_select(described, "multi"), "type": "multi_static_select", "max_selected_items": 1},
            {"type": "datepicker", "action_id": "day", "initial_date": "2024-02-29"},
            *choice_lists,
        ),
        input_block("n", "N", number_input(min_value="3", max_value="3", initial_value="3")),
    ]

    assert (await client.chat_postMessage(channel=CHANNEL, text="ok", blocks=blocks))["ok"] is True


async def test_lengths_count_utf16_units_so_an_emoji_counts_twice(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    thumb = "\U0001f44d"
    at_limits = [header(thumb * 75), actions(button(thumb * 37 + "a"))]
    over = [header(thumb * 75 + "h"), actions(button(thumb * 38))]

    assert (await client.chat_postMessage(channel=CHANNEL, text="ok", blocks=at_limits))["ok"] is True
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="t", blocks=over))
    assert error["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        "must be less than 76 characters [json-pointer:/blocks/1/elements/0/text/text]",
    ]

    posted = await client.chat_postMessage(channel=CHANNEL, text="a" + thumb * 20_000)  # 40,001 units
    assert slack_emulator.message(CHANNEL, posted["ts"]).text == "a" + thumb * 19_999  # no half emoji
    assert (await client.chat_update(channel=CHANNEL, ts=posted["ts"], text=thumb * 2000))["ok"] is True
    update = client.chat_update(channel=CHANNEL, ts=posted["ts"], text=thumb * 2000 + "a")
    assert (await api_error(update))["error"] == "msg_too_long"


MODAL_LIMITS = [
    pytest.param(
        modal([section()] * 101), "no more than 100 items allowed [json-pointer:/view/blocks]", id="101-blocks"
    ),
    pytest.param(
        modal([section()], title=plain("t" * 25)),
        "must be less than 25 characters [json-pointer:/view/title/text]",
        id="title",
    ),
    pytest.param(
        modal([section()], submit=plain("s" * 25)),
        "must be less than 25 characters [json-pointer:/view/submit/text]",
        id="submit",
    ),
    pytest.param(
        modal([section()], close=plain("c" * 25)),
        "must be less than 25 characters [json-pointer:/view/close/text]",
        id="close",
    ),
    pytest.param(
        modal([section()], private_metadata="m" * 3001),
        "must be less than 3001 characters [json-pointer:/view/private_metadata]",
        id="private-metadata",
    ),
    pytest.param(
        modal([section()], callback_id="c" * 256),
        "must be less than 256 characters [json-pointer:/view/callback_id]",
        id="callback-id",
    ),
    pytest.param(
        modal([section(block_id="x"), section(block_id="x")]),
        "duplicate block_id `x` [json-pointer:/view/blocks/1/block_id]",
        id="duplicate-block-id",
    ),
    pytest.param(
        modal([input_block("n", "N", number_input(min_value="2.5", max_value="-1"))]),
        "must be less than or equal to max_value [json-pointer:/view/blocks/0/element/min_value]",
        id="number-min-over-max",
    ),
    pytest.param(
        modal(
            [
                input_block(
                    "c",
                    "C",
                    {
                        "type": "checkboxes",
                        "action_id": "value",
                        "options": [option("A", "a")],
                        "initial_options": [option("A", "a"), option("A", "z")],
                    },
                )
            ]
        ),
        "must exactly match one of the options [json-pointer:/view/blocks/0/element/initial_options/1]",
        id="initial-options-not-offered",
    ),
    pytest.param(
        modal([input_block("t", "T", {"type": "plain_text_input", "action_id": "v", "placeholder": plain("p" * 151)})]),
        "must be less than 151 characters [json-pointer:/view/blocks/0/element/placeholder/text]",
        id="placeholder",
    ),
]


@pytest.mark.parametrize(("view", "problem"), MODAL_LIMITS)
async def test_modal_limits_give_invalid_arguments(
    client: AsyncWebClient, slack_emulator: SlackEmulator, view: JSONDict, problem: str
) -> None:
    trigger_id = slack_emulator.issue_trigger_id("U0ALICE")

    error = await api_error(client.views_open(trigger_id=trigger_id, view=view))

    assert error["error"] == "invalid_arguments"
    assert f"[ERROR] {problem}" in error["response_metadata"]["messages"]
    assert slack_emulator.open_view("U0ALICE") is None


async def test_a_modal_of_100_blocks_is_accepted(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    view = modal([section()] * 100, title=plain("t" * 24), private_metadata="m" * 3000, callback_id="c" * 255)

    response = await client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=view)

    assert response["ok"] is True


async def test_views_over_250_kb_are_too_large(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    view = modal([section("x" * 2900) for _ in range(90)])

    error = await api_error(client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=view))

    assert error["error"] == "view_too_large"
