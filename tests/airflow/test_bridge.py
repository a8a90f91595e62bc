"""The bridge and the adapter against a stand-in Airflow, with the real engine and store (SQLite)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from slack_hitl_airflow import AirflowAdapter, AirflowBridge, BridgeSettings, MappingPolicy, UserMap

from slack_hitl import (
    Actor,
    DecisionInput,
    DecisionInvalid,
    Done,
    Engine,
    NotAllowed,
    RequesterRefused,
    TextDelta,
    ToolProgress,
    validate_decision,
)
from slack_hitl.store import DecideCommand, PostedPart, SlackMessages
from tests.airflow.fake_airflow import FakeAirflow, run_of
from tests.airflow.support import (
    RUN_ID,
    approval_request,
    branch_request,
    entry_request,
    hitl_request,
    iso,
    param,
)
from tests.support import ALICE

pytestmark = pytest.mark.anyio


def six_of_one_run(fake: FakeAirflow) -> list[dict]:
    requests = [
        approval_request(params={"reviewer": param("", {"type": "string"})}),
        entry_request(),
        branch_request(),
        *[hitl_request("review_item", map_index=i, options=["keep", "drop"]) for i in range(3)],
    ]
    for request in requests:
        fake.add(request)
    return requests


async def decide_all(engine: Engine, approval_id: str, *, skip: int = 0) -> None:
    approval = await engine.store.get(approval_id)
    for row in approval.rows[skip:]:
        kind = row.requirement.kind
        submitted = (
            DecisionInput(values={"replicas": 4})
            if kind == "user_input"
            else DecisionInput(choices=(row.requirement.confirmation.choices[0].value,))
        )
        await engine.decide(approval_id, row.id, submitted, ALICE)


async def test_requests_of_one_run_become_one_approval_and_a_second_poll_opens_nothing(
    fake_airflow, make_bridge, engine
):
    six_of_one_run(fake_airflow)
    bridge = make_bridge()
    first = await bridge.poll_once()
    assert first.pending == 6 and len(first.opened) == 1
    approval = await engine.store.get(first.opened[0])
    assert [row.requirement.kind for row in approval.rows].count("user_input") == 1
    assert len(approval.rows) == 6 and approval.adapter == "airflow"
    assert approval.resume_state["dag_id"] == "release" and approval.resume_state["run_id"] == RUN_ID
    assert approval.channel == "C0AIRFLOW"
    again = await bridge.poll_once()
    assert again.opened == [] and again.follow_ups == []
    # A second bridge on the same database (a restart, another process) opens nothing either.
    assert (await make_bridge().poll_once()).opened == []
    assert len(await engine.store.list_approvals()) == 1


async def test_runs_are_kept_apart(fake_airflow, make_bridge, engine):
    for request in run_of("a", "run-1", 2) + run_of("b", "run-1", 1) + run_of("a", "run-2", 1):
        fake_airflow.add(request)
    report = await make_bridge().poll_once()
    sizes = sorted([len((await engine.store.get(i)).rows) for i in report.opened])
    assert sizes == [1, 1, 2]


async def test_siblings_that_start_together_settle_into_one_message(fake_airflow, make_bridge, engine):
    bridge = make_bridge(settle_seconds=5.0, max_settle_seconds=60.0)
    fake_airflow.add(hitl_request("first", created_seconds_ago=1.0))
    waiting = await bridge.poll_once()
    assert waiting.opened == [] and waiting.settling == 1 and 3.0 < waiting.next_poll_in <= 4.0
    fake_airflow.add(hitl_request("second", created_seconds_ago=0.5))
    assert (await bridge.poll_once()).opened == []
    for request in fake_airflow.requests.values():  # time passes
        request["created_at"] = iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=6))
    opened = (await bridge.poll_once()).opened
    assert len(opened) == 1 and len((await engine.store.get(opened[0])).rows) == 2


async def test_a_group_that_keeps_growing_is_opened_once_its_oldest_waited_long_enough(fake_airflow, make_bridge):
    bridge = make_bridge(settle_seconds=5.0, max_settle_seconds=20.0)
    fake_airflow.add(hitl_request("old", created_seconds_ago=25.0))
    fake_airflow.add(hitl_request("new", created_seconds_ago=0.1))
    assert len((await bridge.poll_once()).opened) == 1


async def test_a_request_after_the_message_was_posted_is_a_follow_up_in_its_thread(fake_airflow, make_bridge, engine):
    fake_airflow.add(hitl_request("first"))
    bridge = make_bridge()
    root_id = (await bridge.poll_once()).opened[0]
    fake_airflow.add(hitl_request("late"))
    # Not posted yet: the thread is unknown, so the late request waits.
    assert (await bridge.poll_once()).follow_ups == []
    await SlackMessages(engine.store).record_posted(root_id, [PostedPart("C0AIRFLOW", "1700000000.000100", 0, 0)])
    follow_up_id = (await bridge.poll_once()).follow_ups[0]
    follow_up = await engine.store.get(follow_up_id)
    assert follow_up.thread_ts == "1700000000.000100" and follow_up.parent_id == root_id
    assert [row.requirement.title for row in follow_up.rows] == ["Decide late"]
    assert "1 more decision" in follow_up.title


async def test_an_answer_given_in_the_airflow_ui_shows_in_its_row_with_who_and_what(fake_airflow, make_bridge, engine):
    requests = six_of_one_run(fake_airflow)
    bridge = make_bridge()
    approval_id = (await bridge.poll_once()).opened[0]
    branch = requests[2]["task_instance"]["id"]
    fake_airflow.answer_in_ui(branch, {"id": "uma", "name": "Uma"}, ["America"])
    report = await bridge.poll_once()
    assert report.recorded_from_airflow == 1
    row = (await engine.store.get(approval_id)).row(f"{branch}:1")
    assert (row.decided_by, row.decided_by_name) == ("airflow:uma", "Uma (in Airflow)")
    assert row.decision.choices == ("America",)
    assert (await bridge.poll_once()).recorded_from_airflow == 0  # once is enough
    assert fake_airflow.patches == []


async def test_a_timeout_that_applied_the_defaults_shows_as_such(fake_airflow, make_bridge, engine):
    request = fake_airflow.add(hitl_request("item", options=["keep", "drop"], defaults=["keep"]))
    bridge = make_bridge()
    approval_id = (await bridge.poll_once()).opened[0]
    fake_airflow.answer_in_ui(request["task_instance"]["id"], None, ["keep"])
    await bridge.poll_once()
    row = (await engine.store.get(approval_id)).rows[0]
    assert row.decided_by == "airflow:timeout" and row.decided_by_name == "Airflow (timed out, defaults applied)"


async def test_a_task_that_stopped_waiting_unanswered_is_recorded_as_withdrawn(fake_airflow, make_bridge, engine):
    request = fake_airflow.add(hitl_request("item"))
    bridge = make_bridge()
    approval_id = (await bridge.poll_once()).opened[0]
    request["task_instance"]["state"] = "failed"
    await bridge.poll_once()
    row = (await engine.store.get(approval_id)).rows[0]
    assert row.decided_by == "airflow:withdrawn" and "failed" in row.decided_by_name
    assert "failed" in row.decision.reason


async def test_nothing_is_written_until_the_last_row_then_every_answer_once(
    fake_airflow, make_bridge, engine, publisher
):
    six_of_one_run(fake_airflow)
    fake_airflow.add_task("report", dag_id="release", run_id=RUN_ID)
    bridge = make_bridge()
    approval_id = (await bridge.poll_once()).opened[0]
    approval = await engine.store.get(approval_id)
    await decide_all(engine, approval_id, skip=1)
    await asyncio.sleep(0.2)
    assert fake_airflow.patches == []  # five of six decided: Airflow has heard nothing
    first = approval.rows[0]
    await engine.decide(approval_id, first.id, DecisionInput(choices=("Approve",)), ALICE)
    final = await engine.wait_until_final(approval_id, timeout=10)
    assert final.status == "approved"
    bodies = {ti_id: body for ti_id, body in fake_airflow.patches}
    assert len(fake_airflow.patches) == 6
    approve = first.requirement.metadata["airflow_request"]["task_instance"]["id"]
    assert bodies[approve] == {"chosen_options": ["Approve"], "params_input": {"reviewer": "alice (U0ALICE)"}}
    entry = next(r for r in approval.rows if r.requirement.kind == "user_input")
    assert bodies[entry.requirement.metadata["airflow_request"]["task_instance"]["id"]] == {
        "chosen_options": ["OK"],
        "params_input": {"replicas": 4},
    }
    events = publisher.events[approval_id]
    progress = [(e.name, e.state, e.detail) for e in events if isinstance(e, ToolProgress)]
    assert ("approve", "started", "answer written: Approve") in progress
    assert ("region", "finished", "branch taken: Europe") in progress
    assert ("report", "finished", "") in progress
    assert any(isinstance(e, TextDelta) and "finished: *success*" in e.text for e in events)
    done = events[-1]
    assert isinstance(done, Done) and done.output["run_state"] == "success"
    assert {row["outcome"] for row in done.output["rows"].values()} == {"written"}


async def test_an_answer_airflow_would_fail_on_is_never_written(fake_airflow, make_bridge, engine, publisher):
    fake_airflow.add(hitl_request("a"))
    fake_airflow.add(hitl_request("b", params={"code": param("1", {"type": "string", "pattern": "^[0-9]+$"})}))
    approval_id = (await make_bridge().poll_once()).opened[0]
    approval = await engine.store.get(approval_id)
    bad = DecisionInput(choices=("yes",), values={"code": "abc"})
    # The pattern is beyond what the form checks: the adapter refuses it where it is typed...
    with pytest.raises(DecisionInvalid) as refused:
        await engine.decide(approval_id, approval.rows[1].id, bad, ALICE)
    assert refused.value.errors == {"code": "'abc' does not match '^[0-9]+$'"}
    assert not (await engine.store.get(approval_id)).rows[1].decided
    # ...and a value stored past that check (straight into the store) is still refused at resume time.
    decision = validate_decision(approval.rows[1].requirement, bad)
    await engine.store.decide(DecideCommand(approval_id, approval.rows[1].id, decision, ALICE))
    await engine.decide(approval_id, approval.rows[0].id, DecisionInput(choices=("yes",)), ALICE)
    await engine.drain()
    failed = await engine.store.get(approval_id)
    assert failed.status == "pending" and "b.code" in failed.last_error and "does not match" in failed.last_error
    assert fake_airflow.patches == []


async def test_a_refused_write_leaves_the_approval_retryable_and_the_retry_writes_only_what_is_missing(
    fake_airflow, make_bridge, engine, publisher
):
    for request in run_of("release", RUN_ID, 3):
        fake_airflow.add(request)
    fake_airflow.patch_failures["task_1"] = 403
    approval_id = (await make_bridge().poll_once()).opened[0]
    await decide_all(engine, approval_id)
    await engine.drain()
    failed = await engine.store.get(approval_id)
    assert failed.status == "pending" and "403" in failed.last_error and failed.all_decided
    assert sorted(fake_airflow.requests[ti]["task_instance"]["task_id"] for ti, _ in fake_airflow.patches) == [
        "task_0",
        "task_2",
    ]
    del fake_airflow.patch_failures["task_1"]
    assert await engine.retry(approval_id)
    final = await engine.wait_until_final(approval_id, timeout=10)
    assert final.status == "approved"
    written = [fake_airflow.requests[ti]["task_instance"]["task_id"] for ti, _ in fake_airflow.patches]
    assert sorted(written) == ["task_0", "task_1", "task_2"]  # each once, the retry only wrote task_1


async def test_a_retry_reports_what_the_first_attempt_s_answers_set_going_in_between(
    fake_airflow, make_bridge, engine, publisher
):
    """Seen on Airflow 3.3: one PATCH outwaited SQLite's lock, the other answers were written and the
    tasks downstream of them finished before the retry. The retry's thread must still tell of them."""
    for request in run_of("release", RUN_ID, 3):
        fake_airflow.add(request)
    report = fake_airflow.add_task("report", dag_id="release", run_id=RUN_ID)
    fake_airflow.patch_failures["task_1"] = 500
    approval_id = (await make_bridge().poll_once()).opened[0]
    await decide_all(engine, approval_id)
    await engine.drain()
    assert (await engine.store.get(approval_id)).last_error
    # Between the attempts, the task downstream of task_0 and task_2 runs to its end.
    now = iso(dt.datetime.now(dt.UTC))
    report.update(state="success", start_date=now, end_date=now)
    del fake_airflow.patch_failures["task_1"]
    assert await engine.retry(approval_id)
    final = await engine.wait_until_final(approval_id, timeout=10)
    assert final.status == "approved"
    progress = [(e.name, e.state, e.detail) for e in publisher.events[approval_id] if isinstance(e, ToolProgress)]
    assert ("report", "finished", "") in progress
    assert ("task_0", "started", "resumed") in progress and ("task_1", "started", "resumed") in progress


