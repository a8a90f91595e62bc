"""Approval policies in the core: four-eyes (a row refuses its requester) and quorum (N distinct people).

The rules are pure (``slack_hitl.policies``) and tested without a database; the engine and the
store apply them on a SQLite file and on PostgreSQL, and two stores on one PostgreSQL database
voting at once count each person once and decide and resume once.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from pydantic import ValidationError
from sqlalchemy import update

from slack_hitl import (
    APPROVE,
    REJECT,
    SYSTEM,
    Actor,
    AlreadyDecided,
    AlreadyVoted,
    ApprovalClosed,
    ChangeRefused,
    Choice,
    Confirmation,
    Deciders,
    DecisionInput,
    Engine,
    NotAllowed,
    Reminders,
    RequesterRefused,
    Requirement,
    StepLocked,
    Store,
)
from slack_hitl.policies import is_refused_requester, may_decide, may_decide_now, quorum_outcome, waiting_for_step
from slack_hitl.store.schema import APPROVALS
from slack_hitl.testing import RecordingPublisher
from tests.core.support import RecordingAdapter
from tests.support import ALICE, BOB

pytestmark = pytest.mark.anyio

CAROL = Actor(id="U0CAROL", name="carol")
DAVE = Actor(id="U0DAVE", name="dave")
APPROVE_IT = DecisionInput(choices=("approve",))
REJECT_IT = DecisionInput(choices=("reject",), reason="too risky")


def quorum_row(approvals: int = 2, rejections: int = 1, **options: object) -> Requirement:
    confirmation = Confirmation(approvals_needed=approvals, rejections_needed=rejections)
    return Requirement(id="deploy", kind="confirmation", title="Deploy", confirmation=confirmation, **options)


def four_eyes_row() -> Requirement:
    return Requirement(id="pay", kind="confirmation", title="Pay invoice", deciders=Deciders(not_requester=True))


# -- the rules, pure ---------------------------------------------------------------------------


def test_four_eyes_refuses_only_the_requester_and_never_the_system() -> None:
    row = four_eyes_row()
    assert is_refused_requester(row, ALICE, ALICE.id)
    assert not may_decide(row, ALICE, ALICE.id)
    assert may_decide(row, BOB, ALICE.id)
    assert may_decide(row, ALICE, None)  # nobody named as requester: nobody refused
    assert may_decide(row, SYSTEM, SYSTEM.id)
    plain = Requirement(id="plain", kind="confirmation", title="Plain")
    assert may_decide(plain, ALICE, ALICE.id)  # only rows that ask for four-eyes refuse


def test_four_eyes_and_named_deciders_both_hold() -> None:
    row = Requirement(
        id="r", kind="confirmation", title="t", deciders=Deciders(user_ids=(ALICE.id, BOB.id), not_requester=True)
    )
    assert not may_decide(row, ALICE, ALICE.id)
    assert may_decide(row, BOB, ALICE.id)
    assert not may_decide(row, CAROL, ALICE.id)


def test_quorum_is_reached_by_n_approvals_or_the_rejections_needed() -> None:
    two_of = Confirmation(approvals_needed=2)
    assert quorum_outcome(two_of, ["approved"]) is None
    assert quorum_outcome(two_of, ["approved", "approved"]) == "approved"
    assert quorum_outcome(two_of, ["approved", "rejected"]) == "rejected"  # the first rejection, by default
    patient = Confirmation(approvals_needed=3, rejections_needed=2)
    assert quorum_outcome(patient, ["rejected", "approved"]) is None
    assert quorum_outcome(patient, ["rejected", "approved", "rejected"]) == "rejected"
    assert quorum_outcome(patient, ["approved", "rejected", "approved", "approved"]) == "approved"


def test_a_quorum_choice_must_count_for_one_side() -> None:
    asks = Choice(value="changes", label="Request changes", asks="What should change?")
    with pytest.raises(ValidationError, match="must each approve or reject"):
        Confirmation(choices=(APPROVE, REJECT, asks), approvals_needed=2)
    Confirmation(choices=(APPROVE, REJECT, asks))  # without a quorum, a "request changes" is fine
    with pytest.raises(ValidationError):
        Confirmation(approvals_needed=0)


# -- the engine and the store ------------------------------------------------------------------


@pytest.fixture
async def store(database_url: str):
    opened = await Store.open(database_url)
    yield opened
    await opened.close()


async def test_the_requester_is_refused_on_a_four_eyes_row_and_someone_else_decides(store: Store) -> None:
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    approval = await engine.open_approval(
        title="Invoice", requirements=[four_eyes_row()], adapter="recording", requested_by=ALICE.id
    )
    assert approval.requested_by == ALICE.id
    with pytest.raises(RequesterRefused, match="requested this approval"):
        await engine.decide(approval.id, "pay", APPROVE_IT, ALICE)
    assert isinstance(RequesterRefused("x"), NotAllowed)  # callers that catch NotAllowed still refuse
    assert (await store.get(approval.id)).decided_count == 0
    outcome = await engine.decide(approval.id, "pay", APPROVE_IT, BOB)
    assert outcome.resumed
    await engine.drain()
    final = await store.get(approval.id)
    assert (final.status, final.row("pay").decided_by) == ("approved", BOB.id)


async def test_requested_by_survives_a_new_store_reading_the_approval(store: Store, database_url: str) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(
        title="Invoice", requirements=[four_eyes_row()], adapter="recording", requested_by=ALICE.id
    )
    other = await Store.open(database_url)  # another process: nothing cached
    try:
        with pytest.raises(RequesterRefused):
            await Engine(other, adapters=[RecordingAdapter()]).decide(approval.id, "pay", APPROVE_IT, ALICE)
        assert (await other.get(approval.id)).requested_by == ALICE.id
    finally:
        await other.close()


async def test_a_two_of_three_quorum_counts_each_person_once_and_resumes_once(store: Store) -> None:
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    row = quorum_row(2, deciders=Deciders(user_ids=(ALICE.id, BOB.id, CAROL.id)))
    approval = await engine.open_approval(title="Release", requirements=[row], adapter="recording")

    first = await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
    assert (first.decided, first.resumed) == (False, False)
    with pytest.raises(AlreadyVoted) as again:
        await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
    assert again.value.outcome == "approved"
    with pytest.raises(NotAllowed):
        await engine.decide(approval.id, "deploy", APPROVE_IT, DAVE)
    pending = await store.get(approval.id)
    assert pending.status == "pending" and not pending.row("deploy").decided
    assert [(v.voter, v.outcome) for v in pending.row("deploy").votes] == [(ALICE.id, "approved")]

    second = await engine.decide(approval.id, "deploy", APPROVE_IT, BOB)
    assert (second.decided, second.resumed) == (True, True)
    with pytest.raises(AlreadyDecided):
        await engine.decide(approval.id, "deploy", APPROVE_IT, CAROL)
    await engine.drain()
    final = await store.get(approval.id)
    assert final.status == "approved"
    assert final.row("deploy").decided_by == BOB.id
    assert [v.voter for v in final.row("deploy").votes] == [ALICE.id, BOB.id]
    assert len(adapter.resumes) == 1
    log = await store.decision_log(approval.id)
    counted = [e for e in log if e["event"] == "vote_counted"]
    assert [(e["actor"], e["data"]["approvals"]) for e in counted] == [(ALICE.id, 1), (BOB.id, 2)]
    assert [e["event"] for e in log].count("decided") == 1


async def test_the_first_rejection_decides_a_quorum_row_unless_more_are_needed(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(
        title="Two rows",
        requirements=[quorum_row(2), quorum_row(2, 2).model_copy(update={"id": "db"})],
        adapter="recording",
    )
    await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
    rejected = await engine.decide(approval.id, "deploy", REJECT_IT, BOB)
    assert rejected.decided
    row = (await store.get(approval.id)).row("deploy")
    assert row.decision.outcome == "rejected" and row.decision.reason == "too risky"

    assert not (await engine.decide(approval.id, "db", REJECT_IT, ALICE)).decided  # 1 of 2 rejections
    assert (await engine.decide(approval.id, "db", REJECT_IT, CAROL)).resumed
    await engine.drain()
    final = await store.get(approval.id)
    assert final.status == "rejected"
    assert [v.voter for v in final.row("db").votes_for("rejected")] == [ALICE.id, CAROL.id]


async def test_the_same_delivery_of_a_vote_is_a_repeat_not_a_refusal(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(title="t", requirements=[quorum_row(2)], adapter="recording")
    await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE, delivery_key="k1")
    repeated = await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE, delivery_key="k1")
    assert repeated.repeated
    assert len((await store.get(approval.id)).row("deploy").votes) == 1


async def test_expiry_settles_a_quorum_row_that_did_not_reach_its_count(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(title="t", requirements=[quorum_row(3)], adapter="recording")
    await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
    assert await engine.expire(approval.id)
    await engine.drain()
    final = await store.get(approval.id)
    assert final.status == "expired" and final.expired
    assert final.row("deploy").decision.reason == "expired"
    assert [v.voter for v in final.row("deploy").votes] == [ALICE.id]  # the vote is kept


def two_rows() -> list[Requirement]:
    return [
        Requirement(id="deploy", kind="confirmation", title="Deploy"),
        Requirement(id="notify", kind="confirmation", title="Notify"),
    ]


async def test_a_decider_changes_their_mind_before_the_last_row_and_the_log_keeps_both(store: Store) -> None:
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    approval = await engine.open_approval(title="t", requirements=two_rows(), adapter="recording")
    await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
    with pytest.raises(ChangeRefused) as not_yours:
        await engine.withdraw(approval.id, "deploy", BOB)
    assert not_yours.value.reason == "not_yours"
    with pytest.raises(ChangeRefused, match="no decision"):
        await engine.withdraw(approval.id, "notify", ALICE)

    assert await engine.withdraw(approval.id, "deploy", ALICE) is False  # a decision, not a vote
    reopened = (await store.get(approval.id)).row("deploy")
    assert (reopened.decided, reopened.decided_by) == (False, None)
    await engine.decide(approval.id, "deploy", REJECT_IT, ALICE)  # the changed decision
    assert (await engine.decide(approval.id, "notify", APPROVE_IT, BOB)).resumed
    await engine.drain()
    final = await store.get(approval.id)
    assert final.row("deploy").decision.outcome == "rejected"
    assert adapter.resumes[0][2]["deploy"].outcome == "rejected"
    log = [(e["event"], e["row_id"]) for e in await store.decision_log(approval.id)]
    assert log[:4] == [("opened", None), ("decided", "deploy"), ("withdrawn", "deploy"), ("decided", "deploy")]
    withdrawn = next(e for e in await store.decision_log(approval.id) if e["event"] == "withdrawn")
    assert withdrawn["data"]["withdrawn"]["outcome"] == "approved"


async def test_nothing_changes_once_the_last_row_is_decided(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(title="t", requirements=two_rows(), adapter="recording")
    await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
    await engine.decide(approval.id, "notify", APPROVE_IT, BOB)
    await engine.drain()
    with pytest.raises(ApprovalClosed):
        await engine.withdraw(approval.id, "deploy", ALICE)
    assert (await store.get(approval.id)).row("deploy").decided


async def test_the_last_decided_rows_are_final_even_before_a_worker_claims_the_resume(database_url: str) -> None:
    web = await Store.open(database_url, claims_resumes=False)  # a web process: the resume waits for a worker
    try:
        engine = Engine(web, adapters=[RecordingAdapter()])
        approval = await engine.open_approval(title="t", requirements=two_rows(), adapter="recording")
        await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
        await engine.decide(approval.id, "notify", APPROVE_IT, BOB)
        assert (await web.get(approval.id)).status == "pending"
        with pytest.raises(ChangeRefused) as last:
            await engine.withdraw(approval.id, "deploy", ALICE)
        assert last.value.reason == "last_row"
    finally:
        await web.close()


async def test_a_voter_withdraws_their_vote_while_the_quorum_is_counting(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(title="t", requirements=[quorum_row(2)], adapter="recording")
    await engine.decide(approval.id, "deploy", APPROVE_IT, ALICE)
    assert await engine.withdraw(approval.id, "deploy", ALICE) is True
    assert (await store.get(approval.id)).row("deploy").votes == ()
    await engine.decide(approval.id, "deploy", APPROVE_IT, BOB)
    assert not (await store.get(approval.id)).row("deploy").decided  # Alice's vote no longer counts
    events = [e["event"] for e in await store.decision_log(approval.id)]
    assert events.count("vote_counted") == 2 and "vote_withdrawn" in events


@pytest.mark.postgres
async def test_a_withdrawal_racing_the_last_decision_never_lets_a_run_resume_with_an_undecided_row(
    postgres_url: str,
) -> None:
    first, second = await Store.open(postgres_url), await Store.open(postgres_url)
    adapter = RecordingAdapter()
    engines = Engine(first, adapters=[adapter]), Engine(second, adapters=[adapter])
    try:
        for _ in range(15):
            approval = await engines[0].open_approval(title="t", requirements=two_rows(), adapter="recording")
            await engines[0].decide(approval.id, "deploy", APPROVE_IT, ALICE)

            async def withdraw(approval_id: str) -> bool:
                try:
                    await engines[0].withdraw(approval_id, "deploy", ALICE)
                    return True
                except (ChangeRefused, ApprovalClosed):
                    return False

            withdrew, decided = await asyncio.gather(
                withdraw(approval.id), engines[1].decide(approval.id, "notify", APPROVE_IT, BOB)
            )
            await asyncio.gather(*(engine.drain() for engine in engines))
            now = await first.get(approval.id)
            # Either the change won (nothing resumes, the row is open) or the decision did (it resumes).
            assert withdrew != decided.resumed
            assert now.status == ("pending" if withdrew else "approved")
        assert adapter.undecided_at_resume == []
    finally:
        await first.close()
        await second.close()


def purchase() -> list[Requirement]:
    """Seed 004's multi-step approval: manager, then finance (two rows in step 2)."""
    return [
        Requirement(id="manager", kind="confirmation", title="Manager approves", step=1),
        Requirement(id="finance", kind="confirmation", title="Finance approves", step=2),
        Requirement(id="budget", kind="confirmation", title="Budget owner approves", step=2),
    ]


