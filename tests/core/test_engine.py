"""The engine and the store together, on a SQLite file and on a real PostgreSQL server."""

import asyncio
import datetime as dt

import pytest

from slack_hitl import (
    Actor,
    AlreadyDecided,
    ApprovalClosed,
    Deciders,
    DecisionInput,
    DecisionInvalid,
    Done,
    Engine,
    IdempotencyKeyReused,
    NestedPause,
    NotAllowed,
    Requirement,
    Store,
    UnknownApproval,
    UnknownRow,
    validate_decision,
)
from slack_hitl.store import DecideCommand
from slack_hitl.testing import RecordingPublisher
from tests.core.support import RecordingAdapter
from tests.support import ALICE, BOB, four_kinds

pytestmark = pytest.mark.anyio

BOB_IN_OPS = Actor(id=BOB.id, name=BOB.name, group_ids=("S_OPS",))

ANSWERS = {
    "deploy": DecisionInput(choices=("approve",)),
    "size": DecisionInput(values={"replicas": "3"}),
    "tone": DecisionInput(values={"tone": "casual"}),
    "query": DecisionInput(result='{"rows": 2}'),
}


@pytest.fixture
async def open_store(database_url):
    """Open a store on the test's database with the given options; every one is closed after the test."""
    opened = []

    async def open_one(**options):
        opened.append(await Store.open(database_url, **options))
        return opened[-1]

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store):
    return await open_store()


async def open_four(engine, **options):
    return await engine.open_approval(title="Agent run", requirements=four_kinds(), adapter="recording", **options)


async def decided_entries(store, approval_id):
    return [e for e in await store.decision_log(approval_id) if e["event"] == "decided"]


async def test_all_rows_decided_resumes_once_with_every_decision(store):
    adapter, publisher = RecordingAdapter(), RecordingPublisher()
    engine = Engine(store, adapters=[adapter], publisher=publisher)
    approval = await open_four(engine)
    assert publisher.opened == [approval.id]

    outcomes = [await engine.decide(approval.id, row, answer, ALICE) for row, answer in ANSWERS.items()]
    assert [o.resumed for o in outcomes] == [False, False, False, True]
    await engine.drain()

    final = await store.get(approval.id)
    assert final.status == "approved"
    assert len(adapter.resumes) == 1
    resumed_id, key, decisions = adapter.resumes[0]
    assert resumed_id == approval.id
    assert key == approval.id
    assert decisions["size"].values == {"replicas": 3, "region": None}
    assert decisions["query"].result == {"rows": 2}
    assert adapter.undecided_at_resume == []
    assert [type(e).__name__ for e in publisher.events[approval.id]] == ["TextDelta", "Done"]
    log = await store.decision_log(approval.id)
    assert [e["event"] for e in log] == ["opened", "decided", "decided", "decided", "decided", "resuming", "approved"]
    assert {e["actor"] for e in log if e["event"] == "decided"} == {ALICE.id}


async def test_no_resume_while_a_row_is_undecided(store):
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    approval = await open_four(engine)
    for row in ["deploy", "size", "tone"]:
        await engine.decide(approval.id, row, ANSWERS[row], ALICE)
    await engine.drain()
    assert adapter.resumes == []
    assert (await store.get(approval.id)).status == "pending"
    assert not await store.claim_resume(approval.id)


async def test_mixed_and_rejected_outcomes(store):
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await open_four(engine)
    await engine.decide(approval.id, "deploy", DecisionInput(choices=("reject",), reason="not on a Friday"), ALICE)
    for row in ["size", "tone", "query"]:
        await engine.decide(approval.id, row, ANSWERS[row], ALICE)
    await engine.drain()
    final = await store.get(approval.id)
    assert final.status == "completed"
    assert final.row("deploy").decision.reason == "not on a Friday"
    entry = next(e for e in await decided_entries(store, approval.id) if e["row_id"] == "deploy")
    assert entry["reason"] == "not on a Friday"


async def test_bad_decisions_change_nothing(store):
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await open_four(engine)
    with pytest.raises(UnknownApproval):
        await engine.decide("nope", "deploy", ANSWERS["deploy"], ALICE)
    with pytest.raises(UnknownRow):
        await engine.decide(approval.id, "nope", ANSWERS["deploy"], ALICE)
    with pytest.raises(DecisionInvalid) as invalid:
        await engine.decide(approval.id, "size", DecisionInput(values={"replicas": "99"}), ALICE)
    assert invalid.value.errors == {"replicas": "must be at most 10"}
    assert (await store.get(approval.id)).decided_count == 0
    assert await decided_entries(store, approval.id) == []


