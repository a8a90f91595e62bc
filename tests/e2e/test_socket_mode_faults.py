"""Socket Mode under faults: dropped sockets, Slack's ``disconnect``, lost acks and redelivered envelopes.

The app holds its connection with slack_sdk's Socket Mode client; the emulator plays Slack's end
(``slack_hitl.testing.emulator.socket_mode``): it drops sockets, asks for a refresh, loses acks,
and redelivers every envelope it has no ack for. Whatever happens, each row is decided once and
the run resumed once.
"""

from __future__ import annotations

import asyncio

import pytest

from slack_hitl.slack.socket_mode import SocketModeConnection
from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import ScriptedAdapter, confirmations
from tests.support import four_kinds

pytestmark = pytest.mark.anyio

ROWS = 12


async def _decided_log(hitl: HitlHarness, approval_id: str) -> list[tuple[str, str]]:
    log = await hitl.store.decision_log(approval_id)
    return sorted((entry["row_id"], entry["actor"]) for entry in log if entry["event"] == "decided")


async def test_a_burst_survives_a_dropped_socket_and_a_refresh_requested_disconnect() -> None:
    adapter = ScriptedAdapter()
    async with HitlHarness(adapters=[adapter], socket_mode=True) as hitl:
        hub = hitl.emulator.socket_mode
        hub.redelivery_seconds = 1.0
        hub.disconnect_grace_seconds = 0.2
        opened = await hitl.engine.open_approval(
            title="Bulk tool calls", requirements=confirmations(ROWS), adapter="scripted"
        )
        approval = await hitl.posted(opened.id)
        people = [hitl.user(f"U0P{index:02d}", f"person{index}") for index in range(ROWS)]
        await hub.wait_for_connections(1)
        opened_before = hub.connections_opened

        async def click(index: int) -> int:
            answer = await people[index].click(
                hitl.channel, approval.message_ts, button_text="Approve", near=f"tool call {index:02d}"
            )
            return answer.status_code

        first = [asyncio.create_task(click(index)) for index in range(0, ROWS // 2)]
        await asyncio.sleep(0)  # the first half is on its way
        assert await hub.drop() == 1
        second = [asyncio.create_task(click(index)) for index in range(ROWS // 2, ROWS)]
        await hub.wait_for_connections(1)  # the client noticed the drop and connected again
        assert await hub.disconnect("refresh_requested") >= 1
        statuses = await asyncio.gather(*first, *second)

        assert statuses == [200] * ROWS  # every click was acked, on whichever connection
        final = await hitl.engine.wait_until_final(approval.id, timeout=20)
        await hitl.settle()
        assert final.status == "approved"
        assert len(adapter.resumes) == 1
        assert await _decided_log(hitl, approval.id) == sorted((f"r{i:02d}", f"U0P{i:02d}") for i in range(ROWS))
        # The faults did happen: new connections were opened after the drop and after the refresh.
        assert hub.connections_opened >= opened_before + 2
        # Envelopes sent on a socket that closed before their ack were redelivered on the next one.
        redelivered = {d.envelope_id for d in hub.deliveries if d.retry_reason == "connection_closed"}
        assert redelivered and all(
            d.retry_attempt > 0 for d in hub.deliveries if d.envelope_id in redelivered and d.acked
        )
        # Nobody was told their own click was already decided: a redelivery is not a second click.
        assert all(hitl.emulator.ephemerals(person.user_id) == [] for person in people)


async def test_an_envelope_redelivered_after_a_lost_ack_decides_nothing_twice() -> None:
    adapter = ScriptedAdapter()
    async with HitlHarness(adapters=[adapter], socket_mode=True) as hitl:
        hub = hitl.emulator.socket_mode
        hub.redelivery_seconds = 0.5
        rows = [*confirmations(1), four_kinds()[1]]
        opened = await hitl.engine.open_approval(title="Two rows", requirements=rows, adapter="scripted")
        approval = await hitl.posted(opened.id)
        alice = hitl.user("U0ALICE", "alice")

        hub.lose_acks(1)
        answer = await alice.click(hitl.channel, approval.message_ts, button_text="Approve", near="tool call 00")
        assert answer.status_code == 200
        assert alice.last_ack is not None and alice.last_ack.attempts == 2  # sent, not acked, sent again
        redelivered = [d for d in hub.deliveries if d.envelope_id == alice.last_ack.envelope_id]
        assert [(d.retry_attempt, d.retry_reason) for d in redelivered if not d.acked] == [(0, ""), (1, "timeout")]
        await hitl.settle()
        assert await _decided_log(hitl, approval.id) == [("r00", "U0ALICE")]
        assert hitl.emulator.ephemerals("U0ALICE") == []  # not "you already decided"
        assert (await hitl.store.get(approval.id)).status == "pending"

        # The last row, decided in a modal whose submission's ack is lost: redelivered, recorded once.
        await alice.click(hitl.channel, approval.message_ts, button_text="Provide input", near="choose the size")
        hub.lose_acks(1)
        submitted = await alice.submit_view({"replicas": 3})
        assert submitted.status_code == 200 and not submitted.content  # the redelivery's ack closes the modal
        assert alice.last_ack is not None and alice.last_ack.attempts == 2
        assert hitl.emulator.open_view("U0ALICE") is None
        final = await hitl.engine.wait_until_final(approval.id, timeout=15)
        await hitl.settle()
        assert final.status == "approved" and len(adapter.resumes) == 1
        assert await _decided_log(hitl, approval.id) == [("r00", "U0ALICE"), ("size", "U0ALICE")]
        assert adapter.resumes[0].decisions["size"]["values"]["replicas"] == 3


async def test_clicks_during_a_deploy_wait_for_the_new_connection_and_count_once() -> None:
    adapter = ScriptedAdapter()
    async with HitlHarness(adapters=[adapter], socket_mode=True) as hitl:
        hub = hitl.emulator.socket_mode
        hub.redelivery_seconds = 1.0
        opened = await hitl.engine.open_approval(title="Deploy day", requirements=confirmations(4), adapter="scripted")
        approval = await hitl.posted(opened.id)
        people = [hitl.user(f"U0P{index:02d}", f"person{index}") for index in range(4)]
        opened_before = hub.connections_opened

        restarting = asyncio.create_task(hitl.restart())  # the old process stops, a new one starts
        clicks = [
            asyncio.create_task(
                person.click(hitl.channel, approval.message_ts, button_text="Approve", near=f"tool call {index:02d}")
            )
            for index, person in enumerate(people)
        ]
        await restarting
        answers = await asyncio.gather(*clicks)

        assert [answer.status_code for answer in answers] == [200] * 4
        assert hub.connections_opened == opened_before + 1  # the new process's connection
        final = await hitl.engine.wait_until_final(approval.id, timeout=20)
        await hitl.settle()
        assert final.status == "approved" and len(adapter.resumes) == 1
        assert await _decided_log(hitl, approval.id) == sorted((f"r{i:02d}", f"U0P{i:02d}") for i in range(4))
        assert all(hitl.emulator.ephemerals(person.user_id) == [] for person in people)


async def test_a_connection_slack_refuses_at_first_comes_up_in_the_background() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        hub = hitl.emulator.socket_mode
        hitl.emulator.inject_error("apps.connections.open", "internal_error", times=3)
        connection = SocketModeConnection(
            hitl.handler,
            hitl.service.events,
            app_token="xapp-harness",
            web_client=hitl.client,
            ping_interval_seconds=0.2,
            connect_wait_seconds=0.1,
        )
        await connection.start()  # returns: it keeps trying in the background
        try:
            assert not connection.connected
            await hub.wait_for_connections(1, timeout=20)
            # The emulator sees the socket a moment before slack_sdk records its session.
            for _ in range(100):
                if connection.connected:
                    break
                await asyncio.sleep(0.05)
            assert connection.connected
            refused = [call for call in hitl.emulator.calls_to("apps.connections.open") if not call.response["ok"]]
            assert len(refused) == 3
        finally:
            await connection.stop()
        assert not connection.connected


async def test_an_envelope_carrying_a_lone_surrogate_decides_nothing() -> None:
    # The HTTP endpoint refuses such a payload with a 400; over Socket Mode it gets a bare ack.
    adapter = ScriptedAdapter()
    async with HitlHarness(adapters=[adapter], socket_mode=True) as hitl:
        opened = await hitl.engine.open_approval(title="One call", requirements=confirmations(1), adapter="scripted")
        approval = await hitl.posted(opened.id)
        await hitl.emulator.socket_mode.wait_for_connections(1)
        forged = hitl.user("U0BAD", "bad\ud800name")
        answer = await forged.click(hitl.channel, approval.message_ts, button_text="Approve")
        assert answer.status_code == 200 and forged.last_ack.payload is None
        assert await _decided_log(hitl, approval.id) == []
        assert (await hitl.store.get(approval.id)).decided_count == 0

        honest = hitl.user("U0OK", "honest")
        assert (await honest.click(hitl.channel, approval.message_ts, button_text="Approve")).status_code == 200
        assert await _decided_log(hitl, approval.id) == [("r00", "U0OK")]
