"""Keeping the message true: coalesced updates, 429s, restarts, overflow parts, failed posts.

All through the running app and the real slack_sdk client against the emulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import pytest

from slack_hitl import SYSTEM, Approval, ContinuationEvent, Done, Requirement
from slack_hitl.slack.documented_limits import MESSAGE_TEXT, slack_length
from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import ScriptedAdapter, click_all, confirmations, message_text

pytestmark = pytest.mark.anyio


async def _open(hitl: HitlHarness, requirements: list[Requirement]) -> Approval:
    opened = await hitl.engine.open_approval(title="Batch", requirements=requirements, adapter="scripted")
    return await hitl.posted(opened.id)


def _all_text(hitl: HitlHarness, approval: Approval) -> str:
    parts = [hitl.message(approval), *hitl.thread(approval)]
    return "\n".join(message_text(part) for part in parts)


async def test_a_burst_of_30_decisions_is_a_handful_of_updates() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()], update_window_seconds=0.4) as hitl:
        # 31 rows, 30 decided: the approval stays pending, so only the burst's updates are counted.
        approval = await _open(hitl, confirmations(31))
        parts = await hitl.publisher.messages.parts(approval.id)
        assert len(parts) == 2  # 20 rows in the message, 11 in its thread
        alice = hitl.user("U0ALICE", "alice")
        acks = await click_all(hitl, approval.message_ts, [(alice, "Approve", f"tool call {i:02d}") for i in range(30)])
        assert max(acks) < 3.0
        await hitl.settle()

        stored = await hitl.store.get(approval.id)
        assert stored.decided_count == 30
        updates = hitl.emulator.calls_to("chat.update")
        # Each pass updates both parts; a burst of 30 is one or two passes, not 30.
        assert 2 <= len(updates) <= 8, len(updates)
        assert len(updates) / 30 < 0.5
        shown = _all_text(hitl, stored)
        assert "30 of 31 decided" in shown
        assert shown.count("*Approved* (Approve) by <@U0ALICE>") == 30
        assert await hitl.publisher.messages.out_of_date() == []


async def test_with_a_fifth_of_updates_rate_limited_every_decision_still_shows() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()], update_window_seconds=0.3) as hitl:
        # With seed 4 the 2nd, 4th and 5th calls get a 429.
        hitl.emulator.rate_limit("chat.update", fraction=0.2, retry_after=1, seed=4)
        approval = await _open(hitl, confirmations(30))
        people = [hitl.user(f"U0P{index:02d}", f"person{index}") for index in range(3)]
        for wave in range(3):  # three bursts, each landing while earlier updates may be waiting out a 429
            clicks = [(people[i % 3], "Approve", f"tool call {wave * 10 + i:02d}") for i in range(10)]
            await click_all(hitl, approval.message_ts, clicks)
            await asyncio.sleep(0.4)
        final = await hitl.engine.wait_until_final(approval.id, timeout=30)
        await hitl.settle(timeout=60)

        calls = hitl.emulator.calls_to("chat.update")
        limited = [call for call in calls if call.status_code == 429]
        assert limited, "the rate limit was never hit; the test proves nothing"
        answered = [call for call in calls if call.ok]
        assert len(answered) < 30 / 2, len(answered)
        shown = _all_text(hitl, final)
        assert "30 of 30 decided" in shown
        assert shown.count("*Approved* (Approve) by <@U0P") == 30
        assert ":white_check_mark: *Approved.*" in shown
        assert await hitl.publisher.messages.out_of_date() == []


async def test_a_re_render_due_when_the_process_stopped_is_done_after_restart() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()], update_window_seconds=30) as hitl:
        approval = await _open(hitl, confirmations(3))
        alice = hitl.user("U0ALICE", "alice")
        await alice.click(hitl.channel, approval.message_ts, button_text="Approve", near="tool call 01")
        # The process dies before its update window closes: nothing was re-rendered.
        await hitl.publisher.close()
        assert await hitl.publisher.messages.out_of_date() == [approval.id]
        assert "0 of 3 decided" in message_text(hitl.message(approval))

        hitl.update_window_seconds = 0.05
        await hitl.restart()
        await hitl.settle()
        shown = message_text(hitl.message(approval))
        assert "1 of 3 decided" in shown
        assert "*Approved* (Approve) by <@U0ALICE>" in shown
        assert await hitl.publisher.messages.out_of_date() == []


async def test_rows_beyond_one_message_go_to_the_thread_and_are_decidable_there() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        approval = await _open(hitl, confirmations(45))
        parts = await hitl.publisher.messages.parts(approval.id)
        assert [(part.first_row, part.last_row) for part in parts] == [(0, 19), (20, 39), (40, 44)]
        replies = hitl.thread(approval)
        assert [reply.ts for reply in replies] == [part.ts for part in parts[1:]]
        assert "Rows 41-45 of 45" in message_text(replies[1])

        bob = hitl.user("U0BOB", "bob")
        await bob.click(hitl.channel, approval.message_ts, button_text="Reject", near="tool call 44")
        await hitl.settle()
        assert "*Rejected* (Reject) by <@U0BOB>" in message_text(hitl.emulator.message(hitl.channel, parts[2].ts))
        assert "1 of 45 decided" in message_text(hitl.message(approval))


async def test_a_post_slack_refused_is_retried_without_posting_twice() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        hitl.emulator.inject_error("chat.postMessage", "internal_error", times=1)
        opened = await hitl.engine.open_approval(title="Batch", requirements=confirmations(2), adapter="scripted")
        assert opened.message_ts is None
        approval = await hitl.posted(opened.id)
        await hitl.settle()
        assert len(hitl.emulator.messages(hitl.channel)) == 1
        assert "0 of 2 decided" in message_text(hitl.message(approval))


async def test_an_approval_that_was_never_posted_is_posted_on_start() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        # Stored, then the process died before posting it.
        stored, _ = await hitl.store.insert_approval(
            title="Orphan",
            requirements=confirmations(1),
            adapter="scripted",
            resume_state={},
            channel=None,
            thread_ts=None,
            parent_id=None,
            expires_at=None,
            expiry_policy="reject",
            idempotency_key=None,
            actor=SYSTEM,
        )
        hitl.publisher.unposted_grace = dt.timedelta(0)
        assert await hitl.publisher.rerender_stale() == 1
        approval = await hitl.posted(stored.id)
        await hitl.settle()
        assert "Orphan" in message_text(hitl.message(approval))
        assert len(hitl.emulator.messages(hitl.channel)) == 1


@dataclass
class _FailingWithMarkup:
    """A resume whose error is all characters mrkdwn must escape (each grows to 4 or 5)."""

    name: str = "failing"

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        raise RuntimeError("<&>" * 2000)
        yield Done()  # an async generator, as adapters are


async def test_a_failed_resume_s_error_is_escaped_then_cut_to_fit_the_thread_message() -> None:
    async with HitlHarness(adapters=[_FailingWithMarkup()], engine_options={"max_attempts": 1}) as hitl:
        opened = await hitl.engine.open_approval(title="Batch", requirements=confirmations(1), adapter="failing")
        approval = await hitl.posted(opened.id)
        await hitl.user("U0ALICE", "alice").click(hitl.channel, approval.message_ts, button_text="Approve")
        await hitl.settle()

        [failure] = [reply for reply in hitl.thread(approval) if "Resuming the run failed" in reply.text]
        assert "&lt;&amp;&gt;" in failure.text
        assert slack_length(failure.text) <= MESSAGE_TEXT
        assert "<&>" not in failure.text


async def test_a_long_note_is_posted_whole_in_numbered_replies_and_a_failed_one_goes_on_where_it_stopped() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        approval = await _open(hitl, confirmations(1))
        output = "\n\n".join(f"Paragraph {i}: " + "words " * 60 for i in range(40))  # ~15k characters
        client = hitl.publisher.client
        post = client.chat_postMessage

        async def fail_after_the_first_reply(**kwargs):  # Slack fails on the second reply only
            answer = await post(**kwargs)
            hitl.emulator.inject_error("chat.postMessage", "internal_error", times=1)
            client.chat_postMessage = post
            return answer

        client.chat_postMessage = fail_after_the_first_reply
        assert await hitl.publisher.post_note(approval, output) is False
        assert len(hitl.thread(approval)) == 1
        assert await hitl.publisher.post_note(approval, output) is True
        replies = [message.text for message in hitl.thread(approval)]
        count = len(replies)  # each reply once: the retry did not post the first ones again
        assert count == -(-len(output) // 3_900) and all(len(text) <= 4000 for text in replies)
        assert [text.split("\n")[0] for text in replies] == [f"_({n}/{count})_" for n in range(1, count + 1)]
        shown = "".join(text.split("\n", 1)[1] for text in replies)
        assert all(f"Paragraph {i}: words" in shown for i in range(40))