async def test_only_named_deciders_may_decide(store):
    engine = Engine(store, adapters=[RecordingAdapter()])
    rows = [
        Requirement(id="by_user", kind="confirmation", title="a", deciders=Deciders(user_ids=(ALICE.id,))),
        Requirement(id="by_group", kind="confirmation", title="b", deciders=Deciders(group_ids=("S_OPS",))),
    ]
    approval = await engine.open_approval(title="t", requirements=rows, adapter="recording")
    with pytest.raises(NotAllowed, match="bob may not decide 'a'"):
        await engine.decide(approval.id, "by_user", ANSWERS["deploy"], BOB_IN_OPS)
    with pytest.raises(NotAllowed):
        await engine.decide(approval.id, "by_group", ANSWERS["deploy"], ALICE)
    assert (await store.get(approval.id)).decided_count == 0
    await engine.decide(approval.id, "by_user", ANSWERS["deploy"], ALICE)
    await engine.decide(approval.id, "by_group", ANSWERS["deploy"], BOB_IN_OPS)
    await engine.drain()
    assert (await store.get(approval.id)).status == "approved"


async def test_a_row_is_decided_once_and_repeats_are_recognised(store):
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await open_four(engine)
    first = await engine.decide(approval.id, "deploy", ANSWERS["deploy"], ALICE, delivery_key="click-1")
    again = await engine.decide(approval.id, "deploy", ANSWERS["deploy"], ALICE, delivery_key="click-1")
    assert (first.repeated, again.repeated) == (False, True)
    with pytest.raises(AlreadyDecided, match="already decided by alice") as raised:
        await engine.decide(approval.id, "deploy", DecisionInput(choices=("reject",)), BOB, delivery_key="click-2")
    assert raised.value.decided_by == ALICE.id
    assert len(await decided_entries(store, approval.id)) == 1
    assert (await store.get(approval.id)).row("deploy").decision.outcome == "approved"


async def test_failed_resume_is_retryable_and_a_retry_resumes_once(store):
    adapter, publisher = RecordingAdapter(fail_times=1), RecordingPublisher()
    engine = Engine(store, adapters=[adapter], publisher=publisher)
    approval = await open_four(engine)
    for row, answer in ANSWERS.items():
        await engine.decide(approval.id, row, answer, ALICE)
    await engine.drain()

    failed = await store.get(approval.id)
    assert failed.status == "pending"
    assert failed.all_decided
    assert "tool server unreachable" in failed.last_error
    assert publisher.failures == [(approval.id, "RuntimeError: tool server unreachable")]

    assert await engine.retry(approval.id, ALICE)
    await engine.drain()
    assert (await store.get(approval.id)).status == "approved"
    assert len(adapter.resumes) == 2
    assert adapter.resumes[0][1] == adapter.resumes[1][1] == approval.id  # same idempotency key
    with pytest.raises(ApprovalClosed):
        await engine.retry(approval.id)


async def test_failed_event_is_retried_by_the_sweeper(store):
    adapter = RecordingAdapter(fail_times=1, fail_with_event=True)
    engine = Engine(store, adapters=[adapter], retry_backoff_seconds=0)
    approval = await open_four(engine)
    for row, answer in ANSWERS.items():
        await engine.decide(approval.id, row, answer, ALICE)
    await engine.drain()
    assert (await store.get(approval.id)).last_error == "ResumeFailed: tool server unreachable"
    assert (await engine.sweep())["resumed"] == 1
    await engine.drain()
    assert (await store.get(approval.id)).status == "approved"
    assert (await engine.sweep())["resumed"] == 0
    assert len(adapter.resumes) == 2


async def test_automatic_retries_stop_after_max_attempts(store):
    adapter = RecordingAdapter(fail_times=10)
    engine = Engine(store, adapters=[adapter], retry_backoff_seconds=0, max_attempts=2)
    approval = await open_four(engine)
    for row, answer in ANSWERS.items():
        await engine.decide(approval.id, row, answer, ALICE)
    await engine.drain()
    await engine.sweep()
    await engine.drain()
    assert (await engine.sweep())["resumed"] == 0
    assert len(adapter.resumes) == 2
    assert (await store.get(approval.id)).status == "pending"


@pytest.mark.parametrize(
    ("policy", "status", "size_value"),
    [("reject", "expired", None), ("apply_defaults", "expired", 2), ("leave_open", "pending", None)],
)
async def test_expiry_policies(store, policy, status, size_value):
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    rows = four_kinds()
    rows[1] = rows[1].model_copy(update={"default": {"values": {"replicas": 2}}})
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    approval = await engine.open_approval(
        title="t", requirements=rows, adapter="recording", expires_at=past, expiry_policy=policy
    )
    await engine.decide(approval.id, "deploy", ANSWERS["deploy"], ALICE)
    await engine.sweep()
    await engine.drain()
    final = await store.get(approval.id)
    assert final.status == status
    if policy == "leave_open":
        assert adapter.resumes == [] and final.decided_count == 1
        return
    assert len(adapter.resumes) == 1
    assert final.row("deploy").decided_by == ALICE.id
    assert final.row("tone").decision.reason == "expired"
    assert final.row("tone").decided_by == "system:expiry"
    size = final.row("size").decision
    assert (size.values.get("replicas") if size.outcome == "answered" else None) == size_value
    with pytest.raises(ApprovalClosed, match="is expired"):
        await engine.decide(approval.id, "query", ANSWERS["query"], ALICE)


