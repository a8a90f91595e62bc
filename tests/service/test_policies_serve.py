"""Approval policies from the outside: ``slack-hitl serve`` processes, the real slack-sdk client, the
Slack emulator and the HTTP API. Four-eyes refuses the requester with an ephemeral saying why; a
2-of-3 quorum row of a user group is decided by the second distinct approval; and 20 approvals
whose 3-of-5 row five people click at once through two processes on PostgreSQL each count exactly
three approvals, one decision and one resume."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser, rendered_buttons
from tests.service.support import (
    CALLBACK_SECRET,
    CHANNEL,
    SIGNING_SECRET,
    SLACK_HITL,
    CallbackReceiver,
    ServeProcess,
    auth,
    eventually,
    message_text,
    service_env,
    serving,
    thread_texts,
)

pytestmark = pytest.mark.anyio

SRE = "S0SRE"
SRE_PEOPLE = [("U0ANA", "ana"), ("U0BEN", "ben"), ("U0CAT", "cat")]


def user(emulator: SlackEmulator, server: ServeProcess, user_id: str, name: str) -> SlackTestUser:
    return SlackTestUser(emulator, server.interactions_url, SIGNING_SECRET, user_id, name)


async def open_approval(server: ServeProcess, receiver: CallbackReceiver, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        answer = await api.post(
            "/v1/approvals",
            json={"channel": CHANNEL, "callback": {"url": receiver.url, "secret": CALLBACK_SECRET}, **body},
        )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def approval_now(server: ServeProcess, approval_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        answer = await api.get(f"/v1/approvals/{approval_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def shown(emulator: SlackEmulator, ts: str) -> str:
    return message_text(emulator.message(CHANNEL, ts))


async def test_the_requester_is_refused_on_their_own_row_with_an_ephemeral_saying_why(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_approval(
            server,
            receiver,
            title="Pay invoice 1142",
            requested_by="U0ALICE",
            requirements=[
                {"id": "pay", "kind": "confirmation", "title": "pay 4,200 EUR", "deciders": {"not_requester": True}}
            ],
        )
        assert created["requested_by"] == "U0ALICE"
        ts = str(created["message_ts"])
        assert "Four-eyes: not <@U0ALICE>" in shown(emulator, ts)

        clicked = await user(emulator, server, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve")
        assert clicked.status_code == 200
        note = await eventually(lambda: emulator.ephemerals("U0ALICE"))
        assert "You requested this approval" in note[0].text and "four-eyes" in note[0].text
        assert (await approval_now(server, created["id"]))["rows"][0]["decision"] is None

        await user(emulator, server, "U0BOB", "bob").click(CHANNEL, ts, button_text="Approve")

        async def approved() -> dict[str, Any] | None:
            current = await approval_now(server, created["id"])
            return current if current["status"] == "approved" else None

        final = await eventually(approved, timeout=20)
        assert final["rows"][0]["decided_by"]["id"] == "U0BOB"
        await eventually(lambda: len(receiver.received()) == 1)


async def test_a_two_of_three_quorum_row_of_a_user_group(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    for user_id, name in SRE_PEOPLE:
        emulator.add_user(user_id, name)
    emulator.add_user_group(SRE, "sre", [user_id for user_id, _ in SRE_PEOPLE])
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_approval(
            server,
            receiver,
            title="Failover the primary database",
            requirements=[
                {
                    "id": "failover",
                    "kind": "confirmation",
                    "title": "fail over db-1",
                    "deciders": {"group_ids": [SRE]},
                    "confirmation": {"approvals_needed": 2},
                }
            ],
        )
        ts = str(created["message_ts"])
        assert "Needs 2 approvals from different people" in shown(emulator, ts)
        ana, ben = (user(emulator, server, uid, name) for uid, name in SRE_PEOPLE[:2])

        assert (await ana.click(CHANNEL, ts, button_text="Approve")).status_code == 200
        await eventually(lambda: "Approvals 1 of 2: <@U0ANA>" in shown(emulator, ts))
        # The same person again counts once, and is told so.
        await user(emulator, server, "U0ANA", "ana").click(CHANNEL, ts, button_text="Approve")
        await eventually(lambda: any("each person counts once" in n.text for n in emulator.ephemerals("U0ANA")))
        # Someone outside the group is refused.
        await user(emulator, server, "U0MALLORY", "mallory").click(CHANNEL, ts, button_text="Approve")
        await eventually(lambda: any("may not decide" in n.text for n in emulator.ephemerals("U0MALLORY")))
        current = await approval_now(server, created["id"])
        assert current["status"] == "pending"
        assert [v["voter"]["id"] for v in current["rows"][0]["votes"]] == ["U0ANA"]

        await ben.click(CHANNEL, ts, button_text="Approve")

        async def approved() -> dict[str, Any] | None:
            now = await approval_now(server, created["id"])
            return now if now["status"] == "approved" else None

        final = await eventually(approved, timeout=20)
        assert [v["voter"]["id"] for v in final["rows"][0]["votes"]] == ["U0ANA", "U0BEN"]
        await eventually(lambda: "<@U0ANA>, <@U0BEN>" in shown(emulator, ts))
        await eventually(lambda: len(receiver.received()) == 1)
        await asyncio.sleep(1.0)  # a few sweeps: still one callback
        assert len(receiver.received()) == 1


@pytest.mark.postgres
async def test_twenty_approvals_whose_three_of_five_row_five_people_click_at_once_through_two_processes(
    emulator: SlackEmulator, receiver: CallbackReceiver, postgres_url: str, tmp_path: Path
) -> None:
    upgraded = await asyncio.to_thread(
        subprocess.run,
        [str(SLACK_HITL), "db", "upgrade", "--database-url", postgres_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    people = [(f"U0P{i}", f"person{i}") for i in range(5)]
    env = service_env(emulator.base_url, postgres_url)
    async with serving(env, tmp_path / "a.log") as first, serving(env, tmp_path / "b.log") as second:
        servers = (first, second)
        created = [
            await open_approval(
                first,
                receiver,
                title=f"Change {n}",
                requirements=[
                    {
                        "id": "change",
                        "kind": "confirmation",
                        "title": f"change {n}",
                        "confirmation": {"approvals_needed": 3},
                    }
                ],
            )
            for n in range(20)
        ]
        # Each row's five people click at once, half through each process; a few rows at a time
        # (Slack's 3 s ack deadline holds on a loaded two-core machine too).
        answers = []
        for first_row in range(0, len(created), 4):
            clicks = [
                user(emulator, servers[i % 2], user_id, name).click(
                    CHANNEL, str(approval["message_ts"]), button_text="Approve"
                )
                for approval in created[first_row : first_row + 4]
                for i, (user_id, name) in enumerate(people)
            ]
            answers += await asyncio.gather(*clicks)
        assert len(answers) == 100
        assert {answer.status_code for answer in answers} == {200}

        async def all_approved() -> list[dict[str, Any]] | None:
            now = [await approval_now(second, approval["id"]) for approval in created]
            return now if all(a["status"] == "approved" for a in now) else None

        finals = await eventually(all_approved, timeout=60)
        for final in finals:
            votes = final["rows"][0]["votes"]
            assert len(votes) == 3 and len({v["voter"]["id"] for v in votes}) == 3
            assert final["attempts"] == 1  # one resume
        await asyncio.sleep(1.5)  # several sweeps of both processes: still one callback each
        called = sorted(call.body for call in receiver.received())
        assert len(called) == 20
        assert len({approval["id"] for approval in created}) == 20
        # The two late clickers of each row were told it was decided.
        told = sum(
            1
            for user_id, _ in people
            for note in emulator.ephemerals(user_id)
            if "already decided" in note.text or "takes no more decisions" in note.text
        )
        assert told == 40


async def test_a_decision_changed_before_the_last_row_and_a_change_refused_after_it(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_approval(
            server,
            receiver,
            title="Ship 4.1",
            requirements=[
                {"id": "ship", "kind": "confirmation", "title": "ship the release"},
                {"id": "announce", "kind": "confirmation", "title": "announce it"},
            ],
        )
        ts = str(created["message_ts"])
        alice, bob = user(emulator, server, "U0ALICE", "alice"), user(emulator, server, "U0BOB", "bob")
        await alice.click(CHANNEL, ts, button_text="Approve", near="ship the release")
        await eventually(
            lambda: "Change" in [b.text for b in rendered_buttons(emulator.message_payload(CHANNEL, ts))], timeout=40
        )

        # Only the decider may change it.
        await bob.click(CHANNEL, ts, button_text="Change", near="ship the release")
        await eventually(
            lambda: any("Only the person who decided" in n.text for n in emulator.ephemerals("U0BOB")), timeout=40
        )
        await alice.click(CHANNEL, ts, button_text="Change", near="ship the release")
        await eventually(lambda: any("is withdrawn" in n.text for n in emulator.ephemerals("U0ALICE")), timeout=40)
        await eventually(
            lambda: any(
                b.text == "Reject" and "ship the release" in b.near_text
                for b in rendered_buttons(emulator.message_payload(CHANNEL, ts))
            ),
            timeout=40,
        )
        await alice.click(CHANNEL, ts, button_text="Reject", near="ship the release")
        await eventually(lambda: "Rejected" in shown(emulator, ts), timeout=40)
        stale = emulator.message_payload(CHANNEL, ts)  # still offers Alice her change

        await bob.click(CHANNEL, ts, button_text="Approve", near="announce it")

        async def final() -> dict[str, Any] | None:
            now = await approval_now(server, created["id"])
            return now if now["status"] == "completed" else None

        done = await eventually(final, timeout=20)
        assert done["rows"][0]["decision"]["outcome"] == "rejected"
        # A click on the Change button of the message as it was before the last row: refused, nothing changes.
        change = next(b for b in rendered_buttons(stale) if b.text == "Change")
        notes_before = len(emulator.ephemerals("U0ALICE"))
        assert (await alice.click_rendered(CHANNEL, stale, change)).status_code == 200
        await eventually(lambda: len(emulator.ephemerals("U0ALICE")) > notes_before, timeout=40)
        assert "takes no more decisions" in emulator.ephemerals("U0ALICE")[-1].text
        assert (await approval_now(server, created["id"]))["rows"][0]["decision"]["outcome"] == "rejected"
        # The message of the finished approval, once the worker has re-rendered it, offers no change.
        await eventually(
            lambda: "Change" not in [b.text for b in rendered_buttons(emulator.message_payload(CHANNEL, ts))],
            timeout=40,
        )


def purchase_rows() -> list[dict[str, Any]]:
    return [
        {"id": "manager", "kind": "confirmation", "title": "manager approves", "step": 1},
        {"id": "finance", "kind": "confirmation", "title": "finance approves", "step": 2},
    ]


async def test_a_two_step_approval_step_two_locked_until_step_one(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_approval(server, receiver, title="Purchase 88 laptops", requirements=purchase_rows())
        ts = str(created["message_ts"])
        assert "Step 2: waits until step 1 is approved" in shown(emulator, ts)
        labels = [(b.text, b.near_text) for b in rendered_buttons(emulator.message_payload(CHANNEL, ts))]
        assert all("finance approves" not in near for _, near in labels)  # a locked row has no buttons
        # A stale or crafted click on the locked row is refused and changes nothing.
        manager = rendered_buttons(emulator.message_payload(CHANNEL, ts))[0]
        assert manager.value is not None
        crafted = dataclasses.replace(manager, value=manager.value.replace('"r":"manager"', '"r":"finance"'))
        assert crafted.value != manager.value
        bob = user(emulator, server, "U0BOB", "bob")
        await bob.click_rendered(CHANNEL, emulator.message_payload(CHANNEL, ts), crafted)
        await eventually(lambda: any("is in step 2" in n.text for n in emulator.ephemerals("U0BOB")))
        assert all(row["decision"] is None for row in (await approval_now(server, created["id"]))["rows"])

        await user(emulator, server, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve", near="manager")
        await eventually(lambda: "waits until step 1" not in shown(emulator, ts))
        await bob.click(CHANNEL, ts, button_text="Approve", near="finance approves")

        async def approved() -> dict[str, Any] | None:
            now = await approval_now(server, created["id"])
            return now if now["status"] == "approved" else None

        final = await eventually(approved, timeout=20)
        assert [row["decided_by"]["id"] for row in final["rows"]] == ["U0ALICE", "U0BOB"]


async def test_a_rejection_at_step_one_ends_a_two_step_approval_with_no_step_two_request(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        created = await open_approval(server, receiver, title="Purchase a yacht", requirements=purchase_rows())
        ts = str(created["message_ts"])
        await user(emulator, server, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Reject", near="manager")

        async def rejected() -> dict[str, Any] | None:
            now = await approval_now(server, created["id"])
            return now if now["status"] == "rejected" else None

        final = await eventually(rejected, timeout=20)
        finance = final["rows"][1]
        assert finance["decision"]["reason"] == "an earlier step was rejected"
        assert finance["decided_by"]["id"] == "system"
        await eventually(lambda: len(receiver.received()) == 1)
        # Step 2 was never put to anyone: no button for it was ever rendered, before or after.
        assert all(
            "finance approves" not in button.near_text
            for button in rendered_buttons(emulator.message_payload(CHANNEL, ts))
        )
        assert not any(call.params.get("channel") != CHANNEL for call in emulator.calls_to("chat.postMessage"))


def reminder_numbers(emulator: SlackEmulator, ts: str) -> list[int]:
    found = [re.search(r"Reminder (\d+)", text) for text in thread_texts(emulator, CHANNEL, ts)]
    return [int(match.group(1)) for match in found if match]


def escalations(emulator: SlackEmulator, ts: str) -> int:
    return sum("Escalated" in text for text in thread_texts(emulator, CHANNEL, ts))


@pytest.mark.postgres
async def test_reminders_and_an_escalation_fire_once_each_across_two_processes_and_after_a_restart(
    emulator: SlackEmulator, receiver: CallbackReceiver, postgres_url: str, tmp_path: Path
) -> None:
    upgraded = await asyncio.to_thread(
        subprocess.run,
        [str(SLACK_HITL), "db", "upgrade", "--database-url", postgres_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    env = service_env(emulator.base_url, postgres_url)
    first, second = ServeProcess(env, tmp_path / "a.log"), ServeProcess(env, tmp_path / "b.log")
    try:
        await first.wait_ready()
        await second.wait_ready()
        created = await open_approval(
            first,
            receiver,
            title="Rotate the signing key",
            reminders={
                "every_seconds": 1.5,
                "escalate_after_seconds": 2.0,
                "escalate_to": {"user_ids": ["U0CAROL"]},
            },
            requirements=[
                {"id": "rotate", "kind": "confirmation", "title": "rotate it", "deciders": {"user_ids": ["U0ALICE"]}}
            ],
        )
        ts = str(created["message_ts"])
        await eventually(
            lambda: len(reminder_numbers(emulator, ts)) >= 3 and escalations(emulator, ts) == 1, timeout=30
        )
        assert "<@U0ALICE>" in next(t for t in thread_texts(emulator, CHANNEL, ts) if "Reminder 1" in t)
        assert "<@U0CAROL>" in next(t for t in thread_texts(emulator, CHANNEL, ts) if "Escalated" in t)
        assert await first.stop() == 0 and await second.stop() == 0
        before = reminder_numbers(emulator, ts)
        assert before == list(range(1, len(before) + 1))  # each interval's reminder once, none repeated

        # A restart picks up where the last process left off: the next number, no repeat.
        restarted = ServeProcess(env, tmp_path / "c.log")
        try:
            await restarted.wait_ready()
            await eventually(lambda: len(reminder_numbers(emulator, ts)) >= len(before) + 1, timeout=30)
            stored = await approval_now(restarted, created["id"])
            assert stored["escalated"] is True
            # The escalation let Carol decide the row that named only Alice.
            await user(emulator, restarted, "U0CAROL", "carol").click(CHANNEL, ts, button_text="Approve")

            async def approved() -> dict[str, Any] | None:
                now = await approval_now(restarted, created["id"])
                return now if now["status"] == "approved" else None

            final = await eventually(approved, timeout=20)
            assert final["rows"][0]["decided_by"]["id"] == "U0CAROL"
            assert await restarted.stop() == 0
        finally:
            restarted.kill()
        after = reminder_numbers(emulator, ts)
        assert after == list(range(1, len(after) + 1)) and len(after) > len(before)
        assert escalations(emulator, ts) == 1
        store = await Store.open(postgres_url, create=False)
        try:
            assert after[-1] == (await store.get(created["id"])).reminders_sent  # every recorded one was shown once
        finally:
            await store.close()
    finally:
        for server in (first, second):
            server.kill()