async def test_a_later_step_waits_for_the_earlier_one_and_is_unlocked_by_it(store: Store) -> None:
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    approval = await engine.open_approval(title="Purchase", requirements=purchase(), adapter="recording")
    assert waiting_for_step(approval, approval.row("finance")) == 1
    with pytest.raises(StepLocked) as locked:
        await engine.decide(approval.id, "finance", APPROVE_IT, BOB)
    assert locked.value.step == 2
    assert (await store.get(approval.id)).decided_count == 0

    await engine.decide(approval.id, "manager", APPROVE_IT, ALICE)
    unlocked = await store.get(approval.id)
    assert waiting_for_step(unlocked, unlocked.row("finance")) is None
    await engine.decide(approval.id, "finance", APPROVE_IT, BOB)
    assert (await engine.decide(approval.id, "budget", APPROVE_IT, CAROL)).resumed
    await engine.drain()
    assert (await store.get(approval.id)).status == "approved"
    log = await store.decision_log(approval.id)
    assert [(e["event"], e["data"].get("step")) for e in log if e["event"] == "step_unlocked"] == [("step_unlocked", 2)]


async def test_a_rejection_at_step_one_ends_the_approval_without_asking_step_two(store: Store) -> None:
    adapter = RecordingAdapter()
    engine = Engine(store, adapters=[adapter])
    approval = await engine.open_approval(title="Purchase", requirements=purchase(), adapter="recording")
    assert (await engine.decide(approval.id, "manager", REJECT_IT, ALICE)).resumed
    await engine.drain()
    final = await store.get(approval.id)
    assert final.status == "rejected"
    for row_id in ("finance", "budget"):
        row = final.row(row_id)
        assert (row.decision.outcome, row.decided_by) == ("rejected", SYSTEM.id)
        assert row.decision.reason == "an earlier step was rejected"
    ended = [e for e in await store.decision_log(approval.id) if e["event"] == "approval_ended"]
    assert sorted(ended[0]["data"]["settled"]) == ["budget", "finance"]
    assert len(adapter.resumes) == 1


