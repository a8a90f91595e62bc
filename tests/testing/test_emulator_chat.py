"""chat.*: posting, updating, deleting and ephemeral messages, and how Slack treats their text."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import SlackEmulator
from tests.testing.support import CHANNEL, api_error, plain, section

pytestmark = pytest.mark.anyio


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


def test_history_shows_a_message_s_metadata_only_when_asked_for_all_of_it(sync_client: WebClient) -> None:
    metadata = {"event_type": "slack_hitl_approval", "event_payload": {"approval_id": "a1", "part": 0}}
    sync_client.chat_postMessage(channel=CHANNEL, text="hello", metadata=metadata)

    assert "metadata" not in sync_client.conversations_history(channel=CHANNEL)["messages"][0]
    shown = sync_client.conversations_history(channel=CHANNEL, include_all_metadata=True)["messages"][0]
    assert shown["metadata"] == metadata


def test_an_outage_fails_a_method_for_a_while_and_may_lose_the_answer_of_work_done(
    sync_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.outage("chat.postMessage", seconds=30, status=504, processed=True)
    with pytest.raises(SlackApiError) as lost:
        sync_client.chat_postMessage(channel=CHANNEL, text="posted, answer lost")
    assert lost.value.response.status_code == 504
    assert [m.text for m in slack_emulator.messages(CHANNEL)] == ["posted, answer lost"]

    slack_emulator.outage("chat.postMessage", seconds=30, status=429, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        sync_client.chat_postMessage(channel=CHANNEL, text="never posted")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "7"
    assert len(slack_emulator.messages(CHANNEL)) == 1
    assert [call.status_code for call in slack_emulator.calls_to("chat.postMessage")] == [504, 429]

    slack_emulator.outage("chat.postMessage", seconds=0, status=500)  # over at once
    assert sync_client.chat_postMessage(channel=CHANNEL, text="Slack is back")["ok"] is True
