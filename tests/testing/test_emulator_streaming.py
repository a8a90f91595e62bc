"""chat.startStream / appendStream / stopStream and the thread status, with the SDK's helper."""

from __future__ import annotations

import anyio
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import STREAMING_DISABLED_ERROR, SlackEmulator
from tests.testing.support import CHANNEL, JSONDict, api_error, header, section

pytestmark = pytest.mark.anyio


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
