"""The store: approvals, their rows, resumes and their leases, expiry, the log.

Each operation is one transaction written once (a ``transactions.Work``) of statements written
once (``statements``), run by the database chosen when the store was opened (``database``).
Every change that must happen once is a conditional UPDATE whose row count says whether this
caller won: deciding a pending row, ``pending -> resuming`` with a lease, finishing, going back
to retryable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slack_hitl.approvals import Actor, Approval, ExpiryPolicy, Reminders
from slack_hitl.decisions import Decision
from slack_hitl.errors import IdempotencyKeyReused, UnknownApproval, UnknownRow
from slack_hitl.requirements import Confirmation, Deciders, Requirement
from slack_hitl.store import statements as sql
from slack_hitl.store.cache import ApprovalPolicy, RequirementCache
from slack_hitl.store.changes import ChangeResult, withdraw_decision
from slack_hitl.store.database import create_engine, open_database, open_wakeups
from slack_hitl.store.decide import (
    Batch,
    DecideCommand,
    DecideResult,
    GroupCommit,
    RetryClaim,
    claim_resumes,
    claim_retry,
)
from slack_hitl.store.records import approval_of, jsonable
from slack_hitl.store.transactions import ConstraintViolated, Work
from slack_hitl.store.votes import VoteResult, count_vote
from slack_hitl.times import aware, utcnow


class RowTarget(NamedTuple):
    """What deciding a row needs to know before it writes: the row's requirement, the approval's
    adapter and who requested the approval."""

    requirement: Requirement
    adapter: str
    policy: ApprovalPolicy = ApprovalPolicy()


BATCHES_IN_FLIGHT = 4
"""How many batches of decisions a process writes at once where writers run side by side."""


class Store:
    """The database of approvals. Open with ``await Store.open(url)``; close with ``await store.close()``."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owner: str | None = None,
        lease_seconds: float = 60.0,
        claims_resumes: bool = True,
    ) -> None:
        self.engine = engine
        self.database = open_database(engine)
        self.wakeups = open_wakeups(engine)
        """How this process wakes the workers, and how a worker is woken (``wake_workers``)."""
        self.owner = owner or f"proc-{uuid.uuid4().hex[:12]}"
        self._lease_seconds = lease_seconds
        self._claims_resumes = claims_resumes
        self._requirements = RequirementCache()
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._decisions = GroupCommit(
            self._write_decisions, utcnow, in_flight=BATCHES_IN_FLIGHT if self.database.writers_side_by_side else 1
        )

    @property
    def lease_seconds(self) -> float:
        """How long a resume's claim holds without renewal; after it, another process may take the resume over."""
        return self._lease_seconds

    @property
    def claims_resumes(self) -> bool:
        """Whether deciding an approval's last row also claims its resume for this process. A service
        whose worker processes resume runs its web process with False: the approval then waits, every
        row decided, until a worker's sweep claims it (``claim_due_resumes``)."""
        return self._claims_resumes

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        create: bool = True,
        owner: str | None = None,
        lease_seconds: float = 60.0,
        claims_resumes: bool = True,
    ) -> Store:
        """The store at ``url`` (``sqlite:///path.db``, ``sqlite://`` in memory, ``postgresql://...``);
        with ``create``, its schema is brought to the newest migration first."""
        store = cls(create_engine(url), owner=owner, lease_seconds=lease_seconds, claims_resumes=claims_resumes)
        if create:
            try:
                await store.create_schema()
            except BaseException:
                await store.close()  # no pooled connection outlives a failed open
                raise
        return store

    async def create_schema(self) -> None:
        """Bring the schema to the newest migration (creating it in an empty database)."""
        from slack_hitl import migrations  # Alembic loads only for stores that create

        # One write transaction: SQLite's BEGIN IMMEDIATE and PostgreSQL's advisory lock make
        # processes that open one fresh database at once take turns instead of both creating.
        async with self.write() as conn:
            await conn.run_sync(migrations.upgrade)

    async def check_schema(self) -> None:
        """Raise ``SchemaMismatch`` (naming the command to run) unless the schema is the newest; changes nothing."""
        from slack_hitl import migrations

        async with self.engine.connect() as conn:
            await conn.run_sync(migrations.check)

    async def close(self) -> None:
        await self.wakeups.close()
        await self._decisions.close()
        await self.database.close()

    def write(self, *, urgent: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        """A SQLAlchemy write transaction on the store's database (``BEGIN IMMEDIATE`` on SQLite), for
        migrations and for extensions with tables of their own. ``urgent`` ones (decisions, which a
        person's click is waiting on) go before queued background writes of this process."""
        return self.database.connection(urgent=urgent)

    def wake_workers(self, *, timed: bool = False) -> None:
        """Tell the worker processes that something changed that they may have to act on (a message to
        re-render, a resume due, an approval to post, a new time to keep). Only a process that leaves
        that work to others (it does not claim resumes: a service's web process) sends it; one that
        does its own work only wakes its own sweeper, and only when the change set a time (``timed``:
        a retry's, an expiry's) that the sweeper must now wait for. Returns at once; a lost wake-up is
        caught by the workers' safety sweep."""
        if not self._claims_resumes:
            self.wakeups.wake()
        elif timed:
            self.wakeups.wake_here()

    # -- opening ---------------------------------------------------------------------------

    async def insert_approval(
        self,
        *,
        title: str,
        requirements: Sequence[Requirement],
        adapter: str,
        resume_state: dict[str, Any],
        channel: str | None,
        thread_ts: str | None,
        parent_id: str | None,
        expires_at: dt.datetime | None,
        expiry_policy: ExpiryPolicy,
        idempotency_key: str | None,
        actor: Actor,
        metadata: dict[str, Any] | None = None,
        requested_by: str | None = None,
        reminders: Reminders | None = None,
    ) -> tuple[Approval, bool]:
        """Store a new approval and return it with ``True``. With an idempotency key already given
        for the same request, return that request's approval itself and ``False`` (also when
        another caller stored it a moment ago); with one given for a different request, raise
        ``IdempotencyKeyReused``. The request is all of the arguments but ``actor``."""
        fingerprint = request_fingerprint(
            title=title,
            requirements=[requirement.model_dump(mode="json") for requirement in requirements],
            adapter=adapter,
            resume_state=resume_state,
            channel=channel,
            thread_ts=thread_ts,
            parent_id=parent_id,
            expires_at=aware(expires_at).isoformat() if expires_at else None,
            expiry_policy=expiry_policy,
            metadata=metadata or {},
            # Policies only when given: the fingerprint of a request without them stays what it was.
            **({"requested_by": requested_by} if requested_by else {}),
            **({"reminders": reminders.model_dump(mode="json")} if reminders else {}),
        )
        if idempotency_key is not None:
            existing = await self._approval_for_key(idempotency_key, fingerprint)
            if existing is not None:
                return existing, False
        now = utcnow()
        approval_id = uuid.uuid4().hex
        steps = max(requirement.step for requirement in requirements)
        record = {
            "id": approval_id,
            "title": title,
            "status": "pending",
            "adapter": adapter,
            "resume_state": resume_state,
            "channel": channel,
            "thread_ts": thread_ts,
            "message_ts": None,
            "parent_id": parent_id,
            "requested_by": requested_by,
            "steps": steps,
            "votes_cast": 0,
            "reminders": reminders.model_dump(mode="json") if reminders else None,
            "next_reminder_at": _after(now, reminders.first_after_seconds or reminders.every_seconds)
            if reminders
            else None,
            "reminder_lease_until": None,
            "reminders_sent": 0,
            "escalate_at": _after(now, reminders.escalate_after_seconds) if reminders else None,
            "escalated": False,
            "idempotency_key": idempotency_key,
            "request_fingerprint": fingerprint,
            "expires_at": aware(expires_at),
            "expiry_policy": expiry_policy,
            "expired": False,
            "version": 0,
            "rendered_version": -1,
            "post_owner": None,
            "post_claimed_until": None,
            "post_attempts": 0,
            "lease_owner": None,
            "lease_expires_at": None,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
            "metadata": metadata or {},
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        try:
            await self.database.write(_insert_approval(record, requirements, actor))
        except ConstraintViolated:
            # Only the idempotency key is unique among what a caller gives: a key-less insert that
            # broke a constraint is a fault, never a second request to answer with another approval.
            existing = (
                await self._approval_for_key(idempotency_key, fingerprint) if idempotency_key is not None else None
            )
            if existing is None:
                raise
            return existing, False  # another request stored this key first
        texts = {requirement.id: requirement.model_dump_json() for requirement in requirements}
        policy = ApprovalPolicy(requested_by, steps, reminders.escalate_to if reminders else Deciders())
        self._requirements.add(approval_id, adapter, texts, parsed=requirements, policy=policy)
        return await self.get(approval_id), True

    async def _approval_for_key(self, key: str, fingerprint: str) -> Approval | None:
        found = await self.database.read(_rows_of(sql.APPROVAL_FOR_KEY, {"key": key}))
        if not found:
            return None
        stored = found[0]["request_fingerprint"]
        if stored is not None and stored != fingerprint:  # None: stored before requests had fingerprints
            raise IdempotencyKeyReused(key, found[0]["id"])
        return await self.get(found[0]["id"])

    # -- reading ---------------------------------------------------------------------------

    async def get(self, approval_id: str) -> Approval:
        record, rows, votes = await self.database.read(_records_of(approval_id))
        # Built here, not where the transaction ran: the cache is the event loop's alone.
        return approval_of(record, rows, self._requirements, votes)

    async def list_approvals(self, *, status: str | None = None, limit: int = 100, offset: int = 0) -> list[Approval]:
        """Approvals, newest first; only those with ``status`` when given."""
        found = await self.database.read(_page_of(status, limit, offset))
        return [approval_of(record, rows, self._requirements, votes) for record, rows, votes in found]

    async def requirement(self, approval_id: str, row_id: str) -> Requirement | None:
        """The row's requirement; ``None`` if approval or row is unknown. Requirements never change,
        so a miss loads and caches every row of the approval: the next click on it costs no query."""
        if not self._requirements.knows(approval_id):
            # A burst of clicks on a new message misses together: they all wait for one load of its
            # rows instead of each querying every row (a thundering herd).
            load = self._loading.get(approval_id)
            if load is None:
                load = asyncio.ensure_future(self._load_requirements(approval_id))
                self._loading[approval_id] = load
                load.add_done_callback(lambda done: self._loading.pop(approval_id, None))
            await asyncio.shield(load)
        return self._requirements.get(approval_id, row_id)

    async def row_target(self, approval_id: str, row_id: str) -> RowTarget:
        """The row's requirement and the approval's adapter (cached: neither ever changes).
        Raises ``UnknownApproval`` or ``UnknownRow``."""
        requirement = await self.requirement(approval_id, row_id)
        adapter = self._requirements.adapter(approval_id)
        if adapter is None:  # every approval has rows: none loaded means there is no approval
            raise UnknownApproval(f"no approval with id {approval_id!r}")
        if requirement is None:
            raise UnknownRow(f"approval {approval_id} has no row {row_id!r}")
        return RowTarget(requirement, adapter, self._requirements.policy(approval_id))

    def cached_policy(self, approval_id: str) -> ApprovalPolicy:
        """The approval's policies as cached by a ``requirement`` or ``row_target`` call before (the
        defaults if it is not cached)."""
        return self._requirements.policy(approval_id)

    async def _load_requirements(self, approval_id: str) -> None:
        found = await self.database.read(_requirements_of(approval_id))
        if found:
            texts = {row["row_id"]: row["requirement"] for row in found}
            self._requirements.add(approval_id, found[0]["adapter"], texts, policy=ApprovalPolicy.of_record(found[0]))

    async def decision_log(self, approval_id: str) -> list[dict[str, Any]]:
        entries = await self.database.read(_rows_of(sql.LOG_OF, {"approval_id": approval_id}))
        return [{**entry, "at": aware(entry["at"])} for entry in entries]

    async def approval_ids(self) -> list[str]:
        """Every approval's id, oldest first."""
        return await self.database.read(_scalars(sql.ALL_IDS, {}))

    async def counts(self) -> dict[str, int]:
        """How many approvals have each status."""
        found = await self.database.read(_rows_of(sql.COUNTS, {}))
        return {row["status"]: row["count"] for row in found}

    # -- deciding ----------------------------------------------------------------------------

    async def decide(self, command: DecideCommand) -> DecideResult:
        """Decide one pending row with a CAS; when it was the last one, also try to win the resume.
        A decide that decided nothing says why: the row as its transaction found it (``found``)."""
        return await self._decisions.decide(command)

    async def vote(self, command: DecideCommand, confirmation: Confirmation) -> VoteResult:
        """Count a vote on a quorum row (each person once); the vote that reaches a count decides the
        row and, when it was the last, tries to win the resume."""
        owner = self.owner if self.claims_resumes else None
        return await self.database.write_anew(
            lambda: count_vote(command, confirmation, owner, self.lease_seconds, utcnow()), urgent=True
        )

    async def withdraw(self, approval_id: str, row_id: str, actor: Actor) -> ChangeResult:
        """Withdraw ``actor``'s decision of a row (or vote on a quorum row) while the approval is open
        and another row is undecided; the row is pending again. ``ChangeResult`` says why not."""
        return await self.database.write_anew(
            lambda: withdraw_decision(approval_id, row_id, actor, utcnow()), urgent=True
        )

    async def _write_decisions(self, batch: Batch) -> list[DecideResult]:
        owner = self.owner if self.claims_resumes else None
        return await self.database.write_anew(lambda: batch.transaction(owner, self.lease_seconds), urgent=True)

    # -- resuming ----------------------------------------------------------------------------

    async def claim_resume(self, approval_id: str) -> bool:
        """Win the right to resume a pending approval whose rows are all decided (the Retry path)."""
        won = await self.database.write(claim_resumes([approval_id], self.owner, self.lease_seconds, utcnow()))
        return approval_id in won

    async def claim_retry(self, approval_id: str, actor: Actor, delivery_key: str | None = None) -> RetryClaim:
        """Win the right to resume for a person's Retry; a delivery seen before (same ``delivery_key``)
        does nothing and answers what it answered then, across processes."""
        work = claim_retry(approval_id, actor, delivery_key, self.owner, self.lease_seconds, utcnow())
        return await self.database.write(work, urgent=True)

    async def claim_due_resumes(self, *, max_attempts: int, limit: int = 100) -> list[str]:
        """Claim, for this process, the resumes that are due: pending approvals with every row decided,
        never tried (their last row was decided by a process that does not claim) or due for a retry."""
        now = utcnow()
        # Read without the write lock, then a short CAS: a worker never holds up a click's write.
        due = await self.database.read(
            _scalars(sql.DUE_RESUMES, {"max_attempts": max_attempts, "now": now, "limit": limit})
        )
        if not due:
            return []
        return sorted(await self.database.write(claim_resumes(due, self.owner, self.lease_seconds, now)))

    async def take_over_expired_leases(self, *, limit: int = 20) -> list[str]:
        """Approvals stuck in ``resuming`` whose owner's lease ran out: claim them for this process."""
        now = utcnow()
        candidates = await self.database.read(_rows_of(sql.EXPIRED_LEASES, {"now": now, "limit": limit}))
        taken = []
        for candidate in candidates:
            if await self.database.write(self._take_over(candidate["id"], candidate["lease_owner"], now)):
                taken.append(candidate["id"])
        return taken

    def _take_over(self, approval_id: str, old_owner: str, now: dt.datetime) -> Work[bool]:
        claimed = yield (
            sql.TAKE_OVER_LEASE,
            {
                "approval_id": approval_id,
                "old_owner": old_owner,
                "owner": self.owner,
                "lease_expires_at": now + dt.timedelta(seconds=self.lease_seconds),
                "now": now,
            },
        )
        if claimed.rowcount == 1:
            yield sql.INSERT_LOG, [sql.log_entry(approval_id, "lease_taken_over", None, now, data={"from": old_owner})]
        return claimed.rowcount == 1

    async def renew_lease(self, approval_id: str) -> bool:
        lease = utcnow() + dt.timedelta(seconds=self.lease_seconds)
        params = {"approval_id": approval_id, "owner": self.owner, "lease_expires_at": lease}
        return await self.database.write(_changed_one(sql.RENEW_LEASE, params))

    async def finish(self, approval_id: str, status: str, *, output: Any = None) -> bool:
        """CAS ``resuming -> final`` by the lease owner."""
        now = utcnow()
        params = {"approval_id": approval_id, "owner": self.owner, "status": status, "now": now}
        entry = sql.log_entry(approval_id, status, None, now, data={"output": jsonable(output)})
        return await self.database.write(_changed_one(sql.FINISH, params, log=entry))

    async def release_for_retry(self, approval_id: str, error: str, *, retry_at: dt.datetime | None) -> bool:
        """CAS ``resuming -> pending`` by the lease owner; the rows stay decided."""
        now = utcnow()
        params = {
            "approval_id": approval_id,
            "owner": self.owner,
            "error": error[:4000],
            "next_attempt_at": aware(retry_at),
            "now": now,
        }
        entry = sql.log_entry(approval_id, "resume_failed", None, now, reason=error[:4000])
        return await self.database.write(_changed_one(sql.RELEASE_FOR_RETRY, params, log=entry))

    async def hand_back(self, approval_id: str, error: str) -> bool:
        """CAS ``resuming -> pending`` by the lease owner, due at once and without spending an
        attempt: for a resume this process stops before it ended (a shutdown)."""
        now = utcnow()
        params = {"approval_id": approval_id, "owner": self.owner, "error": error[:4000], "now": now}
        entry = sql.log_entry(approval_id, "resume_handed_back", None, now, reason=error[:4000])
        return await self.database.write(_changed_one(sql.HAND_BACK, params, log=entry))

    # -- expiring and cancelling -------------------------------------------------------------

    async def next_due(self, *, max_attempts: int) -> dt.datetime | None:
        """When the next timed work falls due (an expiry, a retry, a lease running out, a reminder or an
        escalation), if any is ahead: a worker sleeps until then, not a moment more, unless woken first."""
        return await self.database.read(_next_due(max_attempts, utcnow()))

    async def operator_figures(self, *, max_attempts: int) -> tuple[int, float]:
        """For ``/metrics``: how many approvals are pending, and for how many seconds the oldest resume
        that is due has been waiting for a worker (0 when none is)."""
        now = utcnow()
        return await self.database.read(_operator_figures(max_attempts, now))

    async def due_for_expiry(self) -> list[str]:
        return await self.database.read(_scalars(sql.DUE_FOR_EXPIRY, {"now": utcnow()}))

    async def expire(self, approval_id: str, decisions: dict[str, Decision], actor: Actor) -> bool:
        """Mark an approval expired and decide its undecided rows as given (one transaction); then try the resume.

        It locks the approval before its rows, a decide its rows before the approval: when PostgreSQL
        rolls the expiry back to break that cycle, it is written again."""
        return await self.database.write_anew(lambda: self._expire(approval_id, decisions, actor, utcnow()))

    def _expire(self, approval_id: str, decisions: dict[str, Decision], actor: Actor, now: dt.datetime) -> Work[bool]:
        marked = yield sql.MARK_EXPIRED, {"approval_id": approval_id, "now": now}
        if marked.rowcount != 1:
            return False
        yield sql.INSERT_LOG, [sql.log_entry(approval_id, "expired", actor, now)]
        commands = [DecideCommand(approval_id, row_id, decision, actor) for row_id, decision in decisions.items()]
        for start in range(0, len(commands), sql.MAX_BATCH):
            yield from Batch.of(commands[start : start + sql.MAX_BATCH], now).decide_rows()
        won = yield from claim_resumes([approval_id], self.owner, self.lease_seconds, now)
        return approval_id in won

    async def cancel(self, approval_id: str, actor: Actor, reason: str | None = None) -> bool:
        now = utcnow()
        entry = sql.log_entry(approval_id, "cancelled", actor, now, reason=reason)
        return await self.database.write(_changed_one(sql.CANCEL, {"approval_id": approval_id, "now": now}, log=entry))

    # -- reminders and escalation -------------------------------------------------------------

    async def due_reminders(self, *, limit: int = 100) -> list[tuple[str, dt.datetime]]:
        """Pending approvals whose next reminder is due and not being sent: (id, the interval's time)."""
        found = await self.database.read(_rows_of(sql.DUE_REMINDERS, {"now": utcnow(), "limit": limit}))
        return [(row["id"], row["next_reminder_at"]) for row in found]

    async def claim_reminder(self, approval_id: str, seen: dt.datetime, *, lease_seconds: float = 60.0) -> bool:
        """Claim the reminder of the interval ``seen`` for this process (a CAS); ``False`` if another has it."""
        now = utcnow()
        params = {
            "approval_id": approval_id,
            "seen": seen,
            "lease": now + dt.timedelta(seconds=lease_seconds),
            "now": now,
        }
        return await self.database.write(_changed_one(sql.CLAIM_REMINDER, params))

    async def reminder_sent(
        self, approval_id: str, seen: dt.datetime, every_seconds: float, actor: Actor
    ) -> int | None:
        """Record the reminder of the interval ``seen`` as sent and schedule the next; its number."""
        return await self.database.write(_reminder_sent(approval_id, seen, every_seconds, actor, utcnow()))

    async def due_escalations(self, *, limit: int = 100) -> list[str]:
        return await self.database.read(_scalars(sql.DUE_ESCALATIONS, {"now": utcnow(), "limit": limit}))

    async def escalate(self, approval_id: str, actor: Actor) -> bool:
        """Escalate a due approval (a CAS): its ``escalate_to`` may decide every row from now on."""
        now = utcnow()
        entry = sql.log_entry(approval_id, "escalated", actor, now)
        return await self.database.write(
            _changed_one(sql.ESCALATE, {"approval_id": approval_id, "now": now}, log=entry)
        )

    async def escalated(self, approval_id: str) -> bool:
        """Whether the approval was escalated (read now: it changes, so it is never cached)."""
        return bool(await self.database.read(_scalar(sql.ESCALATED, {"approval_id": approval_id})))

    # -- the log -----------------------------------------------------------------------------

    async def log(self, approval_id: str, event_name: str, actor: Actor | None, **details: Any) -> None:
        """Append an entry to the approval's decision log (``details``: ``row_id``, ``reason``, ``data``)."""
        entry = sql.log_entry(approval_id, event_name, actor, utcnow(), **details)
        await self.database.write(_executed(sql.INSERT_LOG, [entry]))


# -- transactions of one or two statements ------------------------------------------------------


def request_fingerprint(**request: Any) -> str:
    """A hash of a whole request to open an approval (its JSON with sorted keys)."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _insert_approval(record: dict[str, Any], requirements: Sequence[Requirement], actor: Actor) -> Work[None]:
    yield sql.INSERT_APPROVAL, record
    yield (
        sql.INSERT_ROW,
        [
            {
                "approval_id": record["id"],
                "row_id": requirement.id,
                "position": position,
                "step": requirement.step,
                "requirement": requirement.model_dump(mode="json"),
                "status": "pending",
            }
            for position, requirement in enumerate(requirements)
        ],
    )
    entry = sql.log_entry(record["id"], "opened", actor, record["created_at"], data={"rows": len(requirements)})
    yield sql.INSERT_LOG, [entry]


Records = tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]
"""An approval's record, its rows' and its votes' (``statements.APPROVAL``, ``ROWS``, ``VOTES``)."""


def _records_of(approval_id: str) -> Work[Records]:
    record = (yield sql.APPROVAL, {"approval_id": approval_id}).first()
    if record is None:
        raise UnknownApproval(f"no approval with id {approval_id!r}")
    rows = (yield sql.ROWS, {"approval_id": approval_id}).mappings()
    # Most approvals have no quorum row: their read costs no query for votes.
    votes = (yield sql.VOTES, {"approval_id": approval_id}).mappings() if record["votes_cast"] else []
    return record, rows, votes


def _page_of(status: str | None, limit: int, offset: int) -> Work[list[Records]]:
    page = {"limit": limit, "offset": offset}
    if status is None:
        ids = yield sql.NEWEST_IDS, page
    else:
        ids = yield sql.NEWEST_IDS_WITH_STATUS, {**page, "status": status}
    found = []
    for approval_id in ids.scalars():
        found.append((yield from _records_of(approval_id)))
    return found


def _next_due(max_attempts: int, now: dt.datetime) -> Work[dt.datetime | None]:
    times = [
        (yield sql.NEXT_EXPIRY, {"now": now}).scalar(),
        (yield sql.NEXT_RETRY, {"now": now, "max_attempts": max_attempts}).scalar(),
        (yield sql.NEXT_LEASE_END, {"now": now}).scalar(),
        (yield sql.NEXT_REMINDER, {"now": now}).scalar(),
        (yield sql.NEXT_REMINDER_LEASE_END, {"now": now}).scalar(),
        (yield sql.NEXT_ESCALATION, {"now": now}).scalar(),
    ]
    due = [aware(time) for time in times if time is not None]
    return min(due, default=None)


def _operator_figures(max_attempts: int, now: dt.datetime) -> Work[tuple[int, float]]:
    pending = (yield sql.PENDING_COUNT, {}).scalar()
    oldest = (yield sql.OLDEST_DUE_RESUME, {"now": now, "max_attempts": max_attempts}).scalar()
    return int(pending or 0), max((now - aware(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0


def _requirements_of(approval_id: str) -> Work[list[dict[str, Any]]]:
    return (yield sql.REQUIREMENTS, {"approval_id": approval_id}).mappings()


def _rows_of(statement: Any, params: dict[str, Any]) -> Work[list[dict[str, Any]]]:
    return (yield statement, params).mappings()


def _scalar(statement: Any, params: dict[str, Any]) -> Work[Any]:
    return (yield statement, params).scalar()


def _after(moment: dt.datetime, seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else moment + dt.timedelta(seconds=seconds)


def _reminder_sent(
    approval_id: str, seen: dt.datetime, every_seconds: float, actor: Actor, now: dt.datetime
) -> Work[int | None]:
    # The next interval counts from now, not from the one missed: a process down for a day sends one
    # reminder when it is back, not a burst.
    params = {"approval_id": approval_id, "seen": seen, "next": now + dt.timedelta(seconds=every_seconds)}
    number = (yield sql.REMINDER_SENT, params).scalar()
    if number is not None:
        yield sql.INSERT_LOG, [sql.log_entry(approval_id, "reminder_sent", actor, now, data={"number": number})]
    return number


def _scalars(statement: Any, params: dict[str, Any]) -> Work[list[Any]]:
    return (yield statement, params).scalars()


def _executed(statement: Any, params: Any) -> Work[None]:
    yield statement, params


def _changed_one(statement: Any, params: dict[str, Any], *, log: dict[str, Any] | None = None) -> Work[bool]:
    """Run a CAS; when it changed its one row, append ``log`` to the decision log in the same transaction."""
    changed = yield statement, params
    if changed.rowcount == 1 and log is not None:
        yield sql.INSERT_LOG, [log]
    return changed.rowcount == 1
