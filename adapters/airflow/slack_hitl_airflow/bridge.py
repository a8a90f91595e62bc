"""The bridge: finds Airflow's pending HITL requests and review sessions, opens one approval per
DAG run pause, and keeps the rows true to what happens in Airflow.

Each poll cycle (``poll_interval``, 10 s; at once when a notifier announces a request):

1. lists every unanswered request whose task waits (paged: one call per 100 requests);
2. groups the new ones by DAG run; a group is opened once its newest request has settled
   (siblings that start together land in one message) or its oldest waited long enough;
3. a group of a run that already has a message becomes a follow-up approval in its thread;
4. rows whose request left the listing are looked up: answered in the Airflow UI or by a
   timeout, the row is decided as that Airflow user (or the timeout) so Slack shows who/what;
   a task that stopped waiting without an answer (failed, cleared) is recorded as withdrawn.

Between cycles a watch (``watch_interval``, 1 s) costs one call whatever the number of pending
requests: the requests answered last, newest first, so an answer given in Airflow's UI shows on
its row within about a second; and, with ``watch_reviews``, one more for common-ai's review
sessions (their XCom, written last first): a new session opens a row, an iteration answered in
the provider's own review chat is recorded. It also looks ahead at the runs of tasks that have
just parked (``answer_gate``), so an answer given later is written without waiting.

The notifier in Airflow (``in_airflow.notifier``) calls ``wake()`` through ``notify_app`` so a
new request is found at once instead of at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from slack_hitl import (
    Actor,
    AlreadyDecided,
    Approval,
    ApprovalClosed,
    DecisionInput,
    DecisionInvalid,
    Engine,
    Requirement,
)
from slack_hitl_airflow.actors import REVIEW_CHAT, airflow_actor, review_withdrawn_actor, withdrawn_actor
from slack_hitl_airflow.adapter import ADAPTER_NAME, AirflowAdapter, run_url
from slack_hitl_airflow.answer_gate import PARKED, RunKey
from slack_hitl_airflow.claims import RequestClaims, group_key
from slack_hitl_airflow.client import AirflowClient
from slack_hitl_airflow.errors import AirflowError, AirflowNotFound
from slack_hitl_airflow.hitl_detail import HITLRequest, RequestKey
from slack_hitl_airflow.mapping import MappingPolicy, decision_input_for, request_of, requirement_for
from slack_hitl_airflow.notes import ThreadNotes
from slack_hitl_airflow.review_loop import review_title
from slack_hitl_airflow.review_session import (
    PENDING,
    SESSION_XCOM_KEY,
    ReviewSession,
    ReviewTarget,
    choice_for_status,
    is_review_row,
    requirement_for_review,
    review_of,
)

log = structlog.get_logger("slack_hitl_airflow.bridge")

ANNOUNCED_POLL = 1.0
"""Seconds between polls while an announced request is not listed yet."""
ANNOUNCED_PATIENCE = 30.0
LOOK_AHEAD_RUNS = 4
"""Runs of just-parked tasks the watch looks at per look (one call each)."""


@dataclass(frozen=True)
class BridgeSettings:
    """Where approvals go and how patient the bridge is."""

    channel: str
    channels: Mapping[str, str] = field(default_factory=dict)
    """Per-DAG channels (dag_id -> channel); others go to ``channel``."""
    settle_seconds: float = 3.0
    max_settle_seconds: float = 30.0
    poll_interval: float = 10.0
    watch_interval: float = 1.0
    """Seconds between two looks at what was answered in Airflow (one call each, whatever is pending)."""
    watch_reviews: bool = True
    """Whether to watch common-ai's review sessions (one more call per look)."""
    dag_id_pattern: str | None = None
    ui_base_url: str | None = None
    policy: MappingPolicy = field(default_factory=MappingPolicy)

    def channel_for(self, dag_id: str) -> str:
        return self.channels.get(dag_id, self.channel)


@dataclass
class PollReport:
    """What one poll cycle saw and did, and what it cost."""

    pending: int = 0
    opened: list[str] = field(default_factory=list)
    follow_ups: list[str] = field(default_factory=list)
    settling: int = 0
    recorded_from_airflow: int = 0
    http_calls: int = 0
    cpu_seconds: float = 0.0
    next_poll_in: float | None = None