async def test_a_request_answered_in_airflow_just_before_the_write_is_reported_not_overwritten(
    fake_airflow, make_bridge, engine, publisher
):
    requests = [fake_airflow.add(r) for r in run_of("release", RUN_ID, 2)]
    raced = requests[1]["task_instance"]["id"]

    def answer_first(ti_id: str) -> None:
        if ti_id == raced and not fake_airflow.requests[raced]["response_received"]:
            fake_airflow.answer_in_ui(raced, {"id": "uma", "name": "Uma"}, ["no"])

    fake_airflow.before_patch = answer_first
    approval_id = (await make_bridge().poll_once()).opened[0]
    await decide_all(engine, approval_id)
    final = await engine.wait_until_final(approval_id, timeout=10)
    assert final.status == "approved"
    assert [ti for ti, _ in fake_airflow.patches] == [requests[0]["task_instance"]["id"]]
    events = publisher.events[approval_id]
    assert any(isinstance(e, ToolProgress) and e.detail == "already answered by Uma in Airflow: no" for e in events)
    done = events[-1]
    assert done.output["rows"][f"{raced}:1"]["outcome"] == "answered_elsewhere"
    assert done.output["rows"][f"{raced}:1"]["answered_in_airflow_by"] == "Uma"


async def test_a_request_younger_than_the_minimum_age_is_not_answered_yet(fake_airflow, make_bridge, engine):
    request = fake_airflow.add(hitl_request("fresh", created_seconds_ago=0.0))
    bridge = make_bridge(min_request_age=1.5)
    approval_id = (await bridge.poll_once()).opened[0]
    await decide_all(engine, approval_id)
    await engine.wait_until_final(approval_id, timeout=10)
    created = dt.datetime.fromisoformat(request["created_at"])
    answered = dt.datetime.fromisoformat(fake_airflow.requests[request["task_instance"]["id"]]["responded_at"])
    assert (answered - created).total_seconds() >= 1.5


