"""The Slack Web API client the app builds: its timeout holds on the kept-alive session too."""

from __future__ import annotations

import pytest

from slack_hitl.slack.client import build_slack_client, kept_alive
from slack_hitl.testing import SlackEmulator

pytestmark = pytest.mark.anyio


async def test_a_hung_call_on_the_kept_alive_session_ends_at_the_client_s_timeout() -> None:
    # A long-running app calls Slack on one kept-alive session: a hung call must end at the
    # client's timeout (and free what waits on it), not at aiohttp's default of 300 s.
    with SlackEmulator() as emulator:
        client = build_slack_client("xoxb-test", base_url=emulator.base_url, timeout_seconds=1)
        emulator.outage("chat.update", seconds=30, status=None, delay=8.0)
        posted = await client.chat_postMessage(channel="C0A", text="before")
        async with kept_alive(client) as alive:
            with pytest.raises(TimeoutError):
                await alive.chat_update(channel="C0A", ts=posted["ts"], text="after")
        assert emulator.message("C0A", posted["ts"]).text == "after"  # Slack did it; the answer came too late