async def test_cancel(store):
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    approval = await open_four(engine)
    assert await engine.cancel(approval.id, ALICE, reason="run abandoned")
    with pytest.raises(ApprovalClosed, match="cancelled"):
        await engine.decide(approval.id, "deploy", ANSWERS["deploy"], ALICE)
    with pytest.raises(ApprovalClosed):
        await engine.cancel(approval.id)
    assert (await store.get(approval.id)).status == "cancelled"
    assert adapter.resumes == []


async def test_idempotency_key_returns_the_same_approval(store):
    publisher = RecordingPublisher()
    engine = Engine(store, adapters=[RecordingAdapter()], publisher=publisher)
    first = await open_four(engine, idempotency_key="run-7")
    second = await open_four(engine, idempotency_key="run-7")
    assert first.id == second.id
    assert publisher.opened == [first.id]


@pytest.mark.parametrize(
    "change",
    [{"channel": "C0OTHER"}, {"metadata": {"run_id": "run-8"}}, {"resume_state": {"checkpoint": 2}}],
    ids=["channel", "metadata", "resume_state"],
)
async def test_an_idempotency_key_given_again_with_another_request_is_refused_and_stores_nothing(store, change):
    publisher = RecordingPublisher()
    engine = Engine(store, adapters=[RecordingAdapter()], publisher=publisher)
    first = await open_four(engine, idempotency_key="run-7", channel="C0APPROVALS", metadata={"run_id": "run-7"})
    with pytest.raises(IdempotencyKeyReused) as refused:
        await open_four(
            engine, idempotency_key="run-7", **{"channel": "C0APPROVALS", "metadata": {"run_id": "run-7"}, **change}
        )
    assert refused.value.approval_id == first.id
    assert await store.approval_ids() == [first.id]
    assert publisher.opened == [first.id]


async def test_concurrent_opens_with_one_key_return_the_one_approval_to_every_caller(store):
    publisher = RecordingPublisher()
    engine = Engine(store, adapters=[RecordingAdapter()], publisher=publisher)
    opened = await asyncio.gather(*(open_four(engine, idempotency_key="run-7") for _ in range(8)))
    assert {approval.id for approval in opened} == {opened[0].id}
    assert await store.approval_ids() == [opened[0].id]
    assert publisher.opened == [opened[0].id]


class NestingAdapter:
    """Pauses once more after the first approval, then finishes with what both approvals decided."""

    name = "nesting"

    def __init__(self):
        self.resumed_with: list[dict] = []

    async def resume(self, approval, *, idempotency_key):
        self.resumed_with.append(approval.resume_state)
        if approval.resume_state.get("step") == 1:
            yield NestedPause(
                title="One more",
                requirements=(Requirement(id="confirm_again", kind="confirmation", title="really?"),),
                resume_state={"step": 2},
            )
        else:
            yield Done(output="finished")


async def test_nested_pause_opens_a_linked_approval_in_the_same_thread(store):
    adapter = NestingAdapter()
    publisher = RecordingPublisher()
    engine = Engine(store, adapters=[adapter], publisher=publisher)
    parent = await engine.open_approval(
        title="t",
        requirements=[Requirement(id="a", kind="confirmation", title="a")],
        adapter="nesting",
        resume_state={"step": 1},
        channel="C1",
        thread_ts="111.000",
    )
    await engine.decide(parent.id, "a", ANSWERS["deploy"], ALICE)
    await engine.drain()
    assert len(publisher.opened) == 2
    child = await store.get(publisher.opened[1])
    assert (child.parent_id, child.channel, child.thread_ts) == (parent.id, "C1", "111.000")
    assert (await store.get(parent.id)).status == "approved"
    await engine.decide(child.id, "confirm_again", DecisionInput(choices=("reject",)), ALICE)
    await engine.drain()
    assert adapter.resumed_with == [{"step": 1}, {"step": 2}]
    assert (await store.get(child.id)).status == "rejected"


async def test_store_refuses_illegal_transitions(store):
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await open_four(engine)
    assert not await store.finish(approval.id, "approved")  # pending cannot finish
    assert not await store.release_for_retry(approval.id, "x", retry_at=None)  # not resuming
    assert not await store.claim_resume(approval.id)  # rows undecided
    await engine.cancel(approval.id)
    assert not await store.cancel(approval.id, ALICE)  # cancelled is final
    assert not await store.claim_resume(approval.id)


