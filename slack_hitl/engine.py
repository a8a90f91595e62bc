"""Open, decide, resume, expire and recover approvals: the owner of the state machine.

The engine knows nothing of Slack. What people see is the business of a ``Publisher`` (the
Slack layer implements one); what a run does when it resumes is the business of an ``Adapter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from slack_hitl.adapter import Adapter
from slack_hitl.approvals import EXPIRY, SYSTEM, Actor, Approval, ExpiryPolicy, Reminders, is_system_actor
from slack_hitl.background import BackgroundTasks
from slack_hitl.decisions import Decision, DecisionInput, validate_decision
from slack_hitl.errors import (
    AdapterNotRegistered,
    AlreadyDecided,
    AlreadyVoted,
    ApprovalClosed,
    ChangeRefused,
    DecisionInvalid,
    IdempotencyKeyReused,
    InputProblem,
    NotAllowed,
    RequesterRefused,
    StepLocked,
    UnknownApproval,
    UnknownRow,
)
from slack_hitl.events import ContinuationEvent, Done, Failed, NestedPause
from slack_hitl.metrics import DECISIONS, RESUMES
from slack_hitl.policies import is_refused_requester, may_decide
from slack_hitl.requirements import Confirmation, Requirement
from slack_hitl.status import FINAL_STATUSES, final_status
from slack_hitl.storable import check_storable
from slack_hitl.store import DecideCommand, RowState, Store
from slack_hitl.store.wakeups import Subscription
from slack_hitl.times import utcnow

log = structlog.get_logger("slack_hitl.engine")


FAILED_SWEEP_PAUSE_SECONDS = 1.0
"""A sweeper whose pass failed (the database is away, say) waits at least this long before the next."""
TIMER_SLACK_SECONDS = 0.005
"""A sweeper waiting for timed work wakes this much after it is due, so that it is due when it looks."""


class ContinuationSink:
    """Where a resumed run's events go; the Slack layer streams them into the thread."""

    async def send(self, event: ContinuationEvent) -> None:
        pass


class Publisher:
    """What the engine tells the outside world. The default tells no one; subclass to show approvals."""

    async def check_approval(self, title: str, requirements: Sequence[Requirement]) -> None:
        """Raise ``InputProblem`` (located at the row) if the approval could not be shown and decided."""

    async def approval_opened(self, approval: Approval) -> None:
        """A new approval was stored: show it (post its message)."""

    def approval_changed(self, approval_id: str) -> None:
        """Something people should see changed: re-render soon. Must not block."""

    def continuation(self, approval: Approval) -> AbstractAsyncContextManager[ContinuationSink]:
        return _null_sink()

    async def resume_failed(self, approval: Approval, error: str) -> None:
        """A resume failed and the approval is retryable: say so where people look."""

    async def remind(self, approval: Approval, number: int) -> bool:
        """Remind the people who can still decide ``approval``'s pending rows (the ``number``-th
        reminder). ``False`` when it was not shown (the caller tries again). The default shows nothing."""
        return True

    async def escalated(self, approval: Approval) -> bool:
        """Tell the people an escalation added that they may now decide ``approval``'s rows."""
        return True

    async def post_note(self, approval: Approval, text: str) -> bool:
        """Show ``text`` (Markdown) in the approval's thread, all of it: what a row can only show the
        start of, such as a long model output. ``False`` when it was not shown (no thread yet, or the
        chat refused); the caller may try again later."""
        return False


@asynccontextmanager
async def _null_sink() -> AsyncIterator[ContinuationSink]:
    yield ContinuationSink()


@dataclass(frozen=True)
class DecideOutcome:
    """What a decide did: ``resumed`` when this decision was the last and won the resume."""

    approval_id: str
    row_id: str
    resumed: bool
    repeated: bool = False
    decided: bool = True
    """False for a vote on a quorum row that was counted without reaching a count."""


class ResumeFailed(Exception):
    """An adapter reported a failed continuation."""


