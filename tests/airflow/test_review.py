"""common-ai's review loop from Slack: each iteration a row, Request changes goes to the provider's plugin,
the regenerated output comes back as the next iteration in the same thread, and the trace keeps it all.

Against the stand-in Airflow's review plugin and worker (tests/airflow/fake_airflow.py); the real
provider runs in test_airflow_e2e.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from slack_hitl import Actor, AlreadyDecided, DecisionInput, DecisionInvalid, Done, TextDelta, ToolProgress
from slack_hitl.store import PostedPart, SlackMessages

pytestmark = pytest.mark.anyio

ALICE = Actor(id="U0ALICE", name="alice")
OUTPUTS = ["Draft 1: we are sorry.", "Draft 2: sorry, a refund is on its way.", "Draft 3: refunded, 3 days."]


async def review_approval(engine, parent_id=None, timeout=10.0):
    """The pending review approval (the nested one of ``parent_id`` when given), once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for approval in await engine.store.list_approvals(status="pending"):
            if approval.parent_id == parent_id:
                return approval
        await asyncio.sleep(0.05)
    raise AssertionError("no review approval was opened")


async def test_two_rounds_of_changes_then_approve_each_iteration_in_the_thread_and_all_of_it_in_the_trace(
    fake_airflow, make_bridge, engine, publisher
):
    place = fake_airflow.add_review("answer_ticket", outputs=OUTPUTS)
    bridge = make_bridge()
    first = await bridge.watch_once()
    assert len(first.reviews_opened) == 1
    assert first.http_calls == 5  # a token, the version, the list, the session, its task instance
    approval = await engine.store.get(first.reviews_opened[0])
    (row,) = approval.rows
    assert approval.title == "review: review `answer_ticket`, iteration 1"
    assert [c.label for c in row.requirement.confirmation.choices] == ["Approve", "Request changes", "Reject"]
    assert OUTPUTS[0] in row.requirement.description and "iteration 1 of at most 5" in row.requirement.description
    # An empty "what should change" is refused, and nothing reaches Airflow.
    with pytest.raises(DecisionInvalid):
        await engine.decide(approval.id, row.id, DecisionInput(choices=("changes",), reason="  "), ALICE)
    assert fake_airflow.review_answers == []

    feedbacks = ["Say a refund is coming.", "Give the delay."]
    ids = [approval.id]
    for feedback in feedbacks:
        current = await engine.store.get(ids[-1])
        await engine.decide(current.id, current.rows[0].id, DecisionInput(choices=("changes",), reason=feedback), ALICE)
        nested = await review_approval(engine, parent_id=ids[-1])
        assert nested.thread_ts is None or nested.channel == approval.channel
        ids.append(nested.id)
    last = await engine.store.get(ids[-1])
    assert OUTPUTS[2] in last.rows[0].requirement.description
    assert last.title == "review: review `answer_ticket`, iteration 3"
    await engine.decide(last.id, last.rows[0].id, DecisionInput(choices=("approve",)), ALICE)
    final = await engine.wait_until_final(last.id, timeout=10)
    assert final.status == "approved"

    assert fake_airflow.review_answers == [("feedback", feedbacks[0]), ("feedback", feedbacks[1]), ("approve", None)]
    assert fake_airflow.reviews[place]["ti"]["state"] == "success"
    # Every iteration's output and feedback is in the trace: each iteration's row and decision, and the last
    # resume's output holds the whole conversation.
    for index, approval_id in enumerate(ids[:2]):
        done = publisher.events[approval_id][-1]
        assert isinstance(done, Done)
        assert done.output["review"]["feedback"] == feedbacks[index]
        assert done.output["review"]["output"] == OUTPUTS[index]
        step = next(e for e in publisher.events[approval_id] if isinstance(e, ToolProgress))
        assert step.detail == f"iteration {index + 1}, answer sent: Request changes: “{feedbacks[index]}”"
    history = publisher.events[ids[2]][-1].output["history"]
    assert history == [
        {"iteration": 1, "output": OUTPUTS[0], "feedback": feedbacks[0]},
        {"iteration": 2, "output": OUTPUTS[1], "feedback": feedbacks[1]},
        {"iteration": 3, "output": OUTPUTS[2], "feedback": None},
    ]
    assert any(isinstance(e, TextDelta) and "finished: *success*" in e.text for e in publisher.events[ids[2]])


