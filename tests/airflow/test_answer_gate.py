"""Airflow 3.3: an answer is written only once Airflow can take it without failing the task.

Against the stand-in Airflow in 3.3 mode, which models the race loop by loop: a task's pause is
reported by its worker ``park_linger`` seconds after it parked, and a report the scheduler reads
while the resumed task is queued or running fails it ("state mismatch"), as 3.3.2 does.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from slack_hitl_airflow.mapping import request_of

from slack_hitl import Actor, DecisionInput, Done, Status, ToolProgress
from tests.airflow.support import hitl_request

pytestmark = pytest.mark.anyio

ALICE = Actor(id="U0ALICE", name="alice")


@pytest.fixture
def airflow_3_3(fake_airflow):
    fake_airflow.version = "3.3.2"
    fake_airflow.loop_interval = 0.1
    return fake_airflow


async def open_and_decide(fake, make_bridge, engine, **settings):
    request = fake.add(hitl_request("ask", created_seconds_ago=0.0), linger=settings.pop("linger", None))
    bridge = make_bridge(**settings)
    approval_id = (await bridge.poll_once()).opened[0]
    approval = await engine.store.get(approval_id)
    await engine.decide(approval_id, approval.rows[0].id, DecisionInput(choices=("yes",)), ALICE)
    return approval_id, request["task_instance"]["id"]


async def test_an_answer_waits_until_the_scheduler_has_handled_the_pause_and_the_task_then_succeeds(
    airflow_3_3, make_bridge, engine, publisher
):
    airflow_3_3.park_linger = 0.6
    approval_id, ti_id = await open_and_decide(airflow_3_3, make_bridge, engine, park_grace=0.8)
    final = await engine.wait_until_final(approval_id, timeout=20)
    assert final.status == "approved"
    assert [body for _, body in airflow_3_3.patches] == [{"chosen_options": ["yes"], "params_input": {}}]
    assert airflow_3_3.event_logs == []  # nothing was failed
    assert airflow_3_3.instances[ti_id]["state"] == "success"
    events = publisher.events[approval_id]
    assert isinstance(events[0], Status) and "waiting until Airflow can take the answers" in events[0].text
    done = events[-1]
    assert isinstance(done, Done) and done.output["rows"][f"{ti_id}:1"]["failed_after_answer"] is None


async def test_without_the_gate_the_same_answer_makes_airflow_fail_the_task_and_the_thread_and_trace_say_so(
    airflow_3_3, make_bridge, engine, publisher
):
    # A worker slower than the gate allows for (grace 0, report after 3 s): the stale report arrives
    # while the answer's resumed try runs, and the modelled scheduler fails it as Airflow 3.3.2 does.
    airflow_3_3.run_seconds = 5.0
    approval_id, ti_id = await open_and_decide(airflow_3_3, make_bridge, engine, park_grace=0.0, linger=3.0)
    final = await engine.wait_until_final(approval_id, timeout=20)
    assert airflow_3_3.instances[ti_id]["state"] == "failed"
    assert [e["event"] for e in airflow_3_3.event_logs] == ["state mismatch"]
    events = publisher.events[approval_id]
    told = [e for e in events if isinstance(e, ToolProgress) and e.state == "failed"]
    assert told and "Airflow failed it after the answer was written" in told[0].detail
    assert '"state mismatch" in Airflow\'s audit log' in told[0].detail
    assert final.status == "approved"  # the decision was carried out; Airflow failed the task after it
    done = events[-1]
    assert done.output["rows"][f"{ti_id}:1"]["failed_after_answer"]["state_mismatch"] is True
    assert "finished with state success" in done.output["rows"][f"{ti_id}:1"]["failed_after_answer"]["airflow_says"]


async def test_a_scheduler_that_does_not_look_at_the_run_holds_the_answer_back_and_the_resume_is_retryable(
    airflow_3_3, make_bridge, engine
):
    airflow_3_3.loop_interval = 3600.0  # the scheduler is down
    approval_id, ti_id = await open_and_decide(airflow_3_3, make_bridge, engine, park_grace=0.2, gate_timeout=1.0)
    await engine.drain()
    held = await engine.store.get(approval_id)
    assert held.status == "pending" and held.all_decided
    assert "has not shown" in held.last_error and "held back" in held.last_error
    assert airflow_3_3.patches == []  # nothing written while it could fail the task
    airflow_3_3.loop_interval = 0.1  # the scheduler is back: the retry writes the answer
    airflow_3_3._scheduler_at = None
    assert await engine.retry(approval_id)
    assert (await engine.wait_until_final(approval_id, timeout=20)).status == "approved"
    assert airflow_3_3.instances[ti_id]["state"] == "success" and airflow_3_3.event_logs == []


async def test_the_watch_proves_a_parked_task_answerable_ahead_so_a_later_decision_is_written_at_once(
    airflow_3_3, make_bridge, engine, publisher
):
    airflow_3_3.park_linger = 0.2
    airflow_3_3.add(hitl_request("ask", created_seconds_ago=0.0))
    bridge = make_bridge(park_grace=0.3, watch_reviews=False)
    approval_id = (await bridge.poll_once()).opened[0]
    approval = await engine.store.get(approval_id)
    opened_for = request_of(approval.rows[0].requirement)
    deadline = time.monotonic() + 10
    while not bridge.adapter.gate.ready([[opened_for, await bridge.client.request(opened_for.key)]]):
        assert time.monotonic() < deadline, "the watch never proved the run answerable"
        await bridge.watch_once()
        await asyncio.sleep(0.05)
    decided = time.monotonic()
    await engine.decide(approval_id, approval.rows[0].id, DecisionInput(choices=("yes",)), ALICE)
    await engine.wait_until_final(approval_id, timeout=20)
    assert not any(isinstance(e, Status) for e in publisher.events[approval_id])  # it did not wait
    assert len(airflow_3_3.patches) == 1 and airflow_3_3.event_logs == []
    assert time.monotonic() - decided < 10


async def test_a_burst_of_parked_runs_is_looked_at_a_few_per_look(airflow_3_3, make_bridge):
    airflow_3_3.park_linger = 0.1
    for index in range(10):
        airflow_3_3.add(hitl_request("ask", run_id=f"run-{index}", created_seconds_ago=0.0))
    bridge = make_bridge(park_grace=0.2, watch_reviews=False)
    assert len((await bridge.poll_once()).opened) == 10
    costs = []
    deadline = time.monotonic() + 20
    while bridge._parked:
        assert time.monotonic() < deadline, "the look-ahead never proved every run"
        costs.append((await bridge.watch_once()).http_calls)
        await asyncio.sleep(0.1)
    assert max(costs) <= 1 + 4  # the answered-lately list, and at most four runs
