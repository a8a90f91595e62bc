"""A Retry click is one delivery: Slack's redeliveries of it (it had no ack in time) resume nothing
more, whichever ``slack-hitl serve`` process they reach (two processes on one PostgreSQL database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import (
    CHANNEL,
    SIGNING_SECRET,
    Answer,
    CallbackReceiver,
    eventually,
    message_text,
    open_over_api,
    service_env,
    serving,
)

pytestmark = pytest.mark.anyio


async def test_redeliveries_of_one_retry_click_resume_once_across_processes(
    emulator: SlackEmulator, receiver: CallbackReceiver, postgres_url: str, tmp_path: Path
) -> None:
    await (await Store.open(postgres_url, create=True)).close()
    receiver.answers = [Answer(status=500, chunks=["still broken"])]
    # One attempt per resume: only a Retry click resumes again, never the sweeper.
    env = service_env(emulator.base_url, postgres_url, SLACK_HITL_MAX_ATTEMPTS="1")
    store = await Store.open(postgres_url, create=False)
    try:
        async with serving(env, tmp_path / "a.log") as first, serving(env, tmp_path / "b.log") as second:
            created = await open_over_api(
                first.url, receiver, [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]
            )
            approval_id, ts = str(created["id"]), str(created["message_ts"])
            alice = SlackTestUser(emulator, first.interactions_url, SIGNING_SECRET, "U0ALICE", "alice")

            async def failed_after(attempts: int) -> bool:
                approval = await store.get(approval_id)
                return approval.status == "pending" and approval.attempts == attempts and bool(approval.last_error)

            await alice.click(CHANNEL, ts, button_text="Approve")
            await eventually(lambda: failed_after(1))
            await eventually(lambda: "Retry" in message_text(emulator.message(CHANNEL, ts)))
            assert (await alice.click(CHANNEL, ts, button_text="Retry")).status_code == 200
            await eventually(lambda: failed_after(2))

            # Slack redelivers the same signed Retry three times, to either process.
            for number, server in enumerate((first, second, second), start=1):
                alice.interactions_url = server.interactions_url
                assert (await alice.redeliver(retry_num=number)).status_code == 200
                assert await failed_after(2), number  # the claim is made before the ack: none was

            assert len(receiver.received()) == 2
            log = [entry["event"] for entry in await store.decision_log(approval_id)]
            assert log.count("retry_requested") == 1 and log.count("resuming") == 2
            assert first.log().count("retry_repeated") + second.log().count("retry_repeated") == 3
    finally:
        await store.close()