class Engine:
    """The framework-agnostic core: give it a store, the adapters it may resume, and a publisher."""

    def __init__(
        self,
        store: Store,
        *,
        adapters: Iterable[Adapter] = (),
        publisher: Publisher | None = None,
        max_attempts: int = 3,
        retry_backoff_seconds: float = 5.0,
        max_concurrent_resumes: int = 32,
    ) -> None:
        self.store = store
        self.adapters: dict[str, Adapter] = {a.name: a for a in adapters}
        self.publisher = publisher or Publisher()
        self.max_attempts = max_attempts
        self.retry_backoff_seconds = retry_backoff_seconds
        # A burst of approvals decided at once resumes a few at a time: a resume waiting for a slot
        # holds no approval in memory, and the runs it calls (a model, Airflow) are not stampeded.
        self._resume_slots = asyncio.Semaphore(max_concurrent_resumes)
        self._tasks = BackgroundTasks()
        self._changed = asyncio.Condition()

    def register(self, adapter: Adapter) -> None:
        self.adapters[adapter.name] = adapter

    # -- opening -----------------------------------------------------------------------------

    async def open_approval(
        self,
        *,
        title: str,
        requirements: Sequence[Requirement],
        adapter: str | Adapter,
        resume_state: dict[str, Any] | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
        parent_id: str | None = None,
        expires_at: dt.datetime | None = None,
        expiry_policy: ExpiryPolicy = "reject",
        idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
        actor: Actor = SYSTEM,
        requested_by: str | None = None,
        reminders: Reminders | None = None,
    ) -> Approval:
        """Store an approval with its rows and show it. The same idempotency key returns the same approval.
        ``requested_by`` (a Slack user id) names who asked for it: rows with ``Deciders.not_requester``
        refuse that person (four-eyes).

        ``InputProblem`` when it cannot be stored or shown (checked completely first: nothing is stored)."""
        if not requirements:
            raise InputProblem([(("requirements",), "an approval needs at least one requirement")])
        ids = [r.id for r in requirements]
        if len(set(ids)) != len(ids):
            raise InputProblem([(("requirements",), f"requirement ids must be unique within an approval, got {ids}")])
        # Off the event loop: walking every text of a 200-row approval takes milliseconds, which
        # the acks of clicks waiting on this loop should not.
        await asyncio.to_thread(check_storable, title, requirements, metadata=metadata, resume_state=resume_state)
        await self.publisher.check_approval(title, requirements)
        if not isinstance(adapter, str):
            self.register(adapter)
            adapter = adapter.name
        approval, created = await self.store.insert_approval(
            title=title,
            requirements=requirements,
            adapter=adapter,
            resume_state=resume_state or {},
            channel=channel,
            thread_ts=thread_ts,
            parent_id=parent_id,
            expires_at=expires_at,
            expiry_policy=expiry_policy,
            idempotency_key=idempotency_key,
            metadata=metadata,
            actor=actor,
            requested_by=requested_by,
            reminders=reminders,
        )
        if created:
            log.info("approval_opened", approval_id=approval.id, rows=len(requirements), adapter=adapter)
            # A worker posts it if this process cannot; an expiry or reminders set a time to keep.
            self.store.wake_workers(timed=expires_at is not None or reminders is not None)
            await self.publisher.approval_opened(approval)
        return approval

    # -- deciding ----------------------------------------------------------------------------

    async def check_decision(
        self, approval_id: str, row_id: str, submitted: DecisionInput, actor: Actor
    ) -> tuple[Requirement, Decision]:
        """Find, authorize and validate, without writing: raises what ``decide`` would raise. An
        engine subclass may refuse more here; ``decide`` always asks it."""
        target = await self.store.row_target(approval_id, row_id)  # raises UnknownApproval / UnknownRow
        requirement, policy = target.requirement, target.policy
        if is_refused_requester(requirement, actor, policy.requested_by):
            raise RequesterRefused(
                f"{actor.name or actor.id} requested this approval and may not decide {requirement.title!r}"
            )
        if not may_decide(requirement, actor, policy.requested_by) and not (
            # Escalation changes over time, so it is read, but only for a click its rows alone refuse.
            may_decide(requirement, actor, policy.requested_by, policy.escalate_to)
            and await self.store.escalated(approval_id)
        ):
            raise NotAllowed(f"{actor.name or actor.id} may not decide {requirement.title!r}")
        decision = validate_decision(requirement, submitted)
        # getattr, not isinstance(adapter, ChecksDecisions): a runtime protocol check is a cost on
        # every click (benchmarks/bench_decide.py), for an answer that never changes.
        check = getattr(self.adapters.get(target.adapter), "check_decision", None)
        if check is not None and not actor.system:
            # A system actor records what was accepted elsewhere; only what people submit is checked.
            check(requirement, decision)
        return requirement, decision

    async def decide(
        self,
        approval_id: str,
        row_id: str,
        submitted: DecisionInput,
        actor: Actor,
        *,
        delivery_key: str | None = None,
    ) -> DecideOutcome:
        """Decide one row. Raises UnknownApproval / UnknownRow / NotAllowed / DecisionInvalid /
        AlreadyDecided / ApprovalClosed; a repeated delivery (same ``delivery_key``) is a no-op."""
        requirement, decision = await self.check_decision(approval_id, row_id, submitted, actor)
        steps = self.store.cached_policy(approval_id).steps  # cached by check_decision's lookup
        command = DecideCommand(approval_id, row_id, decision, actor, delivery_key, requirement.step, steps)
        if requirement.confirmation is not None and requirement.confirmation.is_quorum and not actor.system:
            return await self._vote(command, requirement.confirmation)
        result = await self.store.decide(command)
        # No bound logger: binding one per decision costs more than the log line on the hot path
        # (benchmarks/bench_decide.py, "CPU ms").
        if not result.decided:
            if result.repeated:
                DECISIONS.labels("repeated").inc()
                log.info("decision_repeated", approval_id=approval_id, row_id=row_id, slack_user=actor.id)
                return DecideOutcome(approval_id, row_id, resumed=False, repeated=True)
            refusal = why_not_decided(approval_id, row_id, result.found, command.step)
            DECISIONS.labels("already_decided" if isinstance(refusal, AlreadyDecided) else "closed").inc()
            raise refusal
        DECISIONS.labels(decision.outcome).inc()
        log.info("row_decided", approval_id=approval_id, row_id=row_id, slack_user=actor.id, outcome=decision.outcome)
        self.publisher.approval_changed(approval_id)
        await self._notify()
        if result.resume:
            self._spawn(self._run_resume(approval_id))
        return DecideOutcome(approval_id, row_id, resumed=result.resume)

    async def _vote(self, command: DecideCommand, confirmation: Confirmation) -> DecideOutcome:
        """A person's vote on a quorum row (a system actor, such as an expiry, decides the row outright)."""
        approval_id, row_id, actor = command.approval_id, command.row_id, command.actor
        result = await self.store.vote(command, confirmation)
        if not result.counted:
            if result.repeated:
                log.info("vote_repeated", approval_id=approval_id, row_id=row_id, slack_user=actor.id)
                return DecideOutcome(approval_id, row_id, resumed=False, repeated=True, decided=False)
            if result.earlier is not None:
                raise AlreadyVoted(row_id, actor.id, result.earlier)
            raise why_not_decided(approval_id, row_id, result.found, command.step)
        log.info(
            "vote_counted",
            approval_id=approval_id,
            row_id=row_id,
            slack_user=actor.id,
            outcome=command.decision.outcome,
            decided=result.decided,
        )
        self.publisher.approval_changed(approval_id)
        await self._notify()
        if result.resume:
            self._spawn(self._run_resume(approval_id))
        return DecideOutcome(approval_id, row_id, resumed=result.resume, decided=result.decided)

    async def withdraw(self, approval_id: str, row_id: str, actor: Actor) -> bool:
        """Change of mind: withdraw ``actor``'s decision of a row (or their vote on a quorum row) while
        the approval is pending and another row is undecided; the row is open again. Returns whether a
        vote (``True``) or a decision (``False``) was withdrawn. Raises ``ChangeRefused`` (with why),
        ``ApprovalClosed`` or ``UnknownRow``."""
        result = await self.store.withdraw(approval_id, row_id, actor)
        if not result.withdrawn:
            if result.refusal == "unknown":
                raise UnknownRow(f"approval {approval_id} has no row {row_id!r}")
            if result.refusal == "closed":
                raise ApprovalClosed(approval_id, result.approval_status or "closed")
            raise ChangeRefused(row_id, result.refusal or "not_decided", result.decided_by)
        log.info("decision_withdrawn", approval_id=approval_id, row_id=row_id, slack_user=actor.id, vote=result.vote)
        self.publisher.approval_changed(approval_id)
        await self._notify()
        return result.vote

    # -- resuming ----------------------------------------------------------------------------

    async def retry(self, approval_id: str, actor: Actor = SYSTEM, *, delivery_key: str | None = None) -> bool:
        """Resume a retryable approval (every row decided, last resume failed). ``False`` if another won.
        A repeated delivery (same ``delivery_key``) does nothing and answers what the first one did."""
        approval = await self.store.get(approval_id)
        if approval.status != "pending" or not approval.all_decided:
            raise ApprovalClosed(approval_id, approval.status if approval.status != "pending" else "undecided")
        claim = await self.store.claim_retry(approval_id, actor, delivery_key)
        if claim.repeated:
            log.info("retry_repeated", approval_id=approval_id, slack_user=actor.id, won=claim.won)
        elif claim.won:
            self._spawn(self._run_resume(approval_id))
        return claim.won

    async def _run_resume(self, approval_id: str) -> None:
        # The lease is renewed from the claim on, also while the resume waits for a slot:
        # no other process takes over a resume that is only queued.
        renew = asyncio.create_task(self._keep_lease(approval_id))
        try:
            async with self._resume_slots:
                await self._resume(approval_id)
        finally:
            renew.cancel()

    async def _resume(self, approval_id: str) -> None:
        approval = await self.store.get(approval_id)
        bound = log.bind(approval_id=approval_id, adapter=approval.adapter, attempt=approval.attempts)
        self.publisher.approval_changed(approval_id)
        try:
            adapter = self.adapters.get(approval.adapter)
            if adapter is None:
                raise AdapterNotRegistered(
                    f"approval {approval_id} needs adapter {approval.adapter!r}; this engine has "
                    f"{', '.join(sorted(self.adapters)) or 'none'}"
                )
            output = await self._stream(approval, adapter)
        except Exception as error:  # any failure of a resume leaves it retryable, never stranded
            message = f"{type(error).__name__}: {error}"
            bound.warning("resume_failed", error=message)
            retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(
                seconds=self.retry_backoff_seconds * 2 ** max(approval.attempts - 1, 0)
            )
            RESUMES.labels("failed").inc()
            if await self.store.release_for_retry(approval_id, message, retry_at=retry_at):
                self.store.wake_workers(timed=True)  # the retry is due at retry_at: a sweeper keeps that time
                await self.publisher.resume_failed(await self.store.get(approval_id), message)
        else:
            status = final_status(
                (r.decision.outcome if r.decision else None for r in approval.rows), expired=approval.expired
            )
            if await self.store.finish(approval_id, status, output=output):
                RESUMES.labels(status).inc()
                bound.info("resume_finished", status=status)
            else:
                RESUMES.labels("lost_lease").inc()
                bound.warning("resume_lost_lease")
        finally:
            self.publisher.approval_changed(approval_id)
            await self._notify()

    async def _stream(self, approval: Approval, adapter: Adapter) -> Any:
        output: Any = None
        # aclosing: the adapter's generator is closed in this task even when a sink raises,
        # which frameworks with context-bound cleanup (Pydantic AI on 3.11) rely on.
        events = adapter.resume(approval, idempotency_key=approval.id)
        async with self.publisher.continuation(approval) as sink, contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, Failed):
                    raise ResumeFailed(event.error)
                await sink.send(event)
                if isinstance(event, NestedPause):
                    await self._open_nested(approval, event)
                elif isinstance(event, Done):
                    output = event.output
        return output

    async def _open_nested(self, approval: Approval, pause: NestedPause) -> None:
        key = _nested_key(approval.id, pause)
        try:
            await self.open_approval(
                title=pause.title,
                requirements=pause.requirements,
                adapter=approval.adapter,
                resume_state=pause.resume_state,
                channel=approval.channel,
                thread_ts=approval.thread_ts or approval.message_ts,
                parent_id=approval.id,
                expiry_policy=approval.expiry_policy,
                idempotency_key=key,
            )
        except IdempotencyKeyReused as reused:
            # A retried resume paused at the same rows again, its run state told differently (a new
            # checkpoint id, say): it is the same pause, whose approval is already open.
            log.info("nested_pause_repeated", approval_id=reused.approval_id, parent_id=approval.id)

    async def _keep_lease(self, approval_id: str) -> None:
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            if not await self.store.renew_lease(approval_id):
                return

    # -- cancelling, expiring, recovering -------------------------------------------------------

    async def cancel(self, approval_id: str, actor: Actor = SYSTEM, reason: str | None = None) -> bool:
        approval = await self.store.get(approval_id)
        if not await self.store.cancel(approval_id, actor, reason):
            raise ApprovalClosed(approval_id, (await self.store.get(approval_id)).status)
        log.info("approval_cancelled", approval_id=approval.id, slack_user=actor.id)
        self.publisher.approval_changed(approval_id)
        await self._notify()
        return True

    async def expire(self, approval_id: str) -> bool:
        """Apply the approval's expiry policy now; resume it when that decided every row."""
        approval = await self.store.get(approval_id)
        if approval.expiry_policy == "leave_open" or approval.status != "pending":
            return False
        decisions = {
            row.id: expiry_decision(row.requirement, approval.expiry_policy) for row in approval.rows if not row.decided
        }
        won = await self.store.expire(approval_id, decisions, EXPIRY)
        log.info("approval_expired", approval_id=approval_id, policy=approval.expiry_policy, resumed=won)
        self.publisher.approval_changed(approval_id)
        await self._notify()
        if won:
            self._spawn(self._run_resume(approval_id))
        return True

    async def sweep(self) -> dict[str, int]:
        """One pass of the sweeper: expire due approvals, take over dead resumes, and resume the ones due
        (retries of failed ones, and approvals decided by a process that leaves resuming to others)."""
        # Due resumes first: a worker woken by the last click of an approval starts its run at once.
        due = await self.store.claim_due_resumes(max_attempts=self.max_attempts)
        for approval_id in due:
            self._spawn(self._run_resume(approval_id))
        expired = [a for a in await self.store.due_for_expiry() if await self.expire(a)]
        taken = await self.store.take_over_expired_leases()
        for approval_id in taken:
            log.info("resume_taken_over", approval_id=approval_id)
            self._spawn(self._run_resume(approval_id))
        escalated = [a for a in await self.store.due_escalations() if await self.escalate(a)]
        reminded = [a for a, seen in await self.store.due_reminders() if await self.remind(a, seen)]
        return {
            "expired": len(expired),
            "taken_over": len(taken),
            "resumed": len(due),
            "escalated": len(escalated),
            "reminded": len(reminded),
        }

    async def escalate(self, approval_id: str) -> bool:
        """Escalate a due approval once across processes (a CAS), then tell the people it adds."""
        if not await self.store.escalate(approval_id, SYSTEM):
            return False
        approval = await self.store.get(approval_id)
        log.info("approval_escalated", approval_id=approval_id)
        self.publisher.approval_changed(approval_id)
        if not await self.publisher.escalated(approval):
            log.warning("escalation_not_told", approval_id=approval_id)
        return True

    async def remind(self, approval_id: str, seen: dt.datetime) -> bool:
        """Send the reminder of the interval ``seen`` once across processes: claimed by a CAS, shown,
        then recorded. Unshown, it is released and tried again; a process that dies holding it loses
        its lease, and another sends it."""
        if not await self.store.claim_reminder(approval_id, seen, lease_seconds=self.store.lease_seconds):
            return False
        approval = await self.store.get(approval_id)
        if approval.reminders is None or approval.status != "pending":
            return False
        if not await self.publisher.remind(approval, approval.reminders_sent + 1):
            log.warning("reminder_not_shown", approval_id=approval_id)
            return False  # the lease runs out and the next sweep tries again
        number = await self.store.reminder_sent(approval_id, seen, approval.reminders.every_seconds, SYSTEM)
        log.info("reminder_sent", approval_id=approval_id, number=number)
        return number is not None

    async def run_sweeper(self, interval_seconds: float = 2.0, *, wakeups: Subscription | None = None) -> None:
        """Sweep forever (cancel the task to stop): at once when ``wakeups`` says another process left
        work, when the next timed work (an expiry, a retry, a lease's end) falls due, and every
        ``interval_seconds`` in any case, which catches what a lost wake-up did not announce."""
        while True:
            try:
                await self.sweep()
                due = await self.store.next_due(max_attempts=self.max_attempts)
            except Exception as error:  # a bad pass must not end the sweeper
                log.exception("sweep_failed", error=str(error))
                await asyncio.sleep(max(interval_seconds, FAILED_SWEEP_PAUSE_SECONDS))
                continue
            pause = interval_seconds
            if due is not None:
                pause = min(pause, max((due - utcnow()).total_seconds(), 0.0) + TIMER_SLACK_SECONDS)
            if wakeups is None:
                await asyncio.sleep(pause)
            else:
                await wakeups.wait(pause)

    # -- waiting -----------------------------------------------------------------------------

    async def wait_until_final(self, approval_id: str, timeout: float | None = None) -> Approval:
        """Wait until the approval has finished (in this process or another) and return it."""

        async def _wait() -> Approval:
            while True:
                approval = await self.store.get(approval_id)
                if approval.status in FINAL_STATUSES:
                    return approval
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=0.5)

        return await asyncio.wait_for(_wait(), timeout)

    @property
    def busy(self) -> bool:
        """Whether a resume or other background job this engine started is still running."""
        return self._tasks.busy

    async def drain(self) -> None:
        """Wait until no resume or background job this engine started is running (``busy`` is false)."""
        await self._tasks.drain()

    async def _notify(self) -> None:
        # Worker processes may have to act on the change (a re-render, a resume now due).
        self.store.wake_workers()
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(coroutine)


