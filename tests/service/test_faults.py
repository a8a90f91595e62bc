"""Faults seen from the outside (issue 13): real ``slack-hitl serve`` processes against the Slack
emulator made to fail (``SlackEmulator.outage``), a callback receiver, and a SQLite file or a
PostgreSQL cluster of the test's own. Each test is the reproduction of a defect: it failed
before the fix and passes after."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slack_hitl import InputField
from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from tests.service.support import (
    CALLBACK_SECRET,
    CHANNEL,
    Answer,
    CallbackReceiver,
    OwnPostgres,
    auth,
    eventually,
    message_text,
    open_over_api,
    service_env,
    serving,
)
from tests.service.test_serve import user
from tests.service.test_workers import worker_pids

pytestmark = pytest.mark.anyio

ROW = [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]


def approval_request(receiver: CallbackReceiver, **changes: Any) -> dict[str, Any]:
    return {
        "channel": CHANNEL,
        "title": "Release billing 2.3",
        "requirements": ROW,
        "callback": {"url": receiver.url, "secret": CALLBACK_SECRET},
        **changes,
    }


def approval_messages(emulator: SlackEmulator) -> list[str]:
    """The ts of every top-level message in the channel that shows an approval (it has buttons)."""
    return [
        message.ts
        for message in emulator.messages(CHANNEL)
        if any(block.get("type") == "actions" or "accessory" in block for block in message.blocks)
    ]


async def posted_ts(api: httpx.AsyncClient, approval_id: str) -> str | None:
    answer = await api.get(f"/v1/approvals/{approval_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["message_ts"]  # type: ignore[no-any-return]


async def test_an_approval_opened_while_slack_is_down_for_long_is_posted_once_slack_is_back(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    # Longer than the opener's own retries last (they give up after about 80 s).
    emulator.outage("chat.postMessage", seconds=95, status=500)
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with (
        serving(env, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=60) as api,
    ):
        answer = await api.post("/v1/approvals", json=approval_request(receiver))
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["message_ts"] is None
        # Posted by a sweep once Slack answers again, not only after a restart.
        ts = await eventually(lambda: posted_ts(api, created["id"]), timeout=170, interval=1.0)
        assert approval_messages(emulator) == [ts]
        failed = [call for call in emulator.calls_to("chat.postMessage") if call.status_code == 500]
        assert failed, "the outage was not met: the test proves nothing"
    assert "render_given_up" in server.log() or "post_failed_will_retry" in server.log()


async def test_a_post_held_up_past_a_worker_restart_opens_one_approval_with_one_message(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    # A rolling deploy while Slack rate-limits posts: the new worker finds an approval over 30 s
    # old and not yet posted, while the API's own post is still waiting out Retry-After.
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with (
        serving(env, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=120) as api,
    ):
        await eventually(lambda: len(worker_pids(server)) == 1)
        (first,) = worker_pids(server)
        emulator.outage("chat.postMessage", seconds=30, status=429, retry_after=60)
        opening = asyncio.create_task(api.post("/v1/approvals", json=approval_request(receiver)))
        await asyncio.sleep(31)
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: len(worker_pids(server)) == 2, timeout=20)

        answer = await opening
        assert answer.status_code == 201, answer.text
        created = answer.json()
        ts = await eventually(lambda: posted_ts(api, created["id"]), timeout=90, interval=1.0)
        # Every post that was under way has ended: the API's (its deadline) and the workers'.
        await eventually(lambda: "approval_posted" in server.log(), timeout=30)
        listed = (await api.get("/v1/approvals")).json()["approvals"]
        assert [approval["id"] for approval in listed] == [created["id"]]
        assert approval_messages(emulator) == [ts]
        assert sum(1 for call in emulator.calls_to("chat.postMessage") if call.status_code == 200) == 1


@pytest.mark.parametrize(
    ("max_attempts", "answers"),
    [
        ("1", [Answer(chunks=["late"], delay=60.0), Answer(chunks=["resumed after the deploy"])]),
        ("2", [Answer(status=500), Answer(chunks=["late"], delay=60.0), Answer(chunks=["resumed after the deploy"])]),
    ],
    ids=["only-attempt", "last-of-two"],
)
async def test_a_stop_during_the_last_allowed_resume_attempt_leaves_it_to_the_next_start(
    emulator: SlackEmulator, tmp_path: Path, max_attempts: str, answers: list[Answer]
) -> None:
    database = f"sqlite:///{tmp_path / 'hitl.db'}"
    env = service_env(
        emulator.base_url, database, SLACK_HITL_SHUTDOWN_GRACE_SECONDS="1", SLACK_HITL_MAX_ATTEMPTS=max_attempts
    )
    with CallbackReceiver(list(answers)) as receiver:
        async with serving(env, tmp_path / "first.log") as server:
            created = await open_over_api(server.url, receiver, ROW)
            click = await user(emulator, server, "U0ALICE", "alice").click(
                CHANNEL, str(created["message_ts"]), button_text="Approve"
            )
            assert click.status_code == 200
            # The last allowed attempt is under way (its callback hangs) when the deploy stops serve.
            await eventually(lambda: len(receiver.received()) == len(answers) - 1, timeout=30)
            assert await server.stop() == 0
        assert "resume_released_at_shutdown" in server.log()

        store = await Store.open(database, create=False)
        try:
            handed_back = await store.get(str(created["id"]))
            assert handed_back.status == "pending" and handed_back.attempts < int(max_attempts)

            async with serving(env, tmp_path / "second.log"):

                async def approved() -> bool:
                    return (await store.get(str(created["id"]))).status == "approved"

                await eventually(approved, timeout=30)
        finally:
            await store.close()
        assert len(receiver.received()) == len(answers)
        assert {call.headers["x-slack-hitl-idempotency-key"] for call in receiver.received()} == {created["id"]}


# -- Slack hanging: every call on the ack path has a deadline ---------------------------------
# The test user waits 30 s for an ack; Slack itself gives up after 3 s. A hung call of 60 s
# that held the ack would fail these tests by the user's timeout, whatever the machine's speed.

HANG_SECONDS = 60.0
INPUT_ROW = {
    "id": "size",
    "title": "choose the size",
    "fields": [InputField(name="replicas", type="integer", min_value=1, max_value=10).model_dump(mode="json")],
}


async def test_a_click_is_acknowledged_while_views_open_hangs_and_the_clicker_is_told(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_over_api(server.url, receiver, [INPUT_ROW])
        emulator.outage("views.open", seconds=HANG_SECONDS, status=None, delay=HANG_SECONDS)
        bob = user(emulator, server, "U0BOB", "bob")
        click = await bob.click(CHANNEL, str(created["message_ts"]), button_text="Provide input")
        assert click.status_code == 200
        await eventually(lambda: any("click again" in e.text for e in emulator.ephemerals("U0BOB")))
        assert emulator.calls_to("views.open"), "views.open was not called: the test proves nothing"


@pytest.mark.parametrize("status", [None, 500], ids=["hung", "failing"])
async def test_a_hung_or_failing_group_lookup_neither_holds_the_ack_nor_is_asked_again_on_every_click(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path, status: int | None
) -> None:
    emulator.add_user_group("S0ONCALL", "oncall", ["U0BOB"])
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    row = {**ROW[0], "deciders": {"group_ids": ["S0ONCALL"]}}
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_over_api(server.url, receiver, [row])
        emulator.outage(
            "usergroups.users.list", seconds=HANG_SECONDS, status=status, delay=HANG_SECONDS if status is None else 0
        )
        bob = user(emulator, server, "U0BOB", "bob")
        lookups = []
        for _ in range(3):
            click = await bob.click(CHANNEL, str(created["message_ts"]), button_text="Approve")
            assert click.status_code == 200
            lookups.append(len(emulator.calls_to("usergroups.users.list")))
        # Fails closed while Slack cannot say who is in the group, and asks Slack for the first click only.
        await eventually(lambda: len([e for e in emulator.ephemerals("U0BOB") if "may not decide" in e.text]) == 3)
        assert lookups[0] >= 1 and lookups[0] == lookups[1] == lookups[2]
        async with httpx.AsyncClient(base_url=server.url, headers=auth()) as api:
            assert (await api.get(f"/v1/approvals/{created['id']}")).json()["status"] == "pending"


async def test_the_api_answers_while_the_first_post_hangs_and_the_message_is_not_posted_twice(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with (
        serving(env, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api,
    ):
        emulator.outage("chat.postMessage", seconds=3, status=None, delay=HANG_SECONDS)
        answer = await api.post("/v1/approvals", json=approval_request(receiver))
        assert answer.status_code == 201, answer.text
        created = answer.json()
        # Slack took the hung post; its answer never came in time. The message it made is found
        # and recorded, not posted again.
        ts = await eventually(lambda: posted_ts(api, created["id"]), timeout=60, interval=0.5)
        assert approval_messages(emulator) == [ts]
        assert "lost_post_found" in server.log()


async def test_a_post_slack_made_but_answered_with_a_504_leaves_no_orphan_message(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with (
        serving(env, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api,
    ):
        emulator.outage("chat.postMessage", seconds=3, status=504, delay=1.0, processed=True)
        answer = await api.post("/v1/approvals", json=approval_request(receiver))
        assert answer.status_code == 201, answer.text
        created = answer.json()
        ts = await eventually(lambda: posted_ts(api, created["id"]), timeout=60, interval=0.5)
        assert approval_messages(emulator) == [ts]
        # The one message is the approval's: a click on it decides, and it is kept up to date.
        click = await user(emulator, server, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve")
        assert click.status_code == 200
        await eventually(lambda: "<@U0ALICE>" in message_text(emulator.message(CHANNEL, ts)), timeout=30)
        assert [call.status_code for call in emulator.calls_to("chat.postMessage")][:1] == [504]


# -- the database away ------------------------------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    cluster = OwnPostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


async def test_while_postgres_is_down_a_clicker_is_told_to_try_again_and_a_later_click_counts(
    emulator: SlackEmulator, receiver: CallbackReceiver, own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    store = await Store.open(own_postgres.url)  # the schema, as `slack-hitl db upgrade` makes it
    await store.close()
    env = service_env(emulator.base_url, own_postgres.url)
    async with (
        serving(env, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api,
    ):
        created = await open_over_api(server.url, receiver, [*ROW, INPUT_ROW])
        ts = str(created["message_ts"])
        alice, bob = user(emulator, server, "U0ALICE", "alice"), user(emulator, server, "U0BOB", "bob")
        assert (await bob.click(CHANNEL, ts, button_text="Provide input")).status_code == 200

        await asyncio.to_thread(own_postgres.stop)
        click = await alice.click(CHANNEL, ts, button_text="Approve")
        assert click.status_code == 200, click.text  # acknowledged, so Slack shows what we tell
        await eventually(lambda: any("try again" in e.text for e in emulator.ephemerals("U0ALICE")))
        assert "click_not_recorded" in server.log()
        # A modal submitted meanwhile stays open, saying so.
        submitted = await bob.submit_view({"replicas": 3})
        assert submitted.status_code == 200 and submitted.json()["response_action"] == "errors", submitted.text
        assert "try again" in next(iter(submitted.json()["errors"].values()))
        away = await api.get(f"/v1/approvals/{created['id']}")
        assert away.status_code == 503 and "Retry-After" in away.headers, away.text

        await asyncio.to_thread(own_postgres.start)

        async def decided() -> bool:
            click = await alice.click(CHANNEL, ts, button_text="Approve")
            assert click.status_code == 200, click.text
            current = (await api.get(f"/v1/approvals/{created['id']}")).json()
            return current["rows"][0]["decision"] is not None

        await eventually(decided, timeout=60, interval=1.0)
        assert (await bob.submit_view({"replicas": 3})).status_code == 200  # the same modal, now recorded
        await eventually(lambda: len(receiver.received()) == 1, timeout=60)
