"""The Slack emulator and test user, driven by the real slack_sdk clients and a real HTTP app."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import (
    STREAMING_DISABLED_ERROR,
    AckDeadlineExceededError,
    AmbiguousElementError,
    BackgroundServer,
    ClientValidationError,
    ElementNotFoundError,
    InvalidViewAckError,
    SlackEmulator,
    SlackTestUser,
)
from slack_hitl.testing.pytest_plugin import SlackUserFactory

pytestmark = pytest.mark.anyio

JSONDict = dict[str, Any]
CHANNEL = "C0APPROVALS"
SIGNING_SECRET = "test-signing-secret"


# --------------------------------------------------------------------------- Block Kit builders


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


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def client(slack_emulator: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack_emulator.base_url)


@pytest.fixture
def sync_client(slack_emulator: SlackEmulator) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack_emulator.base_url)


Ack = Callable[[JSONDict], Response]


@dataclass
class InteractionRecorder:
    """What the tiny app under test received, and how it answers."""

    payloads: list[JSONDict] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    rejected: int = 0
    ack: Ack = lambda payload: Response(status_code=200)
    on_payload: Callable[[JSONDict], Awaitable[None]] | None = None


def build_interactions_app(recorder: InteractionRecorder) -> FastAPI:
    app = FastAPI()
    verifier = SignatureVerifier(SIGNING_SECRET)

    @app.post("/slack/interactions")
    async def interactions(request: Request) -> Response:
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            recorder.rejected += 1
            return Response(status_code=401)
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        recorder.payloads.append(payload)
        recorder.headers.append(dict(request.headers))
        if recorder.on_payload is not None:
            await recorder.on_payload(payload)
        return recorder.ack(payload)

    return app


@pytest.fixture
def recorder() -> InteractionRecorder:
    return InteractionRecorder()


@pytest.fixture
def interactions_url(recorder: InteractionRecorder) -> Iterator[str]:
    with BackgroundServer(build_interactions_app(recorder)) as server:
        yield f"{server.url}/slack/interactions"


@pytest.fixture
def alice(slack_user_factory: SlackUserFactory, interactions_url: str) -> SlackTestUser:
    return slack_user_factory(interactions_url, SIGNING_SECRET, user_id="U0ALICE", user_name="alice")


async def api_error(call: Awaitable[Any]) -> JSONDict:
    with pytest.raises(SlackApiError) as raised:
        await call
    return dict(raised.value.response.data)


# --------------------------------------------------------------------------- basics


async def test_auth_test_answers_like_slack(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    response = await client.auth_test()

    assert response["ok"] is True
    assert response["team_id"] == slack_emulator.team_id
    assert response["user_id"] == slack_emulator.bot_user_id
    assert response["bot_id"] == slack_emulator.bot_id


async def test_tokens_other_than_bot_tokens_are_refused(slack_emulator: SlackEmulator) -> None:
    user_token = AsyncWebClient(token="xoxp-user", base_url=slack_emulator.base_url)
    no_token = AsyncWebClient(base_url=slack_emulator.base_url)

    assert (await api_error(user_token.auth_test()))["error"] == "invalid_auth"
    assert (await api_error(no_token.auth_test()))["error"] == "not_authed"


def test_sync_client_posts_and_reads_back(sync_client: WebClient, slack_emulator: SlackEmulator) -> None:
    posted = sync_client.chat_postMessage(channel=CHANNEL, text="hello", blocks=[section("hello")])

    assert posted["ok"] is True
    assert posted["channel"] == CHANNEL
    assert posted["message"]["bot_id"] == slack_emulator.bot_id
    assert posted["message"]["blocks"][0]["text"]["text"] == "hello"
    history = sync_client.conversations_history(channel=CHANNEL)
    assert [m["ts"] for m in history["messages"]] == [posted["ts"]]


async def test_message_ts_increase_and_look_like_slack(client: AsyncWebClient) -> None:
    stamps = [(await client.chat_postMessage(channel=CHANNEL, text=f"m{i}"))["ts"] for i in range(3)]

    assert stamps[0] == "1700000000.000100"
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 3


async def test_form_and_json_posts_store_the_same_message(
    client: AsyncWebClient, sync_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    blocks = [section("same", block_id="b1")]
    form = {"channel": CHANNEL, "text": "same", "blocks": json.dumps(blocks)}
    stamps = [
        (await client.chat_postMessage(channel=CHANNEL, text="same", blocks=blocks))["ts"],
        (await client.api_call("chat.postMessage", params=form))["ts"],
        sync_client.api_call("chat.postMessage", params=form)["ts"],  # a form-encoded body
    ]

    stored = [slack_emulator.message(CHANNEL, ts) for ts in stamps]
    assert {(m.text, json.dumps(m.blocks)) for m in stored} == {("same", json.dumps(stored[0].blocks))}
    assert [c.params["blocks"] for c in slack_emulator.calls_to("chat.postMessage")] == [blocks] * 3


async def test_missing_block_and_action_ids_are_filled_in_like_slack(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    row = {"type": "actions", "elements": [{"type": "button", "text": plain("Go")}]}
    posted = await client.chat_postMessage(channel=CHANNEL, text="ids", blocks=[row, row])

    stored = slack_emulator.message(CHANNEL, posted["ts"]).blocks
    assert stored[0]["block_id"] and stored[0]["block_id"] != stored[1]["block_id"]
    assert stored[0]["elements"][0]["action_id"]


async def test_channel_names_resolve_to_ids(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.add_channel(CHANNEL, "approvals")

    posted = await client.chat_postMessage(channel="#approvals", text="by name")

    assert posted["channel"] == CHANNEL
    assert (await api_error(client.chat_postMessage(channel="#nowhere", text="x")))["error"] == "channel_not_found"


async def test_update_replaces_text_and_blocks_and_counts_edits(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1", blocks=[section("v1", block_id="a")])

    updated = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2", blocks=[section("v2")])

    message = slack_emulator.message(CHANNEL, posted["ts"])
    assert updated["message"]["text"] == "v2"
    assert (message.text, message.blocks[0]["text"]["text"], message.edited_count) == ("v2", "v2", 1)


async def test_update_of_unknown_message_fails(client: AsyncWebClient) -> None:
    error = await api_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))

    assert error["error"] == "message_not_found"


async def test_delete_removes_the_message(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="bye")

    await client.chat_delete(channel=CHANNEL, ts=posted["ts"])

    assert slack_emulator.messages(CHANNEL) == []
    with pytest.raises(KeyError):
        slack_emulator.message(CHANNEL, posted["ts"])


async def test_ephemeral_messages_are_kept_per_user(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.add_user("U0ALICE", "alice")

    response = await client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="only you")

    [ephemeral] = slack_emulator.ephemerals("U0ALICE")
    assert (ephemeral.text, ephemeral.message_ts) == ("only you", response["message_ts"])
    assert slack_emulator.ephemerals("U0BOB") == []
    assert slack_emulator.messages(CHANNEL) == []


async def test_users_info_knows_registered_users(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.add_user("U0ALICE", "alice", real_name="Alice Liddell")

    response = await client.users_info(user="U0ALICE")

    assert response["user"]["real_name"] == "Alice Liddell"
    assert (await api_error(client.users_info(user="U0NOBODY")))["error"] == "user_not_found"


async def test_usergroups_users_list_answers_members_like_slack(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.add_user_group("S0OPS", "ops", ["U0ALICE", "U0BOB"])

    response = await client.usergroups_users_list(usergroup="S0OPS")

    assert response.data == {"ok": True, "users": ["U0ALICE", "U0BOB"]}
    assert (await api_error(client.usergroups_users_list(usergroup="S0NOPE")))["error"] == "no_such_subteam"
    slack_emulator.add_user_group("S0OPS", "ops", ["U0CAROL"])
    assert (await client.usergroups_users_list(usergroup="S0OPS"))["users"] == ["U0CAROL"]


def test_user_groups_need_slack_shaped_ids_and_members(sync_client: WebClient, slack_emulator: SlackEmulator) -> None:
    with pytest.raises(ValueError, match="start with 'S'"):
        slack_emulator.add_user_group("G0OPS", "ops", ["U0ALICE"])
    with pytest.raises(ValueError, match="not the string"):
        slack_emulator.add_user_group("S0OPS", "ops", "U0ALICE")
    with pytest.raises(ValueError, match="non-empty strings"):
        slack_emulator.add_user_group("S0OPS", "ops", [""])
    with pytest.raises(SlackApiError) as refused:
        sync_client.usergroups_users_list(usergroup="S0OPS")
    assert refused.value.response["error"] == "no_such_subteam"  # nothing was defined


def test_threads_and_history_page_like_slack(sync_client: WebClient, slack_emulator: SlackEmulator) -> None:
    root = sync_client.chat_postMessage(channel=CHANNEL, text="root")["ts"]
    replies = [sync_client.chat_postMessage(channel=CHANNEL, text=f"r{i}", thread_ts=root)["ts"] for i in range(3)]

    first = sync_client.conversations_replies(channel=CHANNEL, ts=root, limit=2)
    rest = sync_client.conversations_replies(channel=CHANNEL, ts=root, cursor=first["response_metadata"]["next_cursor"])

    assert [m["ts"] for m in first["messages"]] + [m["ts"] for m in rest["messages"]] == [root, *replies]
    assert first["has_more"] is True and rest["has_more"] is False
    assert first["messages"][0]["reply_count"] == 3
    assert [m.text for m in slack_emulator.thread(CHANNEL, root)] == ["r0", "r1", "r2"]
    assert [m["text"] for m in sync_client.conversations_history(channel=CHANNEL)["messages"]] == ["root"]


async def test_replies_to_unknown_threads_fail(client: AsyncWebClient) -> None:
    assert (await api_error(client.conversations_replies(channel=CHANNEL, ts="1.000001")))["error"] == (
        "thread_not_found"
    )
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1.000001"))
    assert error["error"] == "invalid_thread_ts"


async def test_every_call_is_recorded(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    await client.auth_test()
    await api_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))

    assert [c.method for c in slack_emulator.calls] == ["auth.test", "chat.update"]
    [update] = slack_emulator.calls_to("chat.update")
    assert update.params == {"channel": CHANNEL, "ts": "1.000001", "text": "x"}
    assert update.response == {"ok": False, "error": "message_not_found"}
    assert update.ok is False and update.status_code == 200


def test_state_is_safe_across_threads(slack_emulator: SlackEmulator) -> None:
    def post_ten(worker: int) -> list[str]:
        client = WebClient(token="xoxb-test", base_url=slack_emulator.base_url)
        return [client.chat_postMessage(channel=CHANNEL, text=f"{worker}-{i}")["ts"] for i in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        stamps = [ts for batch in pool.map(post_ten, range(8)) for ts in batch]

    assert len(set(stamps)) == 80
    assert len(slack_emulator.messages(CHANNEL)) == 80


# --------------------------------------------------------------------------- Block Kit limits


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


@pytest.mark.parametrize("blocks", ["not json", json.dumps({"type": "section"}), json.dumps(["section"])])
async def test_blocks_that_are_not_a_json_list_of_objects_are_refused(client: AsyncWebClient, blocks: str) -> None:
    params = {"channel": CHANNEL, "text": "t", "blocks": blocks}

    assert (await api_error(client.api_call("chat.postMessage", params=params)))["error"] == "invalid_blocks_format"


async def test_an_update_with_text_over_4000_characters_is_too_long(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="x" * 4000)
    assert (await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="y" * 4000))["ok"] is True

    update = client.chat_update(channel=CHANNEL, ts=posted["ts"], text="z" * 4001)

    assert (await api_error(update))["error"] == "msg_too_long"
    assert slack_emulator.message(CHANNEL, posted["ts"]).text == "y" * 4000


async def test_a_post_keeps_up_to_40000_characters_of_text(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    # Slack posts a long text (it asks to stay under 4,000) and cuts it only past 40,000.
    posted = await client.chat_postMessage(channel=CHANNEL, text="x" * 40_000)

    assert "response_metadata" not in posted.data
    assert slack_emulator.message(CHANNEL, posted["ts"]).text == "x" * 40_000


async def test_a_post_with_text_over_40000_characters_is_cut_with_a_warning(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.add_user("U0ALICE", "alice")

    posted = await client.chat_postMessage(channel=CHANNEL, text="a" * 39_999 + "bc")
    ephemeral = await client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="e" * 40_001)

    assert slack_emulator.message(CHANNEL, posted["ts"]).text == "a" * 39_999 + "b"
    assert slack_emulator.ephemerals("U0ALICE")[0].text == "e" * 40_000
    for response in (posted, ephemeral):
        assert response["ok"] is True
        assert response["response_metadata"]["warnings"] == ["message_truncated"]
        assert response["response_metadata"]["messages"] == [
            "[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters."
        ]


async def test_too_much_text_across_blocks_is_refused(client: AsyncWebClient) -> None:
    blocks = [section("x" * 2700) for _ in range(5)]

    assert (await api_error(client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks)))["error"] == (
        "msg_blocks_too_long"
    )


async def test_a_message_without_content_is_refused(client: AsyncWebClient) -> None:
    assert (await api_error(client.chat_postMessage(channel=CHANNEL)))["error"] == "no_text"


# --------------------------------------------------------------------------- views


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


async def test_views_open_records_the_view_for_the_trigger_user(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    view = modal([section("hi")], callback_id="cb", private_metadata="approval=1")

    response = await client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=view)

    opened = slack_emulator.open_view("U0ALICE")
    assert opened is not None
    assert (opened.id, opened.hash) == (response["view"]["id"], response["view"]["hash"])
    assert (opened.callback_id, opened.private_metadata, opened.is_open) == ("cb", "approval=1", True)
    assert response["view"]["root_view_id"] == opened.id


async def test_trigger_ids_work_once(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    trigger_id = slack_emulator.issue_trigger_id("U0ALICE")
    await client.views_open(trigger_id=trigger_id, view=modal([section()]))

    assert (await api_error(client.views_open(trigger_id=trigger_id, view=modal([section()]))))["error"] == (
        "exchanged_trigger_id"
    )


async def test_unknown_trigger_ids_are_invalid(client: AsyncWebClient) -> None:
    error = await api_error(client.views_open(trigger_id="123.456.abc", view=modal([section()])))

    assert error["error"] == "invalid_trigger_id"


async def test_trigger_ids_expire_after_3_seconds(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    fresh = slack_emulator.issue_trigger_id("U0ALICE")
    slack_emulator.advance_clock(2.9)
    assert (await client.views_open(trigger_id=fresh, view=modal([section()])))["ok"] is True

    stale = slack_emulator.issue_trigger_id("U0ALICE")
    slack_emulator.advance_clock(3.1)
    assert (await api_error(client.views_open(trigger_id=stale, view=modal([section()]))))["error"] == (
        "expired_trigger_id"
    )


async def test_trigger_ids_expire_in_real_time_too(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.trigger_lifetime_seconds = 0.05
    trigger_id = slack_emulator.issue_trigger_id("U0ALICE")
    await anyio.sleep(0.1)

    error = await api_error(client.views_open(trigger_id=trigger_id, view=modal([section()])))

    assert error["error"] == "expired_trigger_id"


async def test_views_update_checks_the_hash(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    opened = await client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))
    view_id, old_hash = opened["view"]["id"], opened["view"]["hash"]

    updated = await client.views_update(view_id=view_id, hash=old_hash, view=modal([section("v2")]))
    stale = client.views_update(view_id=view_id, hash=old_hash, view=modal([section("v3")]))

    assert (await api_error(stale))["error"] == "hash_conflict"
    assert updated["view"]["hash"] != old_hash
    assert slack_emulator.view(view_id).blocks[0]["text"]["text"] == "v2"
    missing = client.views_update(view_id="V0NOPE", view=modal([section()]))
    assert (await api_error(missing))["error"] == "not_found"


async def test_views_push_stacks_at_most_three(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    root = await client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))
    for _ in range(2):
        await client.views_push(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))

    fourth = client.views_push(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))

    assert (await api_error(fourth))["error"] == "push_limit_reached"
    top = slack_emulator.open_view("U0ALICE")
    assert top is not None and top.root_view_id == root["view"]["id"]


# --------------------------------------------------------------------------- rate limits


async def test_rate_limited_calls_get_429_with_retry_after(slack_emulator: SlackEmulator) -> None:
    slack_emulator.rate_limit("chat.postMessage", fraction=1.0, retry_after=7)

    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{slack_emulator.base_url}chat.postMessage",
            json={"channel": CHANNEL, "text": "x"},
            headers={"Authorization": "Bearer xoxb-test"},
        )

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"ok": False, "error": "ratelimited"}
    assert slack_emulator.calls_to("chat.postMessage")[0].status_code == 429


async def test_rate_limits_without_a_retry_handler_raise(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.rate_limit("auth.test")

    with pytest.raises(SlackApiError) as raised:
        await client.auth_test()

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] in ("1", ["1"])


def _seed_limiting_only_the_first_call(fraction: float) -> int:
    for seed in range(1000):
        rng = random.Random(seed)
        if rng.random() < fraction <= rng.random():
            return seed
    raise AssertionError("no seed found")


async def test_sdk_retry_handler_ends_in_success(slack_emulator: SlackEmulator) -> None:
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=slack_emulator.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
    )
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1")
    seed = _seed_limiting_only_the_first_call(0.2)
    slack_emulator.rate_limit("chat.update", fraction=0.2, retry_after=1, seed=seed)

    response = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2")

    assert response["ok"] is True
    assert [c.status_code for c in slack_emulator.calls_to("chat.update")] == [429, 200]
    assert slack_emulator.message(CHANNEL, posted["ts"]).text == "v2"


def _status_of_auth_test(client: WebClient) -> int:
    try:
        return client.auth_test().status_code
    except SlackApiError as error:
        return int(error.response.status_code)


def test_rate_limiting_is_deterministic_with_a_seed(sync_client: WebClient, slack_emulator: SlackEmulator) -> None:
    def statuses() -> list[int]:
        slack_emulator.rate_limit("auth.test", fraction=0.3, seed=42)
        return [_status_of_auth_test(sync_client) for _ in range(30)]

    first, second = statuses(), statuses()

    assert first == second
    assert 429 in first and 200 in first
    slack_emulator.rate_limit("auth.test", fraction=0.0)
    assert sync_client.auth_test()["ok"] is True


async def test_injected_errors_fail_the_next_calls(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.inject_error("chat.postMessage", "internal_error", times=2)

    errors = [(await api_error(client.chat_postMessage(channel=CHANNEL, text="x")))["error"] for _ in range(2)]

    assert errors == ["internal_error", "internal_error"]
    assert (await client.chat_postMessage(channel=CHANNEL, text="x"))["ok"] is True


# --------------------------------------------------------------------------- streaming


@pytest.fixture
def asked(slack_emulator: SlackEmulator) -> str:
    """The ts of a person's message that a streamed reply answers."""
    slack_emulator.add_user("U0ASKER", "asker")
    return slack_emulator.post_user_message(CHANNEL, "U0ASKER", "deploy please")