async def test_an_expiry_settles_every_step(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(
        title="Purchase", requirements=purchase(), adapter="recording", expiry_policy="reject"
    )
    assert await engine.expire(approval.id)
    await engine.drain()
    final = await store.get(approval.id)
    assert final.all_decided and final.status == "expired"


async def test_a_quorum_row_in_a_later_step_waits_too(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    rows = [
        Requirement(id="manager", kind="confirmation", title="Manager", step=1),
        quorum_row(2).model_copy(update={"step": 2}),
    ]
    approval = await engine.open_approval(title="t", requirements=rows, adapter="recording")
    with pytest.raises(StepLocked):
        await engine.decide(approval.id, "deploy", APPROVE_IT, BOB)
    assert (await store.get(approval.id)).row("deploy").votes == ()
    await engine.decide(approval.id, "manager", APPROVE_IT, ALICE)
    assert not (await engine.decide(approval.id, "deploy", APPROVE_IT, BOB)).decided
    assert (await engine.decide(approval.id, "deploy", APPROVE_IT, CAROL)).resumed
    await engine.drain()
    assert (await store.get(approval.id)).status == "approved"


@pytest.mark.postgres
async def test_five_people_voting_at_once_through_two_stores_count_exactly_and_resume_once(postgres_url: str) -> None:
    first, second = await Store.open(postgres_url), await Store.open(postgres_url)
    adapters = RecordingAdapter(), RecordingAdapter()
    engines = Engine(first, adapters=[adapters[0]]), Engine(second, adapters=[adapters[1]])
    people = [Actor(id=f"U0P{i}", name=f"p{i}") for i in range(5)]
    try:
        approvals = [
            await engines[0].open_approval(title=f"run {n}", requirements=[quorum_row(3)], adapter="recording")
            for n in range(20)
        ]

        async def vote(n: int, i: int) -> bool:
            try:
                return (await engines[i % 2].decide(approvals[n].id, "deploy", APPROVE_IT, people[i])).decided
            except AlreadyDecided:
                return False

        decided = await asyncio.gather(*(vote(n, i) for n in range(20) for i in range(5)))
        await asyncio.gather(*(engine.drain() for engine in engines))
        assert sum(decided) == 20  # one deciding vote per row
        for approval in approvals:
            final = await first.get(approval.id)
            assert final.status == "approved"
            assert len(final.row("deploy").votes) == 3
            assert len({v.voter for v in final.row("deploy").votes}) == 3
        resumed = [resume[0] for adapter in adapters for resume in adapter.resumes]
        assert sorted(resumed) == sorted(a.id for a in approvals)
    finally:
        await first.close()
        await second.close()


# -- reminders and escalation --------------------------------------------------------------------


class RecordingReminders(RecordingPublisher):
    """Records each reminder and escalation it is asked to show; can refuse the first reminders."""

    def __init__(self, *, refuse: int = 0) -> None:
        super().__init__()
        self.reminders: list[tuple[str, int]] = []
        self.escalations: list[str] = []
        self.refuse = refuse

    async def remind(self, approval, number):
        if self.refuse:
            self.refuse -= 1
            return False
        self.reminders.append((approval.id, number))
        return True

    async def escalated(self, approval):
        self.escalations.append(approval.id)
        return True


async def make_due(store: Store, approval_id: str) -> None:
    """Move the approval's next reminder and its escalation into the past (what waiting would do)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with store.write() as conn:
        await conn.execute(
            update(APPROVALS).where(APPROVALS.c.id == approval_id).values(next_reminder_at=past, escalate_at=past)
        )


REMIND = Reminders(every_seconds=3600, escalate_after_seconds=7200, escalate_to=Deciders(user_ids=(CAROL.id,)))


async def test_a_due_reminder_is_sent_once_across_stores_and_the_next_is_scheduled(
    store: Store, database_url: str
) -> None:
    publishers = RecordingReminders(), RecordingReminders()
    other = await Store.open(database_url)
    try:
        engines = (
            Engine(store, adapters=[RecordingAdapter()], publisher=publishers[0]),
            Engine(other, adapters=[RecordingAdapter()], publisher=publishers[1]),
        )
        row = Requirement(id="deploy", kind="confirmation", title="Deploy", deciders=Deciders(user_ids=(ALICE.id,)))
        approval = await engines[0].open_approval(title="t", requirements=[row], adapter="recording", reminders=REMIND)
        assert await store.due_reminders() == [] and await store.due_escalations() == []  # not yet due
        await make_due(store, approval.id)
        swept = await asyncio.gather(engines[0].sweep(), engines[1].sweep(), engines[0].sweep())
        assert sum(s["reminded"] for s in swept) == 1
        assert sum(s["escalated"] for s in swept) == 1
        assert [r for p in publishers for r in p.reminders] == [(approval.id, 1)]
        assert [e for p in publishers for e in p.escalations] == [approval.id]
        now = await store.get(approval.id)
        assert (now.reminders_sent, now.escalated) == (1, True)
        assert await store.due_reminders() == []  # the next one is an interval away
        events = [e["event"] for e in await store.decision_log(approval.id)]
        assert events.count("reminder_sent") == 1 and events.count("escalated") == 1
        # The escalation let Carol decide a row that named only Alice; Dave is still refused.
        with pytest.raises(NotAllowed):
            await engines[1].decide(approval.id, "deploy", APPROVE_IT, DAVE)
        assert (await engines[1].decide(approval.id, "deploy", APPROVE_IT, CAROL)).resumed
        await asyncio.gather(*(engine.drain() for engine in engines))
    finally:
        await other.close()


async def test_an_unshown_reminder_is_tried_again_and_a_held_one_is_not_sent_twice(store: Store) -> None:
    publisher = RecordingReminders(refuse=1)
    engine = Engine(store, adapters=[RecordingAdapter()], publisher=publisher)
    approval = await engine.open_approval(
        title="t", requirements=two_rows(), adapter="recording", reminders=Reminders(every_seconds=3600)
    )
    await make_due(store, approval.id)
    ((_, seen),) = await store.due_reminders()
    assert not await engine.remind(approval.id, seen)  # Slack refused: nothing recorded, the lease holds it
    assert not await store.claim_reminder(approval.id, seen)  # a second process cannot take it meanwhile
    assert (await store.get(approval.id)).reminders_sent == 0
    assert await store.claim_reminder(approval.id, seen, lease_seconds=0.5) is False
    # Once its lease runs out (a restarted or other process), the same interval's reminder is sent once.
    async with store.write() as conn:
        await conn.execute(
            update(APPROVALS).values(reminder_lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert (await engine.sweep())["reminded"] == 1
    assert (await engine.sweep())["reminded"] == 0
    assert publisher.reminders == [(approval.id, 1)]


def test_an_escalation_must_name_whom_it_adds() -> None:
    with pytest.raises(ValidationError, match="escalate_to"):
        Reminders(every_seconds=60, escalate_after_seconds=120)


async def test_an_inbox_lists_only_the_rows_a_person_may_decide_now(store: Store) -> None:
    engine = Engine(store, adapters=[RecordingAdapter()])
    rows = [
        Requirement(id="manager", kind="confirmation", title="Manager", deciders=Deciders(not_requester=True)),
        quorum_row(2).model_copy(update={"step": 2}),
    ]
    approval = await engine.open_approval(title="t", requirements=rows, adapter="recording", requested_by=ALICE.id)
    now = await store.get(approval.id)
    assert not may_decide_now(now, now.row("manager"), ALICE)  # four-eyes
    assert may_decide_now(now, now.row("manager"), BOB)
    assert not may_decide_now(now, now.row("deploy"), BOB)  # step 2 waits
    await engine.decide(approval.id, "manager", APPROVE_IT, BOB)
    await engine.decide(approval.id, "deploy", APPROVE_IT, BOB)
    now = await store.get(approval.id)
    assert not may_decide_now(now, now.row("deploy"), BOB)  # already voted
    assert may_decide_now(now, now.row("deploy"), CAROL)
