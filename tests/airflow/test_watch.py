"""The bridge's watch: answers given in Airflow show on their rows at once, for one call a look."""

from __future__ import annotations

import pytest

from slack_hitl import Actor, DecisionInput
from slack_hitl.store import PostedPart, SlackMessages
from tests.airflow.fake_airflow import run_of
from tests.airflow.support import RUN_ID, hitl_request, llm_approval_request

pytestmark = pytest.mark.anyio

ALICE = Actor(id="U0ALICE", name="alice")


async def test_an_answer_given_in_airflow_is_recorded_by_the_next_look_for_one_call_whatever_is_pending(
    fake_airflow, make_bridge, engine
):
    for index in range(250):  # three pages of pending requests, in 25 runs
        fake_airflow.add(hitl_request(f"task_{index % 10}", run_id=f"run-{index // 10}"))
    bridge = make_bridge(watch_reviews=False)
    opened = (await bridge.poll_once()).opened
    assert len(opened) == 25
    quiet = await bridge.watch_once()
    assert (quiet.http_calls, quiet.recorded_from_airflow) == (1, 0)
    target = next(iter(fake_airflow.requests.values()))
    fake_airflow.answer_in_ui(target["task_instance"]["id"], {"id": "carol", "name": "carol"}, ["no"])
    look = await bridge.watch_once()
    assert (look.http_calls, look.recorded_from_airflow) == (1, 1)
    approval = next(a for a in await engine.store.list_approvals() if a.row(f"{target['task_instance']['id']}:1"))
    row = approval.row(f"{target['task_instance']['id']}:1")
    assert (row.decided_by, row.decided_by_name, row.decision.choices) == (
        "airflow:carol",
        "carol (in Airflow)",
        ("no",),
    )
    again = await bridge.watch_once()
    assert again.recorded_from_airflow == 0  # once is enough
    assert fake_airflow.patches == []


async def test_nothing_open_costs_no_call(fake_airflow, make_bridge):
    bridge = make_bridge(watch_reviews=False)
    assert (await bridge.watch_once()).http_calls == 0


async def test_answers_this_bridge_wrote_itself_are_not_taken_for_answers_given_in_airflow(
    fake_airflow, make_bridge, engine
):
    for request in run_of("release", RUN_ID, 2):
        fake_airflow.add(request)
    bridge = make_bridge(watch_reviews=False)
    approval_id = (await bridge.poll_once()).opened[0]
    for row in (await engine.store.get(approval_id)).rows:
        await engine.decide(approval_id, row.id, DecisionInput(choices=("yes",)), ALICE)
    final = await engine.wait_until_final(approval_id, timeout=10)
    await bridge.watch_once()
    assert {row.decided_by for row in (await engine.store.get(approval_id)).rows} == {"U0ALICE"}
    assert final.status == "approved"


async def test_a_long_output_is_posted_whole_in_the_thread_once_even_after_a_restart(
    fake_airflow, make_bridge, engine, publisher
):
    output = "\n".join(f"Line {i}: " + "lorem ipsum " * 12 for i in range(60))
    fake_airflow.add(llm_approval_request(output))
    bridge = make_bridge(watch_reviews=False)
    approval_id = (await bridge.poll_once()).opened[0]
    # Not posted yet (RecordingPublisher posts nothing): the note waits for the message.
    assert publisher.notes[approval_id] == []
    await SlackMessages(engine.store).record_posted(approval_id, [PostedPart("C0AIRFLOW", "1700000000.000100", 0, 0)])
    restarted = make_bridge(watch_reviews=False)  # a new process on the same database
    await restarted.poll_once()
    (note,) = publisher.notes[approval_id]
    assert output in note and note.startswith("*Review output for task `draft`*, in full:")
    await restarted.poll_once()
    await make_bridge(watch_reviews=False).poll_once()
    assert len(publisher.notes[approval_id]) == 1  # posted once
