"""The bridge: finds Airflow's pending HITL requests and opens one approval per DAG run pause.

Each poll cycle:

1. lists every unanswered request whose task waits (paged);
2. groups the new ones by DAG run; a group is opened once its newest request has settled
   (siblings that start together land in one message) or its oldest waited long enough;
3. a group of a run that already has a message becomes a follow-up approval in its thread;
4. rows whose request left the listing are looked up: answered in the Airflow UI or by a
   timeout, the row is decided as that Airflow user (or the timeout) so Slack shows who/what;
   a task that stopped waiting without an answer (failed, cleared) is recorded as withdrawn.

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
    ApprovalClosed,
    DecisionInput,
    DecisionInvalid,
    Engine,
    Requirement,
)
from slack_hitl_airflow.adapter import ADAPTER_NAME, AirflowAdapter, run_url
from slack_hitl_airflow.claims import RequestClaims, group_key
from slack_hitl_airflow.client import AirflowClient
from slack_hitl_airflow.errors import AirflowError, AirflowNotFound
from slack_hitl_airflow.hitl_detail import HITLRequest
from slack_hitl_airflow.mapping import MappingPolicy, decision_input_for, request_of, requirement_for

log = structlog.get_logger("slack_hitl_airflow.bridge")

ANNOUNCED_POLL = 1.0
"""Seconds between polls while an announced request is not listed yet."""
ANNOUNCED_PATIENCE = 30.0


@dataclass(frozen=True)
class BridgeSettings:
    """Where approvals go and how patient the bridge is."""

    channel: str
    channels: Mapping[str, str] = field(default_factory=dict)
    """Per-DAG channels (dag_id -> channel); others go to ``channel``."""
    settle_seconds: float = 3.0
    max_settle_seconds: float = 30.0
    poll_interval: float = 10.0
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


AIRFLOW_ACTOR_PREFIX = "airflow:"


def is_airflow_actor(actor: Actor) -> bool:
    """An actor the bridge made for an answer given in Airflow (no Slack user id has this form)."""
    return actor.id.startswith(AIRFLOW_ACTOR_PREFIX)


def airflow_actor(request: HITLRequest) -> Actor:
    """Who answered a request in Airflow: a user, or the timeout that applied the defaults."""
    user = request.responded_by_user
    if user is None:
        return Actor(id="airflow:timeout", name="Airflow (timed out, defaults applied)", system=True)
    return Actor(id=f"airflow:{user.id}", name=f"{user.name} (in Airflow)", system=True)


def withdrawn_actor(state: str | None) -> Actor:
    return Actor(id="airflow:withdrawn", name=f"Airflow (task {state or 'gone'}, not answered)", system=True)


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
        self._wake = asyncio.Event()
        self._open: dict[str, set[str]] = {}
        """Open approvals (pending, not yet resumed) -> their undecided request ids."""
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
        self.engine.register(self.adapter)
        offset = 0
        while True:
            page = await self.engine.store.list_approvals(status="pending", limit=200, offset=offset)
            for approval in page:
                if approval.adapter == ADAPTER_NAME:
                    self._open[approval.id] = {row.id for row in approval.rows if not row.decided}
            if len(page) < 200:
                break
            offset += 200
        self._started = True

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
        """Poll forever (cancel the task to stop); a failed cycle is logged and retried."""
        await self.start()
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

    async def _open_group(self, requests: list[HITLRequest], key: str, report: PollReport) -> None:
        first = requests[0].key
        earlier = await self.claims.run_approvals(first.dag_id, first.run_id)
        thread_ts = channel = parent_id = None
        if earlier:
            root = await self.engine.store.get(earlier[0])
            thread_ts = root.thread_ts or root.message_ts
            channel = root.channel
            parent_id = root.id
            if thread_ts is None:
                return  # the first message is not posted yet: its thread is not known; next poll
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
        link = run_url(self.settings.ui_base_url or self.client.base_url, first.dag_id, first.run_id)
        approval = await self.engine.open_approval(
            title=title,
            requirements=requirements,
            adapter=ADAPTER_NAME,
            resume_state={"dag_id": first.dag_id, "run_id": first.run_id, "ui_url": link},
            channel=channel or self.settings.channel_for(first.dag_id),
            thread_ts=thread_ts,
            parent_id=parent_id,
            idempotency_key=key,
            metadata={"dag_id": first.dag_id, "run_id": first.run_id, "airflow_url": link},
        )
        await self.claims.set_approval(key, approval.id)
        self._open[approval.id] = {row.id for row in approval.rows if not row.decided}
        (report.follow_ups if earlier else report.opened).append(approval.id)
        log.info(
            "airflow_approval_opened",
            approval_id=approval.id,
            dag_id=first.dag_id,
            run_id=first.run_id,
            rows=count,
            follow_up=bool(earlier),
        )

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

    async def _record_one(self, approval_id: str, requirement: Requirement) -> bool:
        opened_for = request_of(requirement)
        try:
            now = await self.client.request(opened_for.key)
        except AirflowNotFound:
            now = None
        bound = log.bind(approval_id=approval_id, row_id=requirement.id)
        same_try = now is not None and now.request_id == opened_for.request_id
        if same_try and now.response_received:
            actor = airflow_actor(now)
            attempts = [decision_input_for(requirement, now), _with_defaults(requirement, now)]
        elif same_try and now.waiting:
            return False  # it only slipped between two pages of the listing
        else:
            state = now.task_instance.state if same_try and now else "cleared" if now else "gone"
            actor = withdrawn_actor(state)
            attempts = [_withdrawn_decision(requirement, state)]
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


def _with_defaults(requirement: Requirement, request: HITLRequest) -> DecisionInput:
    """The Airflow answer's options with the row's default values: when its params do not fit the form."""
    first = decision_input_for(requirement, request)
    return DecisionInput(
        choices=first.choices, values={f.name: f.default for f in requirement.fields}, reason=first.reason
    )


def _withdrawn_decision(requirement: Requirement, state: str | None) -> DecisionInput:
    choices: tuple[str, ...] = ()
    if requirement.confirmation is not None:
        options = requirement.confirmation.choices
        choices = (next((c.value for c in options if c.rejects), options[0].value),)
    return DecisionInput(
        choices=choices,
        values={f.name: f.default for f in requirement.fields},
        reason=f"not answered: the task is {state or 'gone'} in Airflow",
    )
