"""``slack-hitl serve`` as real processes: the console script started with environment variables,
against the Slack emulator, a callback receiver and a SQLite file or a shared PostgreSQL database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import (
    CALLBACK_SECRET,
    CHANNEL,
    SIGNING_SECRET,
    Answer,
    CallbackReceiver,
    ServeProcess,
    auth,
    db_upgrade,
    eventually,
    message_text,
    open_over_api,
    release_rows,
    service_env,
    serving,
    thread_texts,
)

pytestmark = pytest.mark.anyio


def receiver_verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """What the README tells a receiver to do, written out: HMAC-SHA256 over "v1:<timestamp>:<body>"."""
    timestamp = headers["x-slack-hitl-timestamp"]
    expected = "v1=" + hmac.new(secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-slack-hitl-signature"])


def user(emulator: SlackEmulator, server: ServeProcess, user_id: str, name: str) -> SlackTestUser:
    return SlackTestUser(emulator, server.interactions_url, SIGNING_SECRET, user_id, name)


async def test_serve_end_to_end_one_signed_callback_whose_answer_streams_into_the_thread(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    receiver.answers = [Answer(chunks=["Deploying build 42 to prod.\n", "All 3 regions healthy."], delay=0.1)]
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_over_api(server.url, receiver, release_rows())
        ts = str(created["message_ts"])
        alice, bob = user(emulator, server, "U0ALICE", "alice"), user(emulator, server, "U0BOB", "bob")

        assert (await alice.click(CHANNEL, ts, button_text="Approve", near="deploy billing")).status_code == 200
        await bob.click(CHANNEL, ts, button_text="Provide input", near="choose the size")
        assert (await bob.submit_view({"replicas": 3})).status_code == 200
        await alice.click(CHANNEL, ts, button_text="Answer", near="release notes")
        await alice.submit_view({"Which tone?": "casual"})
        await bob.click(CHANNEL, ts, button_text="Reject", near="purge the CDN")
        await bob.submit_view({"Reason": "cache is warm, keep it"})

        async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:

            async def finished() -> dict[str, object] | None:
                current = (await api.get(f"/v1/approvals/{created['id']}", params={"wait": 5})).json()
                return current if current["status"] not in ("pending", "resuming") else None

            final = await eventually(finished, timeout=30)
        assert final["status"] == "completed"  # one row rejected, the others approved or answered

        def streamed() -> list[str] | None:
            texts = thread_texts(emulator, CHANNEL, ts)
            return texts if any("All 3 regions healthy." in text for text in texts) else None

        texts = await eventually(streamed)
        assert any("Deploying build 42 to prod.\nAll 3 regions healthy." in text for text in texts)

        def rendered() -> str | None:
            # The worker re-renders after the ack: the message catches up, it is not true at once.
            shown = message_text(emulator.message(CHANNEL, ts))
            return shown if "<@U0ALICE>" in shown and "<@U0BOB>" in shown and "cache is warm" in shown else None

        assert await eventually(rendered)

        (call,) = receiver.received()
        assert receiver_verifies(CALLBACK_SECRET, call.body, call.headers)
        assert call.headers["x-slack-hitl-idempotency-key"] == created["id"]
        sent = json.loads(call.body)
        assert {row["requirement_id"]: row["decision"]["outcome"] for row in sent["rows"]} == {
            "deploy": "approved",
            "size": "answered",
            "tone": "answered",
            "purge": "rejected",
        }
        assert sent["rows"][1]["decision"]["values"] == {"replicas": 3}
        assert sent["rows"][3]["decision"]["reason"] == "cache is warm, keep it"
        assert CALLBACK_SECRET not in server.log()

        assert await server.stop() == 0
    assert "app_stopped" in server.log()


async def test_stopping_lets_a_short_resume_finish_and_hands_back_a_long_one(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'hitl.db'}"
    env = service_env(emulator.base_url, database, SLACK_HITL_SHUTDOWN_GRACE_SECONDS="1", SLACK_HITL_MAX_ATTEMPTS="5")
    row = [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]
    receiver.answers = [Answer(chunks=["quick"], delay=0.3)]
    with CallbackReceiver(
        [Answer(chunks=["slow"], delay=8.0), Answer(chunks=["resumed by the next process"])]
    ) as slow_receiver:
        # Both resumes are in flight when the process is told to stop: the short one finishes
        # within the grace period; the long one is handed back, not left leased for a minute.
        async with serving(env, tmp_path / "first.log") as server:
            quick = await open_over_api(server.url, receiver, row)
            slow = await open_over_api(server.url, slow_receiver, row)
            alice = user(emulator, server, "U0ALICE", "alice")
            await alice.click(CHANNEL, str(quick["message_ts"]), button_text="Approve")
            await alice.click(CHANNEL, str(slow["message_ts"]), button_text="Approve")
            await eventually(lambda: len(receiver.received()) == len(slow_receiver.received()) == 1)
            assert await server.stop() == 0
        assert "resume_released_at_shutdown" in server.log()

        store = await Store.open(database, create=False)
        try:
            assert (await store.get(str(quick["id"]))).status == "approved"
            handed_back = await store.get(str(slow["id"]))
            assert handed_back.status == "pending" and "server stopped" in (handed_back.last_error or "")

            # The next process retries it at once.
            async with serving(env, tmp_path / "second.log"):

                async def approved() -> bool:
                    return (await store.get(str(slow["id"]))).status == "approved"

                await eventually(approved, timeout=20)
        finally:
            await store.close()
        assert len(receiver.received()) == 1 and len(slow_receiver.received()) == 2
        assert {call.headers["x-slack-hitl-idempotency-key"] for call in slow_receiver.received()} == {slow["id"]}


@pytest.mark.postgres
async def test_two_processes_on_one_postgres_database_call_the_webhook_once(
    emulator: SlackEmulator, receiver: CallbackReceiver, postgres_url: str, tmp_path: Path
) -> None:
    upgraded = await db_upgrade(postgres_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from schema revision none to 0005" in upgraded.stdout
    assert "postgres@" in upgraded.stdout or "postgresql" in upgraded.stdout

    receiver.answers = [Answer(chunks=["Resumed once."], delay=0.2)]
    env = service_env(emulator.base_url, postgres_url)
    rows = [{"id": f"r{i}", "title": f"tool call {i}", "requires_confirmation": True} for i in range(6)]
    async with serving(env, tmp_path / "a.log") as first, serving(env, tmp_path / "b.log") as second:
        created = await open_over_api(first.url, receiver, rows)
        ts = str(created["message_ts"])
        people = [("U0ALICE", "alice"), ("U0BOB", "bob")]
        # Rows 0-4 are clicked through alternating processes by alternating people.
        for index in range(5):
            server = (first, second)[index % 2]
            user_id, name = people[index % 2]
            clicked = await user(emulator, server, user_id, name).click(
                CHANNEL, ts, button_text="Approve", near=f"tool call {index}"
            )
            assert clicked.status_code == 200
        # The last row: clicked on both processes at the same moment.
        answers = await asyncio.gather(
            user(emulator, first, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve", near="tool call 5"),
            user(emulator, second, "U0BOB", "bob").click(CHANNEL, ts, button_text="Approve", near="tool call 5"),
        )
        assert [answer.status_code for answer in answers] == [200, 200]

        async with httpx.AsyncClient(base_url=second.url, headers=auth(), timeout=30) as api:

            async def final() -> dict[str, object] | None:
                current = (await api.get(f"/v1/approvals/{created['id']}", params={"wait": 5})).json()
                return current if current["status"] == "approved" else None

            approval = await eventually(final, timeout=30)
        await asyncio.sleep(1.5)  # several sweeps of both processes: still one call
        assert len(receiver.received()) == 1
        assert receiver_verifies(CALLBACK_SECRET, receiver.received()[0].body, receiver.received()[0].headers)
        last = next(row for row in approval["rows"] if row["id"] == "r5")
        loser = "U0BOB" if last["decided_by"]["id"] == "U0ALICE" else "U0ALICE"
        await eventually(lambda: any("already decided" in note.text for note in emulator.ephemerals(loser)))
        await eventually(lambda: any("Resumed once." in t for t in thread_texts(emulator, CHANNEL, ts)))
