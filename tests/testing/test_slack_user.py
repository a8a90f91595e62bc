"""The test user: clicks and modal submissions sent as Slack sends them to a real HTTP app, and
what Slack does with the app's answers (acks, response URLs)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import (
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
from tests.testing.support import (
    CHANNEL,
    SIGNING_SECRET,
    JSONDict,
    actions,
    button,
    context,
    header,
    input_block,
    modal,
    option,
    plain,
    section,
)

pytestmark = pytest.mark.anyio


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


async def test_text_lengths_are_counted_like_slacks_client_in_utf16_units(
    client: AsyncWebClient, slack_emulator: SlackEmulator, alice: SlackTestUser, recorder: InteractionRecorder
) -> None:
    element = {"type": "plain_text_input", "action_id": "v", "max_length": 10, "min_length": 4}
    await open_form(client, slack_emulator, modal([input_block("b", "Short", element)]))
    thumb = "\U0001f44d"  # two UTF-16 units

    with pytest.raises(ClientValidationError, match="at most 10 characters, got 12"):
        await alice.submit_view({"Short": thumb * 6})
    with pytest.raises(ClientValidationError, match="at least 4 characters, got 2"):
        await alice.submit_view({"Short": thumb})
    await alice.submit_view({"Short": thumb * 5})

    assert recorder.payloads[0]["view"]["state"]["values"]["b"]["v"]["value"] == thumb * 5


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