async def test_an_expired_token_is_renewed_between_polls(fake_airflow, make_bridge, airflow_client):
    fake_airflow.add(hitl_request("x"))
    bridge = make_bridge()
    await bridge.poll_once()
    fake_airflow.expire_tokens()
    assert (await bridge.poll_once()).pending == 1


async def test_a_notifier_announcement_makes_the_bridge_poll_at_once(fake_airflow, make_bridge, engine):
    bridge: AirflowBridge = make_bridge(poll_interval=60.0)
    running = asyncio.create_task(bridge.run())
    try:
        await asyncio.sleep(0.2)
        request = fake_airflow.add(hitl_request("pushed"))
        bridge.announce(request["task_instance"]["id"])
        for _ in range(50):
            if await engine.store.list_approvals():
                break
            await asyncio.sleep(0.05)
        assert len(await engine.store.list_approvals()) == 1
    finally:
        running.cancel()


async def test_the_adapter_refuses_what_the_schema_refuses_when_the_row_is_decided(
    fake_airflow, airflow_client, store, publisher
):
    engine = Engine(store, adapters=[AirflowAdapter(airflow_client)], publisher=publisher)
    fake_airflow.add(entry_request(params={"ticket": param("OPS-1", {"type": "string", "pattern": "^[A-Z]+-[0-9]+$"})}))
    bridge = AirflowBridge(engine, airflow_client, BridgeSettings(channel="C0", settle_seconds=0.0))
    approval_id = (await bridge.poll_once()).opened[0]
    row_id = (await store.get(approval_id)).rows[0].id
    with pytest.raises(DecisionInvalid) as refused:
        await engine.decide(approval_id, row_id, DecisionInput(values={"ticket": "ops 12"}), ALICE)
    assert refused.value.errors == {"ticket": "'ops 12' does not match '^[A-Z]+-[0-9]+$'"}
    assert not (await store.get(approval_id)).rows[0].decided
    await engine.decide(approval_id, row_id, DecisionInput(values={"ticket": "OPS-12"}), ALICE)
    assert (await store.get(approval_id)).rows[0].decision.values == {"ticket": "OPS-12"}
    await engine.drain()  # the resume the last decision started ends before the store closes


