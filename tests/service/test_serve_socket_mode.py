"""``slack-hitl serve --socket-mode`` as real processes: no public URL, Slack's envelopes over a WebSocket.

Two processes on one PostgreSQL database each hold a connection to the emulator; the emulator
spreads envelopes over both (as Slack spreads them over up to ten), so contested last-row clicks
land on different processes, and envelopes whose ack was lost are redelivered to the other
process. Each row is still decided once and each approval resumed exactly once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import (
    API_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    Answer,
    CallbackReceiver,
    ServeProcess,
    auth,
    db_upgrade,
    eventually,
    open_over_api,
    service_env,
)

pytestmark = pytest.mark.anyio

APPROVALS = 3
ROWS = 4


def socket_user(emulator: SlackEmulator, user_id: str, name: str) -> SlackTestUser:
    return SlackTestUser(emulator, "", SIGNING_SECRET, user_id, name, transport="socket_mode")


async def test_two_socket_mode_processes_on_postgres_resume_each_approval_once(
    emulator: SlackEmulator, receiver: CallbackReceiver, postgres_url: str, tmp_path: Path
) -> None:
    upgraded = await db_upgrade(postgres_url)
    assert upgraded.returncode == 0, upgraded.stderr
    receiver.answers = [Answer(chunks=["Resumed once."])]
    env = service_env(emulator.base_url, postgres_url, SLACK_APP_TOKEN="xapp-service-test")
    # Both start at once: on a loaded machine, a start takes a while.
    first, second = (ServeProcess(env, tmp_path / f"{name}.log", args=["--socket-mode"]) for name in "ab")
    try:
        await asyncio.gather(first.wait_ready(timeout=90), second.wait_ready(timeout=90))
        await emulator.socket_mode.wait_for_connections(2)
        rows = [{"id": f"r{i}", "title": f"tool call {i}", "requires_confirmation": True} for i in range(ROWS)]
        created = [await open_over_api(first.url, receiver, rows) for _ in range(APPROVALS)]
        alice, bob = socket_user(emulator, "U0ALICE", "alice"), socket_user(emulator, "U0BOB", "bob")
        # Two acks are lost: that envelope is redelivered, in turn to the other process.
        emulator.socket_mode.redelivery_seconds = 1.0
        emulator.socket_mode.lose_acks(2)
        for approval in created:
            ts = str(approval["message_ts"])
            for index in range(ROWS - 1):
                clicked = await alice.click(CHANNEL, ts, button_text="Approve", near=f"tool call {index}")
                assert clicked.status_code == 200
        # Every approval's last row, clicked by two people at once: consecutive envelopes go to both connections.
        contested = [(person, str(approval["message_ts"])) for approval in created for person in (alice, bob)]
        answers = await asyncio.gather(
            *(
                person.click(CHANNEL, ts, button_text="Approve", near=f"tool call {ROWS - 1}")
                for person, ts in contested
            )
        )
        assert [answer.status_code for answer in answers] == [200] * len(contested)
        last_envelopes = emulator.socket_mode.deliveries[-len(contested) :]
        assert len({delivery.connection_id for delivery in last_envelopes if delivery.acked}) == 2

        async with httpx.AsyncClient(base_url=first.url, headers=auth(API_TOKEN), timeout=30) as api:
            for approval in created:

                async def final(approval_id: str = str(approval["id"])) -> bool:
                    current = (await api.get(f"/v1/approvals/{approval_id}", params={"wait": 5})).json()
                    return bool(current["status"] == "approved")

                await eventually(final, timeout=30)
        await asyncio.sleep(1.0)  # several sweeps of both processes: still one call each
        resumed = sorted(call.headers["x-slack-hitl-idempotency-key"] for call in receiver.received())
        assert resumed == sorted(str(approval["id"]) for approval in created)  # one resume per approval

        # Of each contested pair, one decided the row and the other was told who had.
        def already_decided_notes() -> int:
            notes = emulator.ephemerals("U0ALICE") + emulator.ephemerals("U0BOB")
            return sum("already decided" in note.text for note in notes)

        await eventually(lambda: already_decided_notes() == APPROVALS)
        # The first click's envelope went three times (two acks lost), over both connections.
        resent = [d for d in emulator.socket_mode.deliveries if d.retry_reason == "timeout" and not d.acked]
        assert len(resent) == 2 and len({d.envelope_id for d in resent}) == 1
        first_click = [d for d in emulator.socket_mode.deliveries if d.envelope_id == resent[0].envelope_id]
        assert len({d.connection_id for d in first_click}) == 2
        # A redelivered click is recognised by the other process too: nobody is told they already decided.
        assert not any(note.text.startswith("You already decided") for note in emulator.ephemerals("U0ALICE"))
    except BaseException:
        print(first.log(), second.log())
        raise
    finally:
        first.kill()
        second.kill()
