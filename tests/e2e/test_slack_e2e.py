"""slack_hitl end to end over real HTTP: the app under uvicorn, the real slack_sdk client, the emulator.

The first test runs on SQLite and on PostgreSQL, and over HTTP and Socket Mode.

People click the buttons and fill the modals the app really rendered; their requests are
signed and posted to ``/slack/interactions`` as Slack posts them, or, over Socket Mode, sent
as envelopes over the WebSocket the app (slack_sdk's Socket Mode client) holds to the emulator.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import ScriptedAdapter, button_texts, message_text
from tests.support import four_kinds

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket_mode"])
async def test_four_kinds_decided_in_slack_resume_once_and_stream_into_the_thread(
    database_url: str, socket_mode: bool
) -> None:
    adapter = ScriptedAdapter()
    async with HitlHarness(adapters=[adapter], database_url=database_url, socket_mode=socket_mode) as hitl:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{hitl.url}/healthz")).json() == {"status": "ok"}
        opened = await hitl.engine.open_approval(
            title="Release billing 2.3", requirements=four_kinds(), adapter="scripted"
        )
        approval = await hitl.posted(opened.id)
        channel, ts = hitl.channel, approval.message_ts
        assert ts is not None
        alice, bob = hitl.user("U0ALICE", "alice"), hitl.user("U0BOB", "bob")

        # A confirmation decided by its button.
        answer = await alice.click(channel, ts, button_text="Approve", near="deploy_service")
        assert answer.status_code == 200

        # A user_input row in its modal.
        await bob.click(channel, ts, button_text="Provide input", near="choose the size")
        answer = await bob.submit_view({"replicas": 3, "region": "us-east-1"})
        assert answer.status_code == 200 and not answer.content
        assert hitl.emulator.open_view("U0BOB") is None

        # A feedback question in its modal.
        await alice.click(channel, ts, button_text="Answer", near="ask_user")
        await alice.submit_view({"Which tone for the release notes?": "casual"})

        # An external execution: a wrong result is refused in the modal, then corrected.
        await bob.click(channel, ts, button_text="Submit result", near="run_sql")
        refused = await bob.submit_view({"Result": "{not json"})
        assert refused.json()["response_action"] == "errors"
        assert "not valid JSON" in refused.json()["errors"]["result"]
        assert (await hitl.store.get(approval.id)).row("query").decision is None
        still_open = hitl.emulator.open_view("U0BOB")
        assert still_open is not None and still_open.errors
        await bob.submit_view({"Result": '{"rows": 3}'})

        final = await hitl.engine.wait_until_final(approval.id, timeout=15)
        await hitl.settle()

        assert final.status == "approved"
        assert len(adapter.resumes) == 1
        resume = adapter.resumes[0]
        assert resume.undecided == []
        assert resume.decisions["size"]["values"] == {"replicas": 3, "region": "us-east-1"}
        assert resume.decisions["tone"]["values"] == {"tone": {"selected": ["casual"], "text": None}}
        assert resume.decisions["query"]["result"] == {"rows": 3}
        assert resume.decisions["deploy"]["choices"] == ("approve",)

        # Every decision is on the message, with who made it, and the final outcome.
        shown = message_text(hitl.message(final))
        assert "Approved* (Approve) by <@U0ALICE>" in shown
        assert "replicas: 3" in shown and "region: us-east-1" in shown
        assert "casual" in shown and "<@U0BOB>" in shown
        assert 'Result: {"rows": 3}' in shown
        assert "4 of 4 decided" in shown
        assert ":white_check_mark: *Approved.*" in shown
        assert button_texts(hitl.message(final)) == []

        # The continuation streamed into the thread, and the status was cleared.
        replies = hitl.thread(final)
        streamed = [reply for reply in replies if reply.stream_state is not None]
        assert len(streamed) == 1 and streamed[0].stream_state == "stopped"
        assert "Deploying build 42 to prod." in streamed[0].text
        assert "`kubectl_apply` finished: 3 pods" in streamed[0].text
        assert "Finished Release billing 2.3." in streamed[0].text
        assert streamed[0].recipient_user_id == "U0BOB"  # the last decider
        assert hitl.emulator.thread_status(channel, ts) is None
        assert len(hitl.emulator.calls_to("chat.startStream")) == 1

        if socket_mode:  # every click and submission went over the app's WebSocket, each acked once
            deliveries = hitl.emulator.socket_mode.deliveries
            assert {d.type for d in deliveries} == {"interactive"}
            assert sum(d.acked for d in deliveries) == 8 and all(d.retry_attempt == 0 for d in deliveries)

        # The log holds each decision once, with who made it.
        decided = [entry for entry in await hitl.store.decision_log(approval.id) if entry["event"] == "decided"]
        assert sorted((entry["row_id"], entry["actor"]) for entry in decided) == [
            ("deploy", "U0ALICE"),
            ("query", "U0BOB"),
            ("size", "U0BOB"),
            ("tone", "U0ALICE"),
        ]


async def test_a_failed_resume_is_shown_in_the_thread_and_retried_from_the_message() -> None:
    adapter = ScriptedAdapter(fail_first=1)
    # One automatic attempt only, so the retry is the person's.
    async with HitlHarness(adapters=[adapter], engine_options={"max_attempts": 1}) as hitl:
        opened = await hitl.engine.open_approval(
            title="Nightly import", requirements=four_kinds()[:1], adapter="scripted"
        )
        approval = await hitl.posted(opened.id)
        alice, bob = hitl.user("U0ALICE", "alice"), hitl.user("U0BOB", "bob")
        await alice.click(hitl.channel, approval.message_ts, button_text="Approve")
        await hitl.settle()

        failed = await hitl.store.get(approval.id)
        assert failed.status == "pending" and failed.last_error and len(adapter.resumes) == 1
        assert any("Resuming the run failed" in reply.text for reply in hitl.thread(failed))
        shown = hitl.message(failed)
        assert "Retry" in button_texts(shown)
        assert "deploy API unreachable" in message_text(shown)

        # Two people press Retry at once: the run resumes once more, not twice.
        await asyncio.gather(
            alice.click(hitl.channel, approval.message_ts, button_text="Retry"),
            bob.click(hitl.channel, approval.message_ts, button_text="Retry"),
        )
        final = await hitl.engine.wait_until_final(approval.id, timeout=15)
        await hitl.settle()
        assert final.status == "approved"
        assert len(adapter.resumes) == 2
        assert {resume.idempotency_key for resume in adapter.resumes} == {approval.id}
        assert "Retry" not in button_texts(hitl.message(final))
        loser_notes = hitl.emulator.ephemerals("U0ALICE") + hitl.emulator.ephemerals("U0BOB")
        assert len(loser_notes) == 1
        assert "retrying" in loser_notes[0].text or "resuming" in loser_notes[0].text


async def test_a_nested_pause_posts_a_new_approval_in_the_same_thread() -> None:
    adapter = ScriptedAdapter(nest=True)
    async with HitlHarness(adapters=[adapter]) as hitl:
        opened = await hitl.engine.open_approval(title="Release", requirements=four_kinds()[:1], adapter="scripted")
        parent = await hitl.posted(opened.id)
        alice = hitl.user("U0ALICE", "alice")
        await alice.click(hitl.channel, parent.message_ts, button_text="Approve")
        parent = await hitl.engine.wait_until_final(parent.id, timeout=15)
        await hitl.settle()

        nested_ids = [a.id for a in await hitl.store.list_approvals() if a.parent_id == parent.id]
        assert len(nested_ids) == 1
        nested = await hitl.posted(nested_ids[0])
        assert nested.thread_ts == parent.message_ts
        replies = hitl.thread(parent)
        texts = [message_text(reply) or reply.text for reply in replies]
        pause_note = next(i for i, text in enumerate(texts) if "paused again" in text)
        nested_message = next(i for i, reply in enumerate(replies) if reply.ts == nested.message_ts)
        assert pause_note < nested_message  # the approval comes below what led to it
        assert "roll out to every region" in texts[nested_message]

        # Deciding the nested approval resumes the run again, in the same thread.
        await alice.click(hitl.channel, parent.message_ts, button_text="Approve", near="roll out")
        nested = await hitl.engine.wait_until_final(nested.id, timeout=15)
        await hitl.settle()
        assert nested.status == "approved"
        assert [resume.approval_id for resume in adapter.resumes] == [parent.id, nested.id]
        assert any("Finished Confirm the rollout." in reply.text for reply in hitl.thread(parent))
        assert "*Approved.*" in message_text(hitl.emulator.message(hitl.channel, nested.message_ts))