async def test_an_answer_given_in_airflow_on_a_row_restricted_to_its_assignees_is_recorded(
    fake_airflow, airflow_client, store, publisher
):
    engine = Engine(store, publisher=publisher)
    users = UserMap({"alice": "U0ALICE"})
    request = fake_airflow.add(
        hitl_request("approve", assigned_users=[{"id": "alice", "name": "Alice"}, {"id": "bridge", "name": "bridge"}])
    )
    settings = BridgeSettings(channel="C0", settle_seconds=0.0, policy=MappingPolicy(users=users))
    bridge = AirflowBridge(engine, airflow_client, settings)
    approval_id = (await bridge.poll_once()).opened[0]
    row_id = (await store.get(approval_id)).rows[0].id
    with pytest.raises(NotAllowed):
        await engine.decide(approval_id, row_id, DecisionInput(choices=("yes",)), Actor(id="U0MALLORY", name="mallory"))
    fake_airflow.answer_in_ui(request["task_instance"]["id"], {"id": "alice", "name": "Alice"}, ["no"])
    assert (await bridge.poll_once()).recorded_from_airflow == 1
    row = (await store.get(approval_id)).rows[0]
    assert row.decided_by == "airflow:alice" and row.decision.choices == ("no",)
    await engine.drain()


async def test_a_request_whose_task_instance_is_gone_is_reported_and_the_others_written(
    fake_airflow, make_bridge, engine, publisher
):
    kept, gone = (fake_airflow.add(r) for r in run_of("release", RUN_ID, 2))
    approval_id = (await make_bridge().poll_once()).opened[0]

    def vanish(_ti_id: str) -> None:  # e.g. the DAG changed and the task was removed (404)
        gone_id = gone["task_instance"]["id"]
        fake_airflow.requests.pop(gone_id, None)
        fake_airflow.instances.pop(gone_id, None)

    fake_airflow.before_patch = vanish
    await decide_all(engine, approval_id)
    await engine.drain()
    failed = await engine.store.get(approval_id)
    assert failed.status == "pending" and "404" in failed.last_error  # retryable, as a 404 may be passing
    fake_airflow.before_patch = None
    assert await engine.retry(approval_id)  # the sweeper would; the retry finds the task gone
    final = await engine.wait_until_final(approval_id, timeout=10)
    assert final.status == "approved"
    assert [ti for ti, _ in fake_airflow.patches] == [kept["task_instance"]["id"]]
    rows = publisher.events[approval_id][-1].output["rows"]
    assert rows[f"{gone['task_instance']['id']}:1"]["outcome"] == "withdrawn"