def why_not_decided(approval_id: str, row_id: str, found: RowState | None, step: int = 1) -> Exception:
    """The error for a decide that decided nothing, from the row as its transaction found it."""
    if found is None:
        return UnknownRow(f"approval {approval_id} has no row {row_id!r}")
    if found.status == "pending" and found.approval_status == "pending" and not found.approval_expired:
        return StepLocked(row_id, step)  # the one reason a pending row of a pending approval refuses
    if found.status == "decided" and not is_system_actor(found.decided_by):
        return AlreadyDecided(row_id, found.decided_by, found.decided_by_name)
    if found.approval_expired:
        return ApprovalClosed(approval_id, "expired")
    return ApprovalClosed(approval_id, found.approval_status)


def _nested_key(parent_id: str, pause: NestedPause) -> str:
    """The same nested pause opens one approval, also when a retried resume yields it again."""
    ids = "\n".join(sorted(r.id for r in pause.requirements))
    return f"{parent_id}:nested:{hashlib.sha256(ids.encode()).hexdigest()[:24]}"


def expiry_decision(requirement: Requirement, policy: ExpiryPolicy) -> Decision:
    """What an expired, undecided row becomes: its default (``apply_defaults``) or a rejection."""
    if policy == "apply_defaults" and requirement.default is not None:
        try:
            return validate_decision(requirement, DecisionInput.model_validate(requirement.default))
        except (DecisionInvalid, ValueError) as problem:
            log.warning("expiry_default_invalid", row_id=requirement.id, error=str(problem))
    rejecting = requirement.confirmation and next(
        (c.value for c in requirement.confirmation.choices if c.rejects), None
    )
    return Decision(outcome="rejected", choices=(rejecting,) if rejecting else (), reason="expired")


__all__ = [
    "ContinuationSink",
    "DecideOutcome",
    "Engine",
    "Publisher",
    "ResumeFailed",
    "UnknownApproval",
    "expiry_decision",
    "may_decide",
]