def _recipients(emulator: SlackEmulator) -> JSONDict:
    return {"recipient_team_id": emulator.team_id, "recipient_user_id": "U0ASKER"}


async def test_streaming_lifecycle_with_the_sdk_helper(
    client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str
) -> None:
    stream = await client.chat_stream(channel=CHANNEL, thread_ts=asked, buffer_size=8, **_recipients(slack_emulator))
    await stream.append(markdown_text="Resuming ")
    await stream.append(markdown_text="the run")
    assert stream.ts is not None
    assert slack_emulator.message(CHANNEL, stream.ts).streaming is True

    await stream.append(markdown_text="... done.")
    await stream.stop(blocks=[section("Finished")])

    [reply] = slack_emulator.thread(CHANNEL, asked)
    assert reply.text == "Resuming the run... done."
    assert (reply.streaming, reply.stream_state, reply.is_bot) == (False, "stopped", True)
    assert reply.blocks[0]["text"]["text"] == "Finished"
    methods = [c.method for c in slack_emulator.calls if c.method.startswith("chat.")]
    assert methods == ["chat.startStream", "chat.appendStream", "chat.stopStream"]


async def test_streams_in_channels_need_recipients(client: AsyncWebClient, asked: str) -> None:
    no_team = client.chat_startStream(channel=CHANNEL, thread_ts=asked, recipient_user_id="U0ASKER")
    no_user = client.chat_startStream(channel=CHANNEL, thread_ts=asked, recipient_team_id="T0EMULATED")

    assert (await api_error(no_team))["error"] == "missing_recipient_team_id"
    assert (await api_error(no_user))["error"] == "missing_recipient_user_id"


