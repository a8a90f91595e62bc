"""Whatever an app sends, the emulator answers as Slack does: an ``ok`` answer or Slack's error, never a crash.

Hypothesis builds Block Kit-shaped JSON from the field names and types the validator knows,
with values of every JSON type in every place (a block_id that is an object, options that
are a string, a type that is a list...), and sends it through the real slack_sdk client to
each family of methods.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slack_hitl.testing import SlackEmulator
from slack_hitl.testing.emulator import message_block_problems, view_problems

FIELDS = [
    "type",
    "text",
    "elements",
    "element",
    "options",
    "option_groups",
    "label",
    "value",
    "initial_option",
    "initial_options",
    "placeholder",
    "min_value",
    "max_value",
    "initial_date",
    "max_selected_items",
    "description",
    "fields",
    "accessory",
    "block_id",
    "action_id",
    "is_decimal_allowed",
    "max_length",
    "style",
    "title",
    "submit",
    "blocks",
]
TYPES = [
    "section",
    "actions",
    "context",
    "input",
    "header",
    "static_select",
    "multi_static_select",
    "checkboxes",
    "radio_buttons",
    "overflow",
    "number_input",
    "datepicker",
    "plain_text_input",
    "button",
    "plain_text",
    "mrkdwn",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 200),
    st.floats(allow_nan=False),
    st.sampled_from(["", "x", "2024-02-30", "9", "\U0001f44d" * 80, *TYPES]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.fixed_dictionaries(
            {"type": st.one_of(st.sampled_from(TYPES), inner)},
            optional={field: inner for field in FIELDS if field != "type"},
        ),
    ),
    max_leaves=25,
)
blocks = st.lists(json_values, max_size=4)
CHANNEL = "C0FUZZ"


@settings(max_examples=400, deadline=None)
@given(blocks)
def test_the_validator_words_a_problem_for_anything_it_is_given(given_blocks: list[Any]) -> None:
    problems = message_block_problems(given_blocks)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": given_blocks}

    assert all(isinstance(problem, str) and "[json-pointer:" in problem for problem in problems)
    assert all("[json-pointer:" in problem for problem in view_problems(view))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_blocks=blocks, text=st.one_of(st.none(), json_values))
def test_every_method_answers_odd_json_as_slack_would(
    slack_emulator: SlackEmulator, given_blocks: list[Any], text: Any
) -> None:
    client = WebClient(token="xoxb-test", base_url=slack_emulator.base_url)
    posted = slack_emulator.post_user_message(CHANNEL, "U0ASKER", "hello")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("chat.postMessage", {"channel": CHANNEL, "text": text, "blocks": given_blocks}),
        ("chat.update", {"channel": CHANNEL, "ts": posted, "text": text, "blocks": json.dumps(given_blocks)}),
        (
            "views.open",
            {"trigger_id": slack_emulator.issue_trigger_id("U0A"), "view": {"type": "modal", "blocks": given_blocks}},
        ),
        ("chat.startStream", {"channel": CHANNEL, "thread_ts": posted, "chunks": given_blocks, "markdown_text": text}),
        ("conversations.history", {"channel": CHANNEL, "oldest": text, "latest": text, "limit": text}),
    ]
    for method, params in calls:
        try:
            answer = client.api_call(method, json=params)
        except SlackApiError as error:
            answer = error.response
        assert answer.status_code == 200, (method, answer.data)
        assert isinstance(answer.data, dict) and isinstance(answer.data.get("ok"), bool)