async def test_a_write_airflow_failed_on_its_database_lock_is_tried_again_and_lands_once(
    fake_airflow, make_bridge, engine
):
    for request in run_of("release", RUN_ID, 3):
        fake_airflow.add(request)
    fake_airflow.patch_failures_once["task_1"] = [500, 500]  # SQLite's lock outwaited twice
    approval_id = (await make_bridge().poll_once()).opened[0]
    await decide_all(engine, approval_id)
    final = await engine.wait_until_final(approval_id, timeout=20)
    assert final.status == "approved" and final.attempts == 1  # no retry of the whole resume was needed
    written = sorted(fake_airflow.requests[ti]["task_instance"]["task_id"] for ti, _ in fake_airflow.patches)
    assert written == ["task_0", "task_1", "task_2"]


async def test_the_run_s_trigger_user_is_the_requester_and_four_eyes_refuses_them(fake_airflow, make_bridge, engine):
    fake_airflow.add(approval_request())
    fake_airflow.triggering_users[("release", RUN_ID)] = "alice.airflow"
    users = UserMap(slack_ids={"alice.airflow": ALICE.id})
    bridge = make_bridge(policy=MappingPolicy(users=users, forbid_requester=True))
    (approval_id,) = (await bridge.poll_once()).opened
    approval = await engine.store.get(approval_id)
    assert approval.requested_by == ALICE.id
    row = approval.rows[0]
    assert row.requirement.deciders.not_requester
    with pytest.raises(RequesterRefused):
        await engine.decide(
            approval_id, row.id, DecisionInput(choices=(row.requirement.confirmation.choices[0].value,)), ALICE
        )


async def test_a_scheduled_run_or_an_unmapped_trigger_user_names_no_requester(fake_airflow, make_bridge, engine):
    fake_airflow.add(approval_request())
    fake_airflow.triggering_users[("release", RUN_ID)] = "nobody.we.know"
    bridge = make_bridge(policy=MappingPolicy(users=UserMap(slack_ids={"alice.airflow": ALICE.id})))
    (approval_id,) = (await bridge.poll_once()).opened
    approval = await engine.store.get(approval_id)
    assert approval.requested_by is None
    assert not approval.rows[0].requirement.deciders.not_requester  # four-eyes is off unless asked for