async def test_streams_in_direct_messages_need_no_recipients(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    asked = slack_emulator.post_user_message("D0ASKER", "U0ASKER", "hi")

    response = await client.chat_startStream(channel="D0ASKER", thread_ts=asked, markdown_text="hello")

    assert response["ok"] is True


async def test_appending_after_stop_fails(client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str) -> None:
    started = await client.chat_startStream(channel=CHANNEL, thread_ts=asked, **_recipients(slack_emulator))
    await client.chat_stopStream(channel=CHANNEL, ts=started["ts"], markdown_text="bye")

    append = client.chat_appendStream(channel=CHANNEL, ts=started["ts"], markdown_text="more")
    stop = client.chat_stopStream(channel=CHANNEL, ts=started["ts"])

    assert (await api_error(append))["error"] == "message_not_in_streaming_state"
    assert (await api_error(stop))["error"] == "message_not_in_streaming_state"


async def test_streams_close_after_their_lifetime(
    client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str
) -> None:
    started = await client.chat_startStream(
        channel=CHANNEL, thread_ts=asked, markdown_text="partial", **_recipients(slack_emulator)
    )
    slack_emulator.advance_clock(301)

    append = client.chat_appendStream(channel=CHANNEL, ts=started["ts"], markdown_text="late")

    assert (await api_error(append))["error"] == "message_not_in_streaming_state"
    message = slack_emulator.message(CHANNEL, started["ts"])
    assert (message.stream_state, message.text) == ("expired", "partial")


async def test_stream_lifetime_is_configurable(
    client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str
) -> None:
    slack_emulator.stream_lifetime_seconds = 0.05
    started = await client.chat_startStream(channel=CHANNEL, thread_ts=asked, **_recipients(slack_emulator))
    await anyio.sleep(0.1)

    append = client.chat_appendStream(channel=CHANNEL, ts=started["ts"], markdown_text="late")

    assert (await api_error(append))["error"] == "message_not_in_streaming_state"


async def test_a_streamed_message_holds_at_most_12000_characters(
    client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str
) -> None:
    started = await client.chat_startStream(
        channel=CHANNEL, thread_ts=asked, markdown_text="x" * 11_000, **_recipients(slack_emulator)
    )
    await client.chat_appendStream(channel=CHANNEL, ts=started["ts"], markdown_text="x" * 1000)

    one_more = client.chat_appendStream(channel=CHANNEL, ts=started["ts"], markdown_text="x")

    assert (await api_error(one_more))["error"] == "msg_too_long"
    assert len(slack_emulator.message(CHANNEL, started["ts"]).text) == 12_000


async def test_updating_a_streaming_message_conflicts(
    client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str
) -> None:
    started = await client.chat_startStream(channel=CHANNEL, thread_ts=asked, **_recipients(slack_emulator))

    update = client.chat_update(channel=CHANNEL, ts=started["ts"], text="edited")
    assert (await api_error(update))["error"] == "streaming_state_conflict"

    await client.chat_stopStream(channel=CHANNEL, ts=started["ts"], markdown_text="final")
    assert (await client.chat_update(channel=CHANNEL, ts=started["ts"], text="edited"))["ok"] is True


async def test_streaming_can_be_disabled(client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str) -> None:
    slack_emulator.streaming_enabled = False

    start = client.chat_startStream(channel=CHANNEL, thread_ts=asked, **_recipients(slack_emulator))

    assert (await api_error(start))["error"] == STREAMING_DISABLED_ERROR == "not_allowed_token_type"


async def test_stop_validates_its_blocks(client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str) -> None:
    started = await client.chat_startStream(channel=CHANNEL, thread_ts=asked, **_recipients(slack_emulator))

    stop = client.chat_stopStream(channel=CHANNEL, ts=started["ts"], blocks=[header("h" * 151)])

    assert (await api_error(stop))["error"] == "invalid_blocks"
    assert slack_emulator.message(CHANNEL, started["ts"]).streaming is True


async def test_thread_status_is_set_and_cleared(
    client: AsyncWebClient, slack_emulator: SlackEmulator, asked: str
) -> None:
    await client.assistant_threads_setStatus(channel_id=CHANNEL, thread_ts=asked, status="is thinking...")
    status = slack_emulator.thread_status(CHANNEL, asked)
    assert status is not None and status.status == "is thinking..."

    await client.chat_postMessage(channel=CHANNEL, thread_ts=asked, text="answer")
    assert slack_emulator.thread_status(CHANNEL, asked) is None

    await client.assistant_threads_setStatus(channel_id=CHANNEL, thread_ts=asked, status="working")
    await client.assistant_threads_setStatus(channel_id=CHANNEL, thread_ts=asked, status="")
    assert slack_emulator.thread_status(CHANNEL, asked) is None


# --------------------------------------------------------------------------- the test user clicks


APPROVAL_BLOCKS = [
    header("2 decisions needed"),
    section("*Deploy to prod*", block_id="row-1"),
    actions(
        button("Approve", "hitl:approve", value="row-1", style="primary"),
        button("Reject", "hitl:reject", value="row-1", style="danger"),
        block_id="row-1-actions",
    ),
    {"type": "divider"},
    section("*Drop table users*", block_id="row-2"),
    context("requested by bob"),
    actions(
        button("Approve", "hitl:approve", value="row-2", style="primary"),
        button("Reject", "hitl:reject", value="row-2", style="danger"),
        block_id="row-2-actions",
    ),
]


async def post_approval(client: AsyncWebClient) -> str:
    posted = await client.chat_postMessage(channel=CHANNEL, text="2 decisions needed", blocks=APPROVAL_BLOCKS)
    return str(posted["ts"])


async def test_click_sends_a_signed_block_actions_payload_like_slack(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    slack_emulator.add_channel(CHANNEL, "approvals")
    ts = await post_approval(client)

    response = await alice.click(CHANNEL, ts, button_text="Reject", near="Drop table")

    assert response.status_code == 200
    [payload] = recorder.payloads
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0EMULATED"}
    assert payload["api_app_id"] == slack_emulator.app_id
    assert payload["token"] == slack_emulator.verification_token
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["team"] == {"id": "T0EMULATED", "domain": "emulated"}
    assert payload["enterprise"] is None
    assert payload["channel"] == {"id": CHANNEL, "name": "approvals"}
    assert payload["message"]["ts"] == ts
    assert payload["message"]["blocks"] == slack_emulator.message(CHANNEL, ts).blocks
    assert payload["response_url"].startswith(slack_emulator.url)
    [action] = payload["actions"]
    assert {k: v for k, v in action.items() if k != "action_ts"} == {
        "action_id": "hitl:reject",
        "block_id": "row-2-actions",
        "text": {"type": "plain_text", "text": "Reject", "emoji": True},
        "value": "row-2",
        "style": "danger",
        "type": "button",
    }
    assert float(action["action_ts"]) > 0
    assert recorder.headers[0]["content-type"] == "application/x-www-form-urlencoded"


async def test_the_click_trigger_id_opens_a_modal(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    async def open_modal(payload: JSONDict) -> None:
        app_client = AsyncWebClient(token="xoxb-app", base_url=slack_emulator.base_url)
        await app_client.views_open(trigger_id=payload["trigger_id"], view=modal([section("Why?")]))

    recorder.on_payload = open_modal
    ts = await post_approval(client)

    await alice.click(CHANNEL, ts, button_text="Reject", near="Deploy to prod")

    opened = slack_emulator.open_view("U0ALICE")
    assert opened is not None and opened.trigger_id == recorder.payloads[0]["trigger_id"]


async def test_click_finds_buttons_in_thread_replies(
    client: AsyncWebClient, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    root = await post_approval(client)
    reply = await client.chat_postMessage(
        channel=CHANNEL, thread_ts=root, text="failed", blocks=[section("Resume failed"), actions(button("Retry"))]
    )

    await alice.click(CHANNEL, root, button_text="Retry")

    container = recorder.payloads[0]["container"]
    assert (container["message_ts"], container["thread_ts"]) == (reply["ts"], root)


async def test_click_on_a_section_accessory(
    client: AsyncWebClient, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    blocks = [
        section("Row A", accessory=button("Open", "open-a")),
        section("Row B", accessory=button("Open", "open-b")),
    ]
    posted = await client.chat_postMessage(channel=CHANNEL, text="rows", blocks=blocks)

    await alice.click(CHANNEL, posted["ts"], button_text="Open", near="Row B")

    assert recorder.payloads[0]["actions"][0]["action_id"] == "open-b"


async def test_ambiguous_clicks_list_the_candidates(client: AsyncWebClient, alice: SlackTestUser) -> None:
    ts = await post_approval(client)

    with pytest.raises(AmbiguousElementError, match="2 buttons match") as raised:
        await alice.click(CHANNEL, ts, button_text="Approve")

    assert "Deploy to prod" in str(raised.value) and "Drop table users" in str(raised.value)


async def test_missing_buttons_list_what_was_rendered(
    client: AsyncWebClient, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    ts = await post_approval(client)

    with pytest.raises(ElementNotFoundError, match="Buttons seen") as raised:
        await alice.click(CHANNEL, ts, button_text="Approve", near="Launch rockets")

    assert "[Reject] near '*Drop table users* requested by bob'" in str(raised.value)
    assert recorder.payloads == []


async def test_unsigned_or_stale_requests_are_rejected_by_the_app(
    alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    body = b"payload=%7B%7D"
    tampered = {**alice.sign(body), "X-Slack-Signature": "v0=" + "0" * 64}
    stale = alice.sign(body, timestamp=1_600_000_000)

    assert (await alice.post_raw(body, tampered)).status_code == 401
    assert (await alice.post_raw(body, stale)).status_code == 401
    assert (await alice.post_raw(body, alice.sign(body))).status_code == 200
    assert recorder.rejected == 2


async def test_redelivery_repeats_the_payload_with_retry_headers(
    client: AsyncWebClient, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    ts = await post_approval(client)
    await alice.click(CHANNEL, ts, button_text="Approve", near="Deploy")

    await alice.redeliver(retry_num=1, reason="http_timeout")

    assert recorder.payloads[0] == recorder.payloads[1]
    assert recorder.headers[1]["x-slack-retry-num"] == "1"
    assert recorder.headers[1]["x-slack-retry-reason"] == "http_timeout"


async def test_slow_acks_miss_slacks_deadline(
    client: AsyncWebClient, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    async def slow(payload: JSONDict) -> None:
        await anyio.sleep(0.3)

    recorder.on_payload = slow
    alice.ack_deadline_seconds = 0.1
    ts = await post_approval(client)

    with pytest.raises(AckDeadlineExceededError):
        await alice.click(CHANNEL, ts, button_text="Approve", near="Deploy")


async def test_response_url_replaces_the_original_message(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    ts = await post_approval(client)
    await alice.click(CHANNEL, ts, button_text="Approve", near="Deploy")
    response_url = recorder.payloads[0]["response_url"]

    async with httpx.AsyncClient() as http:
        answers = [
            await http.post(response_url, json={"replace_original": True, "text": f"decided {i}"}) for i in range(6)
        ]

    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert slack_emulator.message(CHANNEL, ts).text == "decided 4"


async def test_response_url_cuts_a_long_text_as_a_post_does(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    ts = await post_approval(client)
    await alice.click(CHANNEL, ts, button_text="Approve", near="Deploy")

    async with httpx.AsyncClient() as http:
        answer = await http.post(
            recorder.payloads[0]["response_url"], json={"replace_original": True, "text": "r" * 40_001}
        )

    assert answer.status_code == 200
    assert slack_emulator.message(CHANNEL, ts).text == "r" * 40_000


# --------------------------------------------------------------------------- the test user fills modals


def _options(*pairs: tuple[str, str]) -> list[JSONDict]:
    return [option(text, value) for text, value in pairs]


FORM_BLOCKS = [
    input_block("reason", "Reason", {"type": "plain_text_input", "action_id": "value", "multiline": True}),
    input_block("replicas", "Replicas", {"type": "number_input", "action_id": "value", "is_decimal_allowed": False}),
    input_block(
        "env",
        "Environment",
        {"type": "static_select", "action_id": "value", "options": _options(("Staging", "stg"), ("Prod", "prd"))},
    ),
    input_block(
        "strategy",
        "Strategy",
        {"type": "radio_buttons", "action_id": "value", "options": _options(("Rolling", "roll"), ("Canary", "can"))},
    ),
    input_block(
        "regions",
        "Regions",
        {
            "type": "multi_static_select",
            "action_id": "value",
            "options": _options(("EU", "eu"), ("US", "us"), ("APAC", "apac")),
        },
    ),
    input_block(
        "checks",
        "Checks",
        {"type": "checkboxes", "action_id": "value", "options": _options(("Smoke", "smoke"), ("Page", "page"))},
    ),
    input_block("day", "Deploy on", {"type": "datepicker", "action_id": "value"}),
    input_block("notes", "Notes", {"type": "plain_text_input", "action_id": "value"}, optional=True),
    input_block(
        "fallback",
        "Fallback",
        {"type": "static_select", "action_id": "value", "options": _options(("None", "none"))},
        optional=True,
    ),
    input_block(
        "tags",
        "Tags",
        {"type": "multi_static_select", "action_id": "value", "options": _options(("a", "a"))},
        optional=True,
    ),
    input_block("until", "Until", {"type": "datepicker", "action_id": "value"}, optional=True),
]
FORM_VIEW = modal(FORM_BLOCKS, callback_id="hitl:input", private_metadata="approval=42", close=plain("Cancel"))


async def open_form(client: AsyncWebClient, emulator: SlackEmulator, view: JSONDict = FORM_VIEW) -> str:
    response = await client.views_open(trigger_id=emulator.issue_trigger_id("U0ALICE"), view=view)
    return str(response["view"]["id"])


async def test_submit_view_builds_slacks_state_for_each_element_type(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    view_id = await open_form(client, slack_emulator)

    response = await alice.submit_view(
        {
            "Reason": "ship it",
            "Replicas": 3,
            "Environment": "Prod",
            "Strategy": "roll",
            "Regions": ["EU", "us"],
            "Checks": ["Smoke"],
            "day": dt.date(2024, 5, 17),
        }
    )

    assert response.status_code == 200
    [payload] = recorder.payloads
    assert payload["view"]["state"]["values"] == {
        "reason": {"value": {"type": "plain_text_input", "value": "ship it"}},
        "replicas": {"value": {"type": "number_input", "value": "3"}},
        "env": {"value": {"type": "static_select", "selected_option": option("Prod", "prd")}},
        "strategy": {"value": {"type": "radio_buttons", "selected_option": option("Rolling", "roll")}},
        "regions": {
            "value": {"type": "multi_static_select", "selected_options": [option("EU", "eu"), option("US", "us")]}
        },
        "checks": {"value": {"type": "checkboxes", "selected_options": [option("Smoke", "smoke")]}},
        "day": {"value": {"type": "datepicker", "selected_date": "2024-05-17"}},
        "notes": {"value": {"type": "plain_text_input", "value": None}},
        "fallback": {"value": {"type": "static_select", "selected_option": None}},
        "tags": {"value": {"type": "multi_static_select", "selected_options": []}},
        "until": {"value": {"type": "datepicker", "selected_date": None}},
    }
    assert slack_emulator.view(view_id).is_open is False


async def test_submit_view_payload_has_slacks_shape(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    view_id = await open_form(client, slack_emulator, modal([FORM_BLOCKS[0]], callback_id="cb", private_metadata="m"))

    await alice.submit_view({"Reason": "because"})

    payload = recorder.payloads[0]
    view = payload["view"]
    stored = slack_emulator.view(view_id)
    assert payload["type"] == "view_submission"
    assert payload["user"]["id"] == "U0ALICE" and payload["team"]["id"] == "T0EMULATED"
    assert payload["trigger_id"] and payload["api_app_id"] == slack_emulator.app_id
    assert (view["id"], view["type"], view["team_id"]) == (view_id, "modal", "T0EMULATED")
    assert (view["callback_id"], view["private_metadata"], view["hash"]) == ("cb", "m", stored.hash)
    assert view["title"] == plain("Decide") and view["blocks"] == stored.blocks


async def test_submit_view_keeps_initial_values_of_untouched_inputs(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    element = {"type": "plain_text_input", "action_id": "v", "initial_value": "as before"}
    await open_form(client, slack_emulator, modal([input_block("b", "Kept", element)]))

    await alice.submit_view()

    assert recorder.payloads[0]["view"]["state"]["values"]["b"]["v"]["value"] == "as before"


async def test_required_inputs_must_be_filled(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    await open_form(client, slack_emulator)

    with pytest.raises(ClientValidationError, match="'Reason' is required"):
        await alice.submit_view({"Replicas": 1})

    assert recorder.payloads == []


async def test_inputs_are_checked_like_slacks_client(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser
) -> None:
    await open_form(client, slack_emulator)

    with pytest.raises(ClientValidationError, match="whole numbers"):
        await alice.submit_view({"Replicas": 1.5}, allow_missing_required=True)
    with pytest.raises(ElementNotFoundError, match="no option 'Mars'"):
        await alice.submit_view({"Environment": "Mars"}, allow_missing_required=True)
    with pytest.raises(ElementNotFoundError, match="no input 'Colour'"):
        await alice.submit_view({"Colour": "red"}, allow_missing_required=True)


async def test_errors_ack_keeps_the_view_open_with_the_errors(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    recorder.ack = lambda p: JSONResponse({"response_action": "errors", "errors": {"reason": "Too short"}})
    view_id = await open_form(client, slack_emulator, modal([FORM_BLOCKS[0]]))

    await alice.submit_view({"Reason": "no"})

    view = slack_emulator.view(view_id)
    assert view.is_open is True
    assert view.errors == {"reason": "Too short"}


async def test_errors_keyed_by_anything_but_an_input_block_id_fail(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    recorder.ack = lambda p: JSONResponse({"response_action": "errors", "errors": {"value": "Too short"}})
    await open_form(client, slack_emulator, modal([FORM_BLOCKS[0]]))

    with pytest.raises(InvalidViewAckError, match="input block_ids"):
        await alice.submit_view({"Reason": "no"})


async def test_update_ack_replaces_the_view(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    recorder.ack = lambda p: JSONResponse(
        {"response_action": "update", "view": modal([section("Thanks")], title=plain("Done"))}
    )
    view_id = await open_form(client, slack_emulator, modal([FORM_BLOCKS[0]]))
    old_hash = slack_emulator.view(view_id).hash

    await alice.submit_view({"Reason": "fine"})

    view = slack_emulator.view(view_id)
    assert (view.is_open, view.title, view.blocks[0]["text"]["text"]) == (True, "Done", "Thanks")
    assert view.hash != old_hash


async def test_close_view_notifies_only_when_asked(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    quiet = await open_form(client, slack_emulator, modal([section()]))
    assert await alice.close_view() is None
    assert slack_emulator.view(quiet).is_open is False

    loud = await open_form(client, slack_emulator, modal([section()], notify_on_close=True, callback_id="cb"))
    response = await alice.close_view()

    assert response is not None and response.status_code == 200
    [payload] = recorder.payloads
    assert (payload["type"], payload["view"]["id"], payload["is_cleared"]) == ("view_closed", loud, False)
    assert slack_emulator.open_view("U0ALICE") is None


async def test_submitting_without_an_open_view_fails(alice: SlackTestUser) -> None:
    with pytest.raises(ElementNotFoundError, match="no open view"):
        await alice.submit_view({})


# --------------------------------------------------------------------------- the pytest plugin


def test_the_plugin_is_enabled_with_pytest_plugins(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["slack_hitl.testing.pytest_plugin"]\n')
    (tmp_path / "test_with_plugin.py").write_text(
        textwrap.dedent(
            """
            from slack_sdk import WebClient

            def test_fixtures(slack_emulator, slack_user_factory):
                client = WebClient(token="xoxb-t", base_url=slack_emulator.base_url)
                ts = client.chat_postMessage(channel="C1", text="hi")["ts"]
                assert slack_emulator.message("C1", ts).text == "hi"
                user = slack_user_factory("http://127.0.0.1:9/slack/interactions", "secret", user_id="U1")
                assert user.user_id == "U1"
            """
        )
    )

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        # Only the plugin under test: the venv's other plugins would just slow the run down.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
