"""The continuation sink against the Slack emulator with the real slack_sdk client.

What it proves: text reaches the thread whole and in order, in streamed replies that stay
under the size and age limits (rotating before them), a stream Slack closes mid-way loses
nothing, and where streaming is refused the same text is posted and updated at a throttled
rate. The status line shows while the run works and is cleared at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from slack_hitl.events import Done, NestedPause, Status, TextDelta, ToolProgress
from slack_hitl.requirements import Requirement
from slack_hitl.slack.client import build_slack_client
from slack_hitl.slack.documented_limits import MESSAGE_TEXT, STREAM_TEXT, slack_length
from slack_hitl.slack.streaming import THINKING, StreamLimits, ThreadStream, ThreadTarget
from slack_hitl.testing import SlackEmulator
from tests.service.support import eventually

CHANNEL = "C0STREAM"
PERSON = "U0ALICE"
THUMB = "\U0001f44d"  # 👍: two UTF-16 units, as Slack counts

pytestmark = pytest.mark.anyio


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as running:
        running.add_user(PERSON, "alice")
        yield running


def _stream(emulator: SlackEmulator, **limits: float) -> tuple[ThreadStream, str]:
    root = emulator.post_user_message(CHANNEL, PERSON, "please deploy")
    client = build_slack_client("xoxb-test", base_url=emulator.base_url)
    target = ThreadTarget(
        channel=CHANNEL,
        thread_ts=root,
        recipient_user_id=PERSON,
        recipient_team_id=emulator.team_id,
        approval_id="a1",
    )
    return ThreadStream(client, target, StreamLimits(**limits)), root


def _words(count: int) -> list[str]:
    return [f"word{index:04d} " for index in range(count)]


async def test_text_is_streamed_into_one_reply_with_a_status_that_clears(emulator: SlackEmulator) -> None:
    stream, root = _stream(emulator, thinking_delay_seconds=0.05)
    await stream.open()
    assert emulator.thread_status(CHANNEL, root) is None  # not yet: the run may answer at once
    assert (await eventually(lambda: emulator.thread_status(CHANNEL, root), interval=0.01)).status == THINKING
    await stream.send(Status(text="is checking the plan..."))
    assert emulator.thread_status(CHANNEL, root).status == "is checking the plan..."
    for word in _words(100):
        await stream.send(TextDelta(text=word))
    await stream.send(Done(summary="ignored: text was streamed"))

    replies = emulator.thread(CHANNEL, root)
    assert [reply.text for reply in replies] == ["".join(_words(100))]
    assert replies[0].stream_state == "stopped"
    assert replies[0].recipient_user_id == PERSON
    assert emulator.thread_status(CHANNEL, root) is None
    # Buffered: 100 deltas are far fewer appendStream calls.
    assert len(emulator.calls_to("chat.appendStream")) < 10
    assert len(emulator.calls_to("chat.startStream")) == 1


async def test_a_run_that_answers_at_once_never_flashes_the_thinking_status(emulator: SlackEmulator) -> None:
    stream, root = _stream(emulator, thinking_delay_seconds=30)
    await stream.open()
    await stream.send(TextDelta(text="Deployed."))
    await stream.send(Done())

    assert [reply.text for reply in emulator.thread(CHANNEL, root)] == ["Deployed."]
    assert emulator.calls_to("assistant.threads.setStatus") == []

    # A run that finishes without a word does not either.
    quiet, quiet_root = _stream(emulator, thinking_delay_seconds=30)
    await quiet.open()
    await quiet.send(Done())
    assert emulator.thread(CHANNEL, quiet_root) == []
    assert emulator.calls_to("assistant.threads.setStatus") == []


async def test_a_status_on_its_way_when_the_run_finishes_is_still_cleared(emulator: SlackEmulator) -> None:
    stream, root = _stream(emulator, thinking_delay_seconds=0.01)
    await stream.open()
    await asyncio.sleep(0.01)  # the delay runs out about now: the status may be in flight
    await stream.close()

    assert emulator.thread_status(CHANNEL, root) is None
    statuses = [call.params["status"] for call in emulator.calls_to("assistant.threads.setStatus")]
    assert statuses in ([], [THINKING, ""])


async def test_a_long_continuation_rotates_before_the_size_limit(emulator: SlackEmulator) -> None:
    stream, root = _stream(emulator, stream_chars=1000, stream_buffer_chars=100)
    text = "".join(_words(400))  # 4,000 characters
    await stream.open()
    for piece in _words(400):
        await stream.send(TextDelta(text=piece))
    await stream.close()

    replies = emulator.thread(CHANNEL, root)
    assert len(replies) == 4
    assert all(len(reply.text) <= 1000 for reply in replies)
    assert all(reply.stream_state == "stopped" for reply in replies)
    assert "".join(reply.text for reply in replies) == text


async def test_emoji_count_twice_toward_a_streamed_reply_s_size(emulator: SlackEmulator) -> None:
    # Slack counts UTF-16 units: 7,000 emoji are 14,000 of them, more than one stream holds (12,000).
    stream, root = _stream(emulator, stream_buffer_chars=1000)
    await stream.open()
    for _ in range(70):
        await stream.send(TextDelta(text=THUMB * 100))
    await stream.close()

    replies = emulator.thread(CHANNEL, root)
    assert "".join(reply.text for reply in replies) == THUMB * 7000
    assert len(replies) == 2
    assert all(slack_length(reply.text) <= STREAM_TEXT for reply in replies)
    assert [call.response for call in emulator.calls if not call.ok] == []


async def test_emoji_count_twice_toward_a_posted_reply_s_size_where_streaming_is_refused(
    emulator: SlackEmulator,
) -> None:
    emulator.streaming_enabled = False
    stream, root = _stream(emulator, fallback_update_seconds=0)
    await stream.open()
    await stream.send(TextDelta(text=THUMB * 3000))
    await stream.close()

    replies = emulator.thread(CHANNEL, root)
    assert "".join(reply.text for reply in replies) == THUMB * 3000
    assert len(replies) == 2
    assert all(slack_length(reply.text) <= MESSAGE_TEXT for reply in replies)
    assert [call.response for call in emulator.calls if not call.ok and call.method != "chat.startStream"] == []


async def test_a_long_running_continuation_rotates_before_the_age_limit(emulator: SlackEmulator) -> None:
    stream, root = _stream(emulator, stream_seconds=0.3, flush_seconds=0.05)
    await stream.open()
    await stream.send(TextDelta(text="first part, "))
    await asyncio.sleep(0.4)
    await stream.send(TextDelta(text="second part"))
    await stream.close()

    replies = emulator.thread(CHANNEL, root)
    assert [reply.text for reply in replies] == ["first part, ", "second part"]


async def test_a_stream_slack_closed_midway_loses_no_text(emulator: SlackEmulator) -> None:
    stream, root = _stream(emulator, stream_buffer_chars=20, flush_seconds=60)
    await stream.open()
    await stream.send(TextDelta(text="a" * 30))  # starts the stream
    emulator.advance_clock(emulator.stream_lifetime_seconds + 1)  # Slack closes it
    await stream.send(TextDelta(text="b" * 30))
    await stream.send(TextDelta(text="c" * 5))
    await stream.close()

    replies = emulator.thread(CHANNEL, root)
    assert "".join(reply.text for reply in replies) == "a" * 30 + "b" * 30 + "c" * 5
    assert len(replies) == 2
    assert replies[-1].stream_state == "stopped"


async def test_where_streaming_is_refused_the_text_is_posted_and_updated_at_a_throttled_rate(
    emulator: SlackEmulator,
) -> None:
    emulator.streaming_enabled = False
    stream, root = _stream(emulator, stream_buffer_chars=10, fallback_update_seconds=0.2)
    await stream.open()
    started = asyncio.get_running_loop().time()
    for word in _words(60):
        await stream.send(TextDelta(text=word))
        await asyncio.sleep(0.01)
    await stream.close()
    elapsed = asyncio.get_running_loop().time() - started

    replies = emulator.thread(CHANNEL, root)
    assert [reply.text for reply in replies] == ["".join(_words(60)).strip()]
    assert replies[0].stream_state is None  # a posted message, not a stream
    assert not stream.streaming
    updates = emulator.calls_to("chat.update")
    # At most one update per 0.2 s, plus the final one.
    assert 1 <= len(updates) <= elapsed / 0.2 + 2
    assert emulator.thread_status(CHANNEL, root) is None


async def test_fallback_rotates_before_the_update_limit_and_escapes_mentions(emulator: SlackEmulator) -> None:
    emulator.streaming_enabled = False
    stream, root = _stream(emulator, fallback_chars=300, fallback_update_seconds=0)
    await stream.open()
    await stream.send(TextDelta(text="<!channel> " + "x" * 700))
    await stream.close()

    replies = emulator.thread(CHANNEL, root)
    assert len(replies) >= 3
    assert all(len(reply.text) <= 300 for reply in replies)
    assert replies[0].text.startswith("&lt;!channel&gt;")
    assert "".join(reply.text for reply in replies).count("x") == 700


async def test_tool_progress_and_a_nested_pause_end_the_reply_before_the_new_approval(
    emulator: SlackEmulator,
) -> None:
    stream, root = _stream(emulator)
    await stream.open()
    await stream.send(TextDelta(text="Looking it up."))
    await stream.send(ToolProgress(name="search", state="started"))
    await stream.send(ToolProgress(name="search", state="finished", detail="3 hits"))
    pause = NestedPause(
        title="Second deploy", requirements=(Requirement(id="r", kind="confirmation", title="deploy again"),)
    )
    await stream.send(pause)
    first = emulator.thread(CHANNEL, root)
    assert len(first) == 1 and first[0].stream_state == "stopped"
    assert "`search` started" in first[0].text
    assert "`search` finished: 3 hits" in first[0].text
    assert "paused again: Second deploy" in first[0].text
    await stream.send(TextDelta(text="After the pause."))
    await stream.close()
    replies = emulator.thread(CHANNEL, root)
    assert [reply.text for reply in replies][1:] == ["After the pause."]


async def test_done_with_only_a_summary_posts_the_summary(emulator: SlackEmulator) -> None:
    stream, root = _stream(emulator)
    await stream.open()
    await stream.send(Done(summary="Deployed 3 services."))
    await stream.close()  # a second close changes nothing
    assert [reply.text for reply in emulator.thread(CHANNEL, root)] == ["Deployed 3 services."]
    assert len(emulator.calls_to("chat.stopStream")) == 1