async def test_an_iteration_answered_in_airflows_review_chat_first_is_recorded_and_a_slack_click_changes_nothing(
    fake_airflow, make_bridge, engine, publisher
):
    place = fake_airflow.add_review("answer_ticket", outputs=OUTPUTS)
    bridge = make_bridge()
    approval_id = (await bridge.watch_once()).reviews_opened[0]
    row_id = (await engine.store.get(approval_id)).rows[0].id
    assert fake_airflow.answer_review_in_ui(place, "feedback", "Shorter, please.") == 200
    assert (await bridge.watch_once()).http_calls == 2  # the list, and the changed session
    row = (await engine.store.get(approval_id)).row(row_id)
    assert (row.decided_by, row.decided_by_name) == ("airflow:review-chat", "someone in Airflow's review chat")
    assert row.decision.choices == ("changes",) and row.decision.reason == "Shorter, please."
    with pytest.raises(AlreadyDecided):
        await engine.decide(approval_id, row_id, DecisionInput(choices=("approve",)), ALICE)
    # The loop goes on: the regenerated output is the next iteration, in Slack.
    nested = await review_approval(engine, parent_id=approval_id)
    assert OUTPUTS[1] in nested.rows[0].requirement.description
    step = next(e for e in publisher.events[approval_id] if isinstance(e, ToolProgress))
    assert step.detail == "already answered in Airflow: Request changes: “Shorter, please.”"
    assert fake_airflow.review_answers == [("feedback", "Shorter, please.")]  # only the chat's


async def test_a_slack_answer_that_arrives_after_the_chat_answered_is_reported_not_sent(
    fake_airflow, make_bridge, engine, publisher
):
    place = fake_airflow.add_review("answer_ticket", outputs=OUTPUTS)
    bridge = make_bridge()
    approval_id = (await bridge.watch_once()).reviews_opened[0]
    row_id = (await engine.store.get(approval_id)).rows[0].id
    fake_airflow.answer_review_in_ui(place, "reject")  # the bridge has not looked since
    await engine.decide(approval_id, row_id, DecisionInput(choices=("approve",)), ALICE)
    await engine.wait_until_final(approval_id, timeout=10)
    assert fake_airflow.review_answers == [("reject", None)]
    step = next(e for e in publisher.events[approval_id] if isinstance(e, ToolProgress))
    assert step.detail == "already answered in Airflow: Reject"
    assert publisher.events[approval_id][-1].output["review"]["outcome"] == "answered_elsewhere"


async def test_the_last_iteration_offers_only_approve_and_reject(fake_airflow, make_bridge, engine):
    fake_airflow.add_review("answer_ticket", outputs=OUTPUTS, max_iterations=1)
    approval_id = (await make_bridge().watch_once()).reviews_opened[0]
    (row,) = (await engine.store.get(approval_id)).rows
    assert [c.label for c in row.requirement.confirmation.choices] == ["Approve", "Reject"]
    assert "the last one" in row.requirement.description


async def test_a_session_that_ends_without_an_answer_withdraws_its_row(fake_airflow, make_bridge, engine):
    place = fake_airflow.add_review("answer_ticket", outputs=OUTPUTS)
    bridge = make_bridge()
    approval_id = (await bridge.watch_once()).reviews_opened[0]
    review = fake_airflow.reviews[place]
    review["status"] = "timeout_exceeded"  # hitl_timeout passed: the worker gave up and failed the task
    review["ti"]["state"] = "failed"
    review["written"] = review["written"].replace(year=review["written"].year + 1)
    await bridge.watch_once()
    row = (await engine.store.get(approval_id)).rows[0]
    assert (row.decided_by, row.decided_by_name) == (
        "airflow:withdrawn",
        "Airflow (review session timeout_exceeded, not answered)",
    )
    assert row.decision.reason == "not answered: the review session is timeout_exceeded in Airflow"
    final = await engine.wait_until_final(approval_id, timeout=10)
    assert final.status == "rejected" and fake_airflow.review_answers == []


async def test_a_retried_task_starts_a_new_review_in_slack_and_the_old_tries_row_is_withdrawn(
    fake_airflow, make_bridge, engine
):
    place = fake_airflow.add_review("answer_ticket", outputs=OUTPUTS)
    bridge = make_bridge()
    first = (await bridge.watch_once()).reviews_opened[0]
    await SlackMessages(engine.store).record_posted(
        first, [PostedPart("C0AIRFLOW", "1700000000.000100", 0, 0)]
    )  # posted
    fake_airflow.retry_review(place)  # the worker died; Airflow retries the task
    again = await bridge.watch_once()
    assert len(again.reviews_opened) == 1 and again.reviews_opened[0] != first
    old = (await engine.store.get(first)).rows[0]
    assert old.decided_by == "airflow:withdrawn"  # its iteration can no longer be answered
    new = (await engine.store.get(again.reviews_opened[0])).rows[0]
    assert new.id.endswith(":2:review:1") and not new.decided
    assert (await engine.store.get(again.reviews_opened[0])).thread_ts == "1700000000.000100"  # the same thread
    await engine.wait_until_final(first, timeout=10)  # the withdrawn row's resume reports it