async def test_a_resume_whose_lease_expired_is_taken_over_once(open_store, database_url):
    store = await open_store(lease_seconds=0.2)
    approval = await open_four(Engine(store, adapters=[RecordingAdapter()]))
    for row, answer in ANSWERS.items():
        # Decide through the store only: this process "dies" before it resumes.
        decision = validate_decision(await store.requirement(approval.id, row), answer)
        await store.decide(DecideCommand(approval.id, row, decision, ALICE))
    assert (await store.get(approval.id)).status == "resuming"

    other = await Store.open(database_url, owner="survivor")
    adapter = RecordingAdapter()
    engine = Engine(other, adapters=[adapter])
    assert (await engine.sweep())["taken_over"] == 0  # the lease is still valid
    await asyncio.sleep(0.3)
    assert (await engine.sweep())["taken_over"] == 1
    await engine.drain()
    assert (await engine.sweep())["taken_over"] == 0
    assert len(adapter.resumes) == 1
    assert (await other.get(approval.id)).status == "approved"
    assert not await store.finish(approval.id, "approved")  # the dead owner lost its lease
    await other.close()


class CountingAdapter(RecordingAdapter):
    """Holds every resume until ``go`` is set, counting how many run at once."""

    def __init__(self) -> None:
        super().__init__(pause=asyncio.Event())
        self.running = 0
        self.most = 0

    async def resume(self, approval, *, idempotency_key):
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            async for event in super().resume(approval, idempotency_key=idempotency_key):
                yield event
        finally:
            self.running -= 1


async def test_a_burst_of_resumes_runs_a_few_at_a_time_and_queued_ones_keep_their_lease(open_store, database_url):
    store = await open_store(lease_seconds=0.3)
    adapter = CountingAdapter()
    engine = Engine(store, adapters=[adapter], max_concurrent_resumes=2)
    opened = [
        await engine.open_approval(title=f"run {n}", requirements=four_kinds()[:1], adapter="recording")
        for n in range(6)
    ]
    for approval in opened:
        assert (await engine.decide(approval.id, "deploy", ANSWERS["deploy"], ALICE)).resumed

    # Queued for longer than their lease: another process's sweep still finds nothing to take over.
    other = await Store.open(database_url, owner="other")
    try:
        await asyncio.sleep(0.5)
        assert (await Engine(other, adapters=[RecordingAdapter()]).sweep())["taken_over"] == 0
    finally:
        await other.close()
    assert adapter.running == 2
    adapter.pause.set()
    await engine.drain()

    assert adapter.most == 2
    assert sorted(approval_id for approval_id, _, _ in adapter.resumes) == sorted(a.id for a in opened)
    assert {(await store.get(a.id)).status for a in opened} == {"approved"}


class SchemaCheckingAdapter(RecordingAdapter):
    """Knows a rule the requirement cannot express: replicas must be even."""

    def check_decision(self, requirement, decision):
        if decision.values.get("replicas", 0) % 2:
            raise DecisionInvalid({"replicas": "must be even"})


async def test_an_adapter_check_refuses_a_value_before_it_is_written(store):
    engine = Engine(store, adapters=[SchemaCheckingAdapter()])
    approval = await open_four(engine)
    with pytest.raises(DecisionInvalid) as refused:
        await engine.decide(approval.id, "size", DecisionInput(values={"replicas": 3}), ALICE)
    assert refused.value.errors == {"replicas": "must be even"}
    assert not (await store.get(approval.id)).row("size").decided
    await engine.decide(approval.id, "size", DecisionInput(values={"replicas": 4}), ALICE)
    assert (await store.get(approval.id)).row("size").decision.values == {"replicas": 4, "region": None}


async def test_a_system_actor_records_a_decision_made_elsewhere_on_a_restricted_row(store):
    engine = Engine(store, adapters=[SchemaCheckingAdapter()])
    rows = [
        Requirement(id="a", kind="confirmation", title="a", deciders=Deciders(user_ids=(ALICE.id,))),
        four_kinds()[1],
    ]
    approval = await engine.open_approval(title="t", requirements=rows, adapter="recording")
    outside = Actor(id="airflow:carol", name="carol (in Airflow)", system=True)
    with pytest.raises(NotAllowed):
        await engine.decide(approval.id, "a", ANSWERS["deploy"], Actor(id="airflow:carol", name="carol"))
    await engine.decide(approval.id, "a", ANSWERS["deploy"], outside)
    # What was accepted elsewhere is recorded as it is: the adapter's own check is for people's input.
    await engine.decide(approval.id, "size", DecisionInput(values={"replicas": 3}), outside)
    await engine.drain()
    final = await store.get(approval.id)
    assert final.status == "approved"
    assert final.row("a").decided_by_name == "carol (in Airflow)"
