"""What a run says reaches Slack as text: it cannot ping a channel, a group or a person, nor hide a
link behind a label, whether it is streamed (chat.startStream / appendStream) or posted."""

from __future__ import annotations

from pathlib import Path

import pytest

from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import (
    CHANNEL,
    SIGNING_SECRET,
    Answer,
    CallbackReceiver,
    eventually,
    open_over_api,
    service_env,
    serving,
    thread_texts,
)

pytestmark = pytest.mark.anyio

PINGS = ["<!channel>", "<!here>", "<!everyone>", "<!subteam^S0OPS>", "<@U0BOB>", "<http://evil.example/x|login>"]


async def test_a_streamed_answer_cannot_ping_or_disguise_links(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    # Split across chunks too: "<!chan" + "nel>" must not become a ping either.
    receiver.answers = [Answer(chunks=["Done. ", *PINGS, " <!chan", "nel> end."], delay=0.05)]
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_over_api(
            server.url, receiver, [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]
        )
        ts = str(created["message_ts"])
        alice = SlackTestUser(emulator, server.interactions_url, SIGNING_SECRET, "U0ALICE", "alice")
        await alice.click(CHANNEL, ts, button_text="Approve")

        def streamed() -> str | None:
            return next((text for text in thread_texts(emulator, CHANNEL, ts) if "end." in text), None)

        text = await eventually(streamed, timeout=30)
    sent = [
        str(call.params.get("markdown_text", ""))
        for method in ("chat.startStream", "chat.appendStream")
        for call in emulator.calls_to(method)
    ]
    assert sent, "the answer was streamed"
    assert "<" not in "".join(sent) and ">" not in "".join(sent)
    assert "<" not in text
    for ping in PINGS:
        assert ping.replace("<", "&lt;").replace(">", "&gt;") in text


async def test_a_decider_id_cannot_inject_a_ping_into_the_may_not_decide_answer(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    forged = "U0BOB> <!channel> <http://evil.example/x|login"
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        row = {"id": "deploy", "title": "deploy billing", "requires_confirmation": True}
        created = await open_over_api(server.url, receiver, [{**row, "deciders": {"user_ids": [forged, "U0CAROL"]}}])
        ts = str(created["message_ts"])
        alice = SlackTestUser(emulator, server.interactions_url, SIGNING_SECRET, "U0ALICE", "alice")
        await alice.click(CHANNEL, ts, button_text="Approve")

        def told() -> str | None:
            calls = emulator.calls_to("chat.postEphemeral")
            return str(calls[0].params["text"]) if calls else None

        text = await eventually(told)
    assert text.startswith("You may not decide *deploy billing*")
    assert "<@U0CAROL>" in text  # a real user id is still a mention
    assert "<!channel>" not in text and "<http" not in text and "&lt;!channel&gt;" in text
