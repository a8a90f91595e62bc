"""Lengths as Slack counts them: UTF-16 code units, so an emoji outside the BMP counts twice.

What it proves: ``slack_length`` and ``slack_prefix`` count and cut in UTF-16 units without
splitting a character; the product's cutting helpers keep to a budget in those units; and an
approval whose title is 150 emoji and whose choices are 75-emoji labels still renders into
messages and modals the emulator (which counts the same way) accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from slack_hitl.requirements import Choice, Confirmation, InputField, Question, Requirement
from slack_hitl.slack.documented_limits import (
    BUTTON_TEXT,
    HEADER_TEXT,
    OPTION_TEXT,
    VIEW_BUTTON,
    slack_length,
    slack_prefix,
)
from slack_hitl.slack.limits import validate_message, validate_view
from slack_hitl.slack.markdown import cut, cut_mrkdwn, escape_cut, plain_line
from slack_hitl.slack.modals import build_modal
from slack_hitl.slack.render import render_approval
from slack_hitl.testing import SlackEmulator
from tests.slack.test_render import NOW, buttons, confirmation, make_approval

THUMB = "\U0001f44d"  # 👍, outside the Basic Multilingual Plane: two UTF-16 units
ROCKET = "\U0001f680"  # 🚀
CHANNEL = "C0LENGTHS"


@pytest.mark.parametrize(
    ("text", "units"),
    [("", 0), ("abc", 3), ("ü€", 2), (THUMB, 2), ("a" + THUMB * 3, 7), ("👩\u200d👩\u200d👧", 8), ("\U0001d54f", 2)],
)
def test_slack_length_counts_utf16_units(text: str, units: int) -> None:
    assert slack_length(text) == units


def test_slack_prefix_keeps_characters_whole() -> None:
    assert slack_prefix(THUMB * 2, 3) == THUMB
    assert slack_prefix("a" + THUMB, 2) == "a"
    assert slack_prefix("a" + THUMB, 3) == "a" + THUMB
    assert slack_prefix("abcdef", 4) == "abcd"
    assert slack_prefix(THUMB, 0) == slack_prefix("abc", -1) == ""
    assert slack_prefix("ü" * 10, 5) == "ü" * 5


def test_cutting_keeps_to_a_budget_in_utf16_units() -> None:
    assert cut(THUMB * 100, 75) == THUMB * 37 + "…"
    assert slack_length(cut(THUMB * 100, 75)) == 75
    assert cut(THUMB * 37 + "a", 75) == THUMB * 37 + "a"  # exactly 75 units: kept whole
    assert cut("ab" + THUMB * 10, 3, "") == "ab"  # the emoji that would not fit whole is left out
    assert slack_length(cut_mrkdwn("&lt;" + THUMB * 100, 50)) <= 50
    assert slack_length(escape_cut("<" + THUMB * 100, 50)) <= 50
    assert slack_length(plain_line(ROCKET * 200, HEADER_TEXT)) <= HEADER_TEXT


# -- the product, through the emulator ---------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as running:
        yield running


def _emoji_heavy_requirements() -> list[Requirement]:
    choices = (
        Choice(value="yes", label=THUMB * 75),
        Choice(value="no", label="\U0001f44e" * 75, rejects=True),
    )
    return [
        confirmation(
            "ship",
            title=ROCKET * 400,
            description=THUMB * 4000,
            arguments={ROCKET * 120: THUMB * 900},
            confirmation=Confirmation(choices=choices, reason="required_on_reject"),
        ),
        Requirement(
            id="pick",
            kind="user_input",
            title=ROCKET * 150,
            fields=(
                InputField(name="env", label=ROCKET * 1200, type="single_choice", choices=(THUMB * 75, ROCKET * 75)),
                InputField(name="tags", type="multiple_choice", choices=tuple(f"{n}{THUMB * 75}" for n in range(12))),
                InputField(name="note", description=THUMB * 2500, default=THUMB * 40, max_length=50),
            ),
        ),
        Requirement(
            id="ask",
            kind="user_feedback",
            title=THUMB,
            questions=(Question(name="q", question=THUMB * 2500, options=(ROCKET * 75, THUMB * 75)),),
        ),
    ]


def test_a_150_emoji_title_and_75_emoji_labels_render_what_slack_accepts(emulator: SlackEmulator) -> None:
    client = WebClient(token="xoxb-test", base_url=emulator.base_url)
    approval = make_approval(*_emoji_heavy_requirements(), title=ROCKET * 150)

    parts = render_approval(approval, now=NOW)

    header = parts[0].blocks[0]["text"]["text"]
    assert header.startswith(ROCKET) and slack_length(header) <= HEADER_TEXT
    labels = [button["text"]["text"] for part in parts for button in buttons(part.blocks)]
    assert THUMB * 37 + "…" in labels
    assert all(slack_length(label) <= BUTTON_TEXT for label in labels)
    for part in parts:
        validate_message(part.blocks, part.text)
        assert client.chat_postMessage(channel=CHANNEL, text=part.text, blocks=part.blocks)["ok"] is True


@pytest.mark.parametrize(("position", "choice"), [(0, None), (0, "yes"), (0, "no"), (1, None), (2, None)])
def test_modals_of_emoji_heavy_rows_are_what_slack_accepts(
    emulator: SlackEmulator, position: int, choice: str | None
) -> None:
    client = WebClient(token="xoxb-test", base_url=emulator.base_url)
    approval = make_approval(*_emoji_heavy_requirements(), title=ROCKET * 150)

    view = build_modal(approval, approval.rows[position], choice=choice, channel=CHANNEL, message_ts="1.000100")

    validate_view(view)
    assert slack_length(view["submit"]["text"]) <= VIEW_BUTTON
    assert all(slack_length(text) <= OPTION_TEXT for text in _option_texts(view))
    answer = client.views_open(trigger_id=emulator.issue_trigger_id("U0ALICE"), view=view)
    assert answer["ok"] is True


def _option_texts(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _option_texts(item)
    elif isinstance(value, dict):
        if "value" in value and isinstance(value.get("text"), dict):
            yield value["text"]["text"]
        for item in value.values():
            yield from _option_texts(item)