@dataclass
class WatchReport:
    """What one look at Airflow's latest answers and review sessions saw and did, and what it cost."""

    recorded_from_airflow: int = 0
    reviews_opened: list[str] = field(default_factory=list)
    http_calls: int = 0


@dataclass(frozen=True)
class Placement:
    """Where an approval is posted: a channel, or the thread of the run's first message."""

    channel: str
    thread_ts: str | None = None
    parent_id: str | None = None


SessionPlace = tuple[str, str, str, int]
"""Where a review session lives: (dag_id, run_id, task_id, map_index)."""
_REMEMBERED = 4096


class AirflowBridge:
    """Polls one Airflow and keeps its pending HITL requests and the approvals in step."""

    def __init__(
        self,
        engine: Engine,
        client: AirflowClient,
        settings: BridgeSettings,
        *,
        adapter: AirflowAdapter | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.settings = settings
        self.adapter = adapter or AirflowAdapter(client, ui_base_url=settings.ui_base_url)
        self.claims = RequestClaims(engine.store)
        self.notes = ThreadNotes(engine)
        self._wake = asyncio.Event()
        self._open: dict[str, set[str]] = {}
        """Open approvals of HITL requests (pending, not yet resumed) -> their undecided request ids."""
        self._review_rows: dict[str, str] = {}
        """Undecided rows of review iterations -> their approval."""
        self._reviews: dict[SessionPlace, ReviewTarget] = {}
        self._sessions_seen: dict[SessionPlace, dt.datetime] = {}
        """When each review session's XCom was written, as last seen: a later one is news."""
        self._parked: dict[RunKey, dt.datetime] = {}
        """Runs with tasks that just parked (Airflow 3.3+) -> when an answer to them is safe (see ``answer_gate``)."""
        self.announcements = 0
        """How many times a notifier announced a request (for operators and tests)."""
        self._announced: dict[str, float] = {}
        """Task instance ids announced by a notifier and not listed yet -> when."""
        self._started = False

    async def start(self) -> None:
        """Create the claims table, register the adapter, and pick up approvals left open by a restart."""
        if self._started:
            return
        await self.claims.create_schema()
        await self.notes.start()
        self.engine.register(self.adapter)
        await self._load_open()
        self._started = True

    async def _load_open(self) -> None:
        """Every pending approval of this adapter and its undecided rows (the nested ones of review loops too)."""
        offset = 0
        while True:
            page = await self.engine.store.list_approvals(status="pending", limit=200, offset=offset)
            for approval in page:
                if approval.adapter == ADAPTER_NAME:
                    self._track(approval)
            if len(page) < 200:
                break
            offset += 200

    def _track(self, approval: Approval) -> None:
        undecided = [row for row in approval.rows if not row.decided]
        reviews = [row for row in undecided if is_review_row(row.requirement)]
        for row in reviews:
            target, _, _ = review_of(row.requirement)
            self._reviews[(target.dag_id, target.run_id, target.task_id, target.map_index)] = target
            self._review_rows[row.id] = approval.id
        hitl = {row.id for row in undecided if not is_review_row(row.requirement)}
        if hitl:
            self._open[approval.id] = hitl

    def wake(self) -> None:
        """Poll now."""
        self._wake.set()

    def announce(self, ti_id: str) -> None:
        """A notifier says a task instance created a request: poll now, and every second until it is listed.

        Notifiers run just before the task starts waiting, so the first poll may not see it yet.
        """
        self.announcements += 1
        if ti_id:
            self._announced[ti_id] = time.monotonic()
        self.wake()

    async def run(self) -> None:
        """Poll and watch forever (cancel the task to stop); a failed cycle is logged and retried."""
        await self.start()
        watching = asyncio.create_task(self._watch_forever())
        try:
            await self._poll_forever()
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    async def _watch_forever(self) -> None:
        while True:
            try:
                await self.watch_once()
            except (AirflowError, OSError) as error:
                log.warning("airflow_watch_failed", error=str(error))
            await asyncio.sleep(self.settings.watch_interval)

    async def _poll_forever(self) -> None:
        while True:
            delay = self.settings.poll_interval
            try:
                report = await self.poll_once()
                if report.next_poll_in is not None:
                    delay = min(delay, report.next_poll_in)
            except (AirflowError, OSError) as error:
                log.warning("airflow_poll_failed", error=str(error))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.05))

    # -- one cycle -----------------------------------------------------------------------------

    async def poll_once(self) -> PollReport:
        await self.start()
        calls, cpu = self.client.calls, time.process_time()
        report = PollReport()
        pending = await self.client.pending_requests(dag_id_pattern=self.settings.dag_id_pattern)
        report.pending = len(pending)
        claims = await self.claims.claimed(r.request_id for r in pending)
        now = dt.datetime.now(dt.UTC)
        by_run: dict[tuple[str, str], list[HITLRequest]] = defaultdict(list)
        unopened: dict[str, list[HITLRequest]] = defaultdict(list)
        for request in pending:
            claim = claims.get(request.request_id)
            if claim is None:
                by_run[(request.key.dag_id, request.key.run_id)].append(request)
            elif claim.approval_id is None:
                unopened[claim.group_key].append(request)
        for key, requests in unopened.items():
            await self._open_group(requests, key, report)
        for requests in by_run.values():
            wait = self._settle_wait(requests, now)
            if wait > 0:
                report.settling += len(requests)
                report.next_poll_in = min(report.next_poll_in or wait, wait)
                continue
            await self._claim_and_open(requests, report)
        self._forget_announced({r.task_instance.id for r in pending})
        if self._announced:
            report.next_poll_in = min(report.next_poll_in or ANNOUNCED_POLL, ANNOUNCED_POLL)
        pending_ids = {r.request_id for r in pending}
        report.recorded_from_airflow = await self._record_answers_from_airflow(pending_ids)
        await self.notes.post_due()
        report.http_calls = self.client.calls - calls
        report.cpu_seconds = time.process_time() - cpu
        return report

    def _forget_announced(self, listed: set[str]) -> None:
        expired = time.monotonic() - ANNOUNCED_PATIENCE
        self._announced = {ti: at for ti, at in self._announced.items() if ti not in listed and at > expired}

    def _settle_wait(self, requests: list[HITLRequest], now: dt.datetime) -> float:
        newest = max(r.created_at for r in requests)
        oldest = min(r.created_at for r in requests)
        settled_in = self.settings.settle_seconds - (now - newest).total_seconds()
        forced_in = self.settings.max_settle_seconds - (now - oldest).total_seconds()
        return max(0.0, min(settled_in, forced_in))

    async def _claim_and_open(self, requests: list[HITLRequest], report: PollReport) -> None:
        first = requests[0].key
        key = group_key(first.dag_id, first.run_id, (r.request_id for r in requests))
        if not await self.claims.claim(key, first.dag_id, first.run_id, [r.request_id for r in requests]):
            log.info("airflow_requests_claimed_elsewhere", dag_id=first.dag_id, run_id=first.run_id)
            return
        await self._open_group(requests, key, report)

    async def _placement(self, dag_id: str, run_id: str) -> Placement | None:
        """Where a new approval of a run goes: the thread of the run's first message, if it has one.

        ``None`` when that message is not posted yet (its thread is not known): try again later.
        """
        earlier = await self.claims.run_approvals(dag_id, run_id)
        if not earlier:
            return Placement(channel=self.settings.channel_for(dag_id))
        root = await self.engine.store.get(earlier[0])
        thread_ts = root.thread_ts or root.message_ts
        if thread_ts is None:
            return None
        return Placement(
            channel=root.channel or self.settings.channel_for(dag_id), thread_ts=thread_ts, parent_id=root.id
        )

    async def _open_group(self, requests: list[HITLRequest], key: str, report: PollReport) -> None:
        first = requests[0].key
        place = await self._placement(first.dag_id, first.run_id)
        if place is None:
            return
        earlier = place.parent_id is not None
        policy = self.settings.policy
        requirements: list[Requirement] = [requirement_for(r, policy) for r in requests]
        for request in requests:
            if request.assigned_users and self.client.username not in {u.id for u in request.assigned_users}:
                log.warning(
                    "airflow_answer_will_be_refused",
                    task=request.task_instance.label,
                    reason=f"Airflow answers 403 unless the bridge's user {self.client.username!r} is among "
                    "assigned_users (or the auth manager lets it answer for them)",
                )
        dag = requests[0].task_instance.dag_display_name or first.dag_id
        count = len(requirements)
        noun = "decision" if count == 1 else "decisions"
        title = f"{dag}: {count} more {noun}" if earlier else f"{dag}: {count} {noun} for run {first.run_id}"
        approval = await self._open_approval(title, requirements, key, first.dag_id, first.run_id, place)
        for request in requests:
            if request.task_instance.state == PARKED:
                run = (request.key.dag_id, request.key.run_id)
                ready_after = self.adapter.gate.ready_after([request])
                self._parked[run] = max(self._parked.get(run, ready_after), ready_after)
        (report.follow_ups if earlier else report.opened).append(approval.id)
        log.info(
            "airflow_approval_opened",
            approval_id=approval.id,
            dag_id=first.dag_id,
            run_id=first.run_id,
            rows=count,
            follow_up=bool(earlier),
        )

    async def _open_approval(
        self, title: str, requirements: list[Requirement], key: str, dag_id: str, run_id: str, place: Placement
    ) -> Approval:
        """Open (or, with the same claimed ``key``, find again) an approval of a run, and keep it in view."""
        link = run_url(self.settings.ui_base_url or self.client.base_url, dag_id, run_id)
        requested_by = await self._requester(dag_id, run_id)
        approval = await self.engine.open_approval(
            title=title,
            requirements=requirements,
            adapter=ADAPTER_NAME,
            resume_state={"dag_id": dag_id, "run_id": run_id, "ui_url": link},
            idempotency_key=key,
            metadata={"dag_id": dag_id, "run_id": run_id, "airflow_url": link},
            channel=place.channel,
            thread_ts=place.thread_ts,
            parent_id=place.parent_id,
            requested_by=requested_by,
        )
        await self.claims.set_approval(key, approval.id)
        self._track(approval)
        await self.notes.add(approval)
        return approval

    async def _requester(self, dag_id: str, run_id: str) -> str | None:
        """The Slack user of whoever triggered the run (Airflow's ``triggering_user_name`` through the
        user map); ``None`` for a scheduled run, an unmapped user, or a run Airflow cannot show now."""
        if not self.settings.policy.users.slack_ids:
            return None  # no user maps to Slack: the run's trigger user would name nobody, so ask no one
        try:
            run = await self.client.dag_run(dag_id, run_id)
        except AirflowError as error:
            log.warning("airflow_requester_unknown", dag_id=dag_id, run_id=run_id, error=str(error))
            return None
        return self.settings.policy.users.slack_id(run.triggering_user_name)

    # -- answers given in Airflow ------------------------------------------------------------------

    async def _record_answers_from_airflow(self, pending_ids: set[str]) -> int:
        recorded = 0
        for approval_id, undecided in list(self._open.items()):
            if undecided <= pending_ids:
                continue  # every undecided row still waits in Airflow: nothing to look up
            approval = await self.engine.store.get(approval_id)
            if approval.status != "pending":
                self._open.pop(approval_id, None)
                continue
            for row in approval.rows:
                if row.decided or row.id in pending_ids:
                    continue
                if await self._record_one(approval_id, row.requirement):
                    recorded += 1
            self._open[approval_id] = {
                row.id for row in (await self.engine.store.get(approval_id)).rows if not row.decided
            }
            if not self._open[approval_id]:
                self._open.pop(approval_id, None)
        return recorded

    async def _record_one(self, approval_id: str, requirement: Requirement, now: HITLRequest | None = None) -> bool:
        """Decide a row as Airflow has it: answered there (by whom), or withdrawn. ``now``: read already."""
        opened_for = request_of(requirement)
        if now is None:
            try:
                now = await self.client.request(opened_for.key)
            except AirflowNotFound:
                now = None
        same_try = now is not None and now.request_id == opened_for.request_id
        if now is not None and same_try and now.response_received:
            actor = airflow_actor(now)
            attempts = [decision_input_for(requirement, now), _with_defaults(requirement, now)]
        elif now is not None and same_try and now.waiting:
            return False  # it only slipped between two pages of the listing
        else:
            state = now.task_instance.state if same_try and now else "cleared" if now else "gone"
            actor = withdrawn_actor(state)
            attempts = [_withdrawn_decision(requirement, f"the task is {state or 'gone'} in Airflow")]
        return await self._decide_as(approval_id, requirement, actor, attempts)

    async def _decide_as(
        self, approval_id: str, requirement: Requirement, actor: Actor, attempts: list[DecisionInput]
    ) -> bool:
        """Record what happened in Airflow on a row: the first attempt the row takes."""
        bound = log.bind(approval_id=approval_id, row_id=requirement.id)
        for submitted in attempts:
            try:
                await self.engine.decide(
                    approval_id, requirement.id, submitted, actor, delivery_key=f"{actor.id}:{requirement.id}"
                )
            except DecisionInvalid as problem:
                bound.warning("airflow_answer_not_representable", error=str(problem))
                continue
            except (AlreadyDecided, ApprovalClosed):
                return False
            bound.info("row_answered_in_airflow", slack_user=actor.id)
            return True
        return False

    # -- the watch: answers given in Airflow, review sessions, parked runs -------------------------

    async def watch_once(self) -> WatchReport:
        """One look at what changed in Airflow since the last: one call, two with review sessions."""
        await self.start()
        calls = self.client.calls
        report = WatchReport()
        if self._open:
            report.recorded_from_airflow += await self._record_answered_lately()
        if self.settings.watch_reviews:
            await self._watch_reviews(report)
        await self._look_ahead_at_parked_runs()
        report.http_calls = self.client.calls - calls
        return report

    async def _record_answered_lately(self) -> int:
        """The open rows among the requests answered last: answered in Airflow's UI (or by its timeout)."""
        undecided = {row_id: approval_id for approval_id, rows in self._open.items() for row_id in rows}
        recorded = 0
        for request in await self.client.answered_lately(dag_id_pattern=self.settings.dag_id_pattern):
            approval_id = undecided.get(request.request_id)
            if approval_id is None:
                continue
            row = (await self.engine.store.get(approval_id)).row(request.request_id)
            if (
                row is not None
                and not row.decided
                and await self._record_one(approval_id, row.requirement, now=request)
            ):
                recorded += 1
            # Decided now, or already (in Slack, or by this bridge's own answer): not looked up again.
            self._open[approval_id].discard(request.request_id)
            if not self._open[approval_id]:
                self._open.pop(approval_id, None)
        return recorded

    async def _look_ahead_at_parked_runs(self) -> None:
        """Prove early that the scheduler has handled the pause of the tasks that just parked (``answer_gate``).

        A few runs per look, those that parked first: a burst of pauses costs a few calls a second
        for a while, and a run not proven yet when its answer comes is proven then (about a second).
        """
        gate = self.adapter.gate
        now = dt.datetime.now(dt.UTC)
        looked = 0
        for run, ready_after in sorted(self._parked.items(), key=lambda item: item[1]):
            if gate.proven(run, ready_after):
                del self._parked[run]
            elif now >= ready_after and looked < LOOK_AHEAD_RUNS:
                looked += 1
                await gate.observe(self.client, run)

    async def _watch_reviews(self, report: WatchReport) -> None:
        refreshed = False
        for entry in await self.client.xcom_entries(SESSION_XCOM_KEY):
            place: SessionPlace = (entry.dag_id, entry.run_id, entry.task_id, entry.map_index)
            if self._sessions_seen.get(place) == entry.timestamp:
                continue
            try:
                session = await self.client.review_session(_key_of(place))
            except AirflowNotFound:
                continue  # the provider's plugin is not installed, or the session is gone
            self._sessions_seen[place] = entry.timestamp
            _forget_oldest(self._sessions_seen)
            target = self._reviews.get(place)
            if target is not None:
                if not refreshed and not self._rows_of(target):
                    await self._load_open()  # an iteration opened by a resume (a nested approval)
                    refreshed = True
                if session.pending and await self._tried_again(place, target):
                    await self._record_review_elsewhere(target, None)
                    target = None
                else:
                    await self._record_review_elsewhere(target, session)
            if target is None and session.pending:
                await self._open_review(place, session, report)

    async def _tried_again(self, place: SessionPlace, target: ReviewTarget) -> bool:
        """Whether a session waiting for review is a new try's (a retry, a clear) rather than ``target``'s."""
        return (await self.client.task_instance(_key_of(place))).try_number != target.try_number

    def _rows_of(self, target: ReviewTarget) -> dict[str, str]:
        prefix = f"{target.claim_id}:"
        return {row_id: a for row_id, a in self._review_rows.items() if row_id.startswith(prefix)}

    async def _open_review(self, place: SessionPlace, session: ReviewSession, report: WatchReport) -> None:
        """A review session the bridge has not seen: its current iteration becomes a row (once per try)."""
        key = _key_of(place)
        ti = await self.client.task_instance(key)
        target = ReviewTarget(
            dag_id=key.dag_id,
            run_id=key.run_id,
            task_id=key.task_id,
            map_index=key.map_index,
            ti_id=ti.id,
            try_number=ti.try_number,
        )
        self._reviews[place] = target
        claim_key = group_key(key.dag_id, key.run_id, [target.claim_id])
        claim = (await self.claims.claimed([target.claim_id])).get(target.claim_id)
        if claim is not None and claim.approval_id is not None:
            await self._record_review_elsewhere(target, session)  # a restart: the session is known
            return
        if claim is None and not await self.claims.claim(claim_key, key.dag_id, key.run_id, [target.claim_id]):
            return  # another bridge claimed it meanwhile
        placement = await self._placement(key.dag_id, key.run_id)
        if placement is None:
            self._sessions_seen.pop(place, None)  # look again next time
            return
        title = review_title(ti.dag_display_name or key.dag_id, target, session.iteration)
        requirements = [requirement_for_review(target, session)]
        approval = await self._open_approval(title, requirements, claim_key, key.dag_id, key.run_id, placement)
        report.reviews_opened.append(approval.id)
        log.info("airflow_review_opened", approval_id=approval.id, task=key.task_id, iteration=session.iteration)

    async def _record_review_elsewhere(self, target: ReviewTarget, session: ReviewSession | None) -> None:
        """Rows of iterations that were answered in Airflow's review chat, or that ended without an answer
        (``session`` None: the task was tried again, and this try's session is gone)."""
        for row_id, approval_id in self._rows_of(target).items():
            approval = await self.engine.store.get(approval_id)
            row = approval.row(row_id)
            if row is None or row.decided or approval.status != "pending":
                self._review_rows.pop(row_id, None)
                continue
            _, iteration, _ = review_of(row.requirement)
            if session is None:
                actor = review_withdrawn_actor("of an earlier try")
                attempts = [_withdrawn_decision(row.requirement, "the task was tried again in Airflow")]
                if await self._decide_as(approval_id, row.requirement, actor, attempts):
                    self._review_rows.pop(row_id, None)
                continue
            if session.iteration == iteration and session.pending:
                continue
            chosen = choice_for_status(session, iteration)
            if chosen is not None:
                actor = REVIEW_CHAT
                attempts = [DecisionInput(choices=(chosen[0],), reason=chosen[1])]
            else:
                status = session.status if session.status != PENDING else "over (the task stopped)"
                actor = review_withdrawn_actor(status)
                attempts = [_withdrawn_decision(row.requirement, f"the review session is {status} in Airflow")]
            if await self._decide_as(approval_id, row.requirement, actor, attempts):
                self._review_rows.pop(row_id, None)


def _key_of(place: SessionPlace) -> RequestKey:
    dag_id, run_id, task_id, map_index = place
    return RequestKey(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)


def _forget_oldest(memory: dict[SessionPlace, dt.datetime]) -> None:
    while len(memory) > _REMEMBERED:
        memory.pop(next(iter(memory)))


def _with_defaults(requirement: Requirement, request: HITLRequest) -> DecisionInput:
    """The Airflow answer's options with the row's default values: when its params do not fit the form."""
    first = decision_input_for(requirement, request)
    return DecisionInput(
        choices=first.choices, values={f.name: f.default for f in requirement.fields}, reason=first.reason
    )


def _withdrawn_decision(requirement: Requirement, why: str) -> DecisionInput:
    choices: tuple[str, ...] = ()
    if requirement.confirmation is not None:
        options = requirement.confirmation.choices
        choices = (next((c.value for c in options if c.rejects), options[0].value),)
    return DecisionInput(
        choices=choices,
        values={f.name: f.default for f in requirement.fields},
        reason=f"not answered: {why}",
    )
