"""The emulator's Socket Mode and App Home methods, seen from a bare WebSocket client.

``apps.connections.open`` takes the app-level token and hands out one-use URLs; a connection is
greeted with ``hello``; envelopes are acked by id (with a payload) or redelivered; ``disconnect``
tells the app to reconnect. ``views.publish`` keeps each user's Home tab; ``chat.getPermalink``
links a message.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import SlackEmulator

pytestmark = pytest.mark.anyio


async def _open_url(emulator: SlackEmulator) -> str:
    answer = await AsyncWebClient(base_url=emulator.base_url).apps_connections_open(app_token="xapp-test")
    return str(answer["url"])


async def test_connections_open_takes_the_app_token_and_each_url_connects_once(
    slack_emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client.apps_connections_open(app_token="xoxb-test")
    assert refused.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as bot_method:
        await AsyncWebClient(token="xapp-test", base_url=slack_emulator.base_url).auth_test()
    assert bot_method.value.response["error"] == "not_allowed_token_type"

    url = await _open_url(slack_emulator)
    assert url.startswith(f"{slack_emulator.url.replace('http://', 'ws://')}/socket-mode/link/?ticket=")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as socket:
            hello = json.loads((await socket.receive(timeout=5)).data)
            assert hello["type"] == "hello" and hello["num_connections"] == 1
            assert hello["connection_info"]["app_id"] == slack_emulator.app_id
            await slack_emulator.socket_mode.wait_for_connections(1)
        with pytest.raises(aiohttp.WSServerHandshakeError) as spent:  # the ticket was used
            await session.ws_connect(url)
        assert spent.value.status == 403


async def test_envelopes_are_acked_with_payloads_redelivered_without_and_disconnect_is_sent(
    slack_emulator: SlackEmulator,
) -> None:
    hub = slack_emulator.socket_mode
    hub.redelivery_seconds = 0.3
    url = await _open_url(slack_emulator)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        await socket.receive(timeout=5)  # hello
        delivering = asyncio.create_task(hub.deliver("interactive", {"type": "view_submission"}, timeout=10))
        first = json.loads((await socket.receive(timeout=5)).data)
        assert first["type"] == "interactive" and first["accepts_response_payload"] is True
        assert (first["retry_attempt"], first["payload"]) == (0, {"type": "view_submission"})
        # No ack: the same envelope comes again, one attempt later.
        second = json.loads((await socket.receive(timeout=5)).data)
        assert (second["envelope_id"], second["retry_attempt"], second["retry_reason"]) == (
            first["envelope_id"],
            1,
            "timeout",
        )
        errors = {"response_action": "errors", "errors": {"reason": "Say why"}}
        await socket.send_str(json.dumps({"envelope_id": second["envelope_id"], "payload": errors}))
        acked = await delivering
        assert acked.payload == errors and acked.attempts == 2

        assert await hub.disconnect("link_disabled") == 1
        disconnect = json.loads((await socket.receive(timeout=5)).data)
        assert disconnect == {"type": "disconnect", "reason": "link_disabled", "debug_info": {"host": "emulator"}}
        assert hub.open_connections == 0  # no new envelope goes to a connection told to go


async def test_views_publish_keeps_the_home_tab_and_permalinks_name_the_message(
    slack_emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    slack_emulator.add_user("U0ALICE", "alice")
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Waiting*"}}]}
    published = await client.views_publish(user_id="U0ALICE", view=home)
    assert published["view"]["type"] == "home"
    shown = slack_emulator.home_view("U0ALICE")
    assert shown is not None and shown.blocks[0]["text"]["text"] == "*Waiting*"
    with pytest.raises(SlackApiError) as stale:
        await client.views_publish(user_id="U0ALICE", view=home, hash="not-the-hash")
    assert stale.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as modal:
        await client.views_publish(user_id="U0ALICE", view={**home, "type": "modal"})
    assert modal.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as nobody:
        await client.views_publish(user_id="U0NOBODY", view=home)
    assert nobody.value.response["error"] == "user_not_found"

    posted = await client.chat_postMessage(channel="C0APPROVALS", text="hello")
    link = await client.chat_getPermalink(channel="C0APPROVALS", message_ts=posted["ts"])
    assert link["permalink"] == f"https://emulated.slack.com/archives/C0APPROVALS/p{posted['ts'].replace('.', '')}"
    with pytest.raises(SlackApiError) as missing:
        await client.chat_getPermalink(channel="C0APPROVALS", message_ts="1.000001")
    assert missing.value.response["error"] == "message_not_found"


async def test_a_drop_cuts_the_connection_without_a_close_frame(slack_emulator: SlackEmulator) -> None:
    url = await _open_url(slack_emulator)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        await socket.receive(timeout=5)  # hello
        await slack_emulator.socket_mode.wait_for_connections(1)
        assert await slack_emulator.socket_mode.drop() == 1
        cut = await socket.receive(timeout=5)
        # A reset, not a closing handshake: no CLOSE frame with a code reaches the client.
        assert cut.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR), cut
        assert slack_emulator.socket_mode.open_connections == 0
