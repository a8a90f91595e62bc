"""``/slack/events`` over HTTP and Socket Mode envelopes that are not ours or not well formed.

Nothing that does not verify is acted on; bad input gets a clear 4xx (over HTTP) or a bare ack
(over Socket Mode, where Slack would only redeliver it) and changes nothing.
"""

from __future__ import annotations

import json

import httpx
import pytest

from slack_hitl.slack.signature import sign_request
from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import ScriptedAdapter, confirmations

pytestmark = pytest.mark.anyio


def signed(secret: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", **sign_request(secret, body)}


async def test_the_events_url_answers_the_challenge_and_refuses_what_does_not_verify() -> None:
    async with HitlHarness() as hitl, httpx.AsyncClient(base_url=hitl.url) as client:
        challenge = json.dumps(
            {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
        ).encode()
        answer = await client.post("/slack/events", content=challenge, headers=signed(hitl.signing_secret, challenge))
        assert answer.status_code == 200
        assert answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}

        opened = json.dumps(
            {"type": "event_callback", "event": {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}}
        ).encode()
        forged = await client.post("/slack/events", content=opened, headers=signed("not-the-secret", opened))
        assert forged.status_code == 401 and forged.json()["error"] == "invalid_signature"

        for bad in (b"not json", b"[1, 2]", json.dumps({"type": "event_callback", "event": "x"}).encode()):
            refused = await client.post("/slack/events", content=bad, headers=signed(hitl.signing_secret, bad))
            assert refused.status_code == 400 and refused.json()["error"] == "malformed_payload", bad
        await hitl.settle()
        assert hitl.emulator.calls_to("views.publish") == []  # nothing was acted on

        other = json.dumps({"type": "event_callback", "event": {"type": "message", "text": "hi"}}).encode()
        assert (
            await client.post("/slack/events", content=other, headers=signed(hitl.signing_secret, other))
        ).status_code == 200
        await hitl.settle()
        assert hitl.emulator.calls_to("views.publish") == []


async def test_malformed_or_foreign_envelopes_are_acked_bare_and_change_nothing() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()], socket_mode=True) as hitl:
        opened = await hitl.engine.open_approval(title="One row", requirements=confirmations(1), adapter="scripted")
        approval = await hitl.posted(opened.id)
        hub = hitl.emulator.socket_mode
        malformed = {"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": []}
        foreign_button = {
            "type": "block_actions",
            "user": {"id": "U0ALICE"},
            "actions": [{"action_id": "someone_else:approve", "value": "x"}],
        }
        for kind, payload in (
            ("interactive", malformed),
            ("interactive", foreign_button),
            ("slash_commands", {"command": "/deploy", "text": "prod"}),
            ("events_api", {"type": "event_callback", "event": {"type": "app_mention"}}),
        ):
            acked = await hub.deliver(kind, payload, timeout=10)
            assert acked.payload is None and acked.attempts == 1, kind
        await hitl.settle()
        stored = await hitl.store.get(approval.id)
        assert stored.status == "pending" and stored.decided_count == 0
