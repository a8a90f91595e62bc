"""Every SQL statement of the core store, each written once, as SQLAlchemy Core.

Each is a module constant with named bound parameters, never built per call: SQLAlchemy
compiles it once per dialect (PostgreSQL through asyncpg, SQLite through aiosqlite), and the
SQLite file path (``sqlite_file``) executes the very same compilation on its own connections.
Every change that must happen once is a conditional UPDATE whose row count (or RETURNING) says
whether this caller won. The statements of the Slack messages are in ``slack_messages``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    Column,
    String,
    Text,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    null,
    select,
    text,
    update,
)
from sqlalchemy.sql.expression import column

from slack_hitl.approvals import SYSTEM, Actor
from slack_hitl.store.schema import APPROVAL_ROWS, APPROVALS, DECISION_LOG, ROW_VOTES

A = APPROVALS
R = APPROVAL_ROWS
LOG = DECISION_LOG
V = ROW_VOTES

MAX_BATCH = 256
"""The most decisions one row CAS takes: it stays far below the databases' limits on parameters
(SQLite's 32,766, asyncpg's 32,767), and the statements compiled for it stay few."""


def _param(target: Column[Any], name: str | None = None) -> BindParameter[Any]:
    """A named parameter with the column's type, so both paths convert its value as the column does."""
    return bindparam(name or target.name, type_=target.type)


def _insert_of(table: Any, names: tuple[str, ...]) -> Any:
    return insert(table).values({name: _param(table.c[name]) for name in names})


_NO_PENDING_ROW = ~exists().where(R.c.approval_id == A.c.id, R.c.status == "pending")

# -- opening -----------------------------------------------------------------------------------

INSERT_APPROVAL = _insert_of(A, tuple(c.name for c in A.columns))
INSERT_ROW = _insert_of(R, ("approval_id", "row_id", "position", "step", "requirement", "status"))
APPROVAL_FOR_KEY = select(A.c.id, A.c.request_fingerprint).where(A.c.idempotency_key == bindparam("key"))

# -- reading -----------------------------------------------------------------------------------

APPROVAL = select(A).where(A.c.id == bindparam("approval_id"))
ROWS = (
    # The requirement as JSON text: the store's cache usually holds it parsed already.
    select(
        R.c.row_id,
        R.c.position,
        cast(R.c.requirement, Text).label("requirement"),
        R.c.decision,
        R.c.decided_by,
        R.c.decided_by_name,
        R.c.decided_at,
    )
    .where(R.c.approval_id == bindparam("approval_id"))
    .order_by(R.c.position)
)
REQUIREMENTS = (
    # The adapter's name comes along: the decide that follows a cache miss needs it too.
    select(
        R.c.row_id,
        cast(R.c.requirement, Text).label("requirement"),
        A.c.adapter,
        A.c.requested_by,
        A.c.steps,
        A.c.reminders,
    )
    .join(A, A.c.id == R.c.approval_id)
    .where(R.c.approval_id == bindparam("approval_id"))
)
_NEWEST_FIRST = select(A.c.id).order_by(A.c.created_at.desc()).limit(bindparam("limit")).offset(bindparam("offset"))
NEWEST_IDS = _NEWEST_FIRST
NEWEST_IDS_WITH_STATUS = _NEWEST_FIRST.where(A.c.status == bindparam("status"))
ALL_IDS = select(A.c.id).order_by(A.c.created_at)
COUNTS = select(A.c.status, func.count().label("count")).group_by(A.c.status)

# -- the log -----------------------------------------------------------------------------------

INSERT_LOG = _insert_of(LOG, ("approval_id", "row_id", "event", "actor", "actor_name", "reason", "data", "at"))
RETRY_DELIVERED = (
    select(LOG.c.data)
    .where(
        LOG.c.approval_id == bindparam("approval_id"),
        LOG.c.event == "retry_requested",
        LOG.c.data["delivery_key"].as_string() == bindparam("key"),
    )
    .limit(1)
)
"""A Retry click's delivery that was acted on before (a redelivery of it must not resume again)."""

LOG_OF = select(LOG).where(LOG.c.approval_id == bindparam("approval_id")).order_by(LOG.c.id)


def log_entry(
    approval_id: str,
    event_name: str,
    actor: Actor | None,
    at: dt.datetime,
    *,
    row_id: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The parameters of ``INSERT_LOG`` for one entry."""
    return {
        "approval_id": approval_id,
        "row_id": row_id,
        "event": event_name,
        "actor": actor.id if actor else None,
        "actor_name": actor.name if actor else None,
        "reason": reason,
        "data": data or {},
        "at": at,
    }


# -- deciding ----------------------------------------------------------------------------------


def decide_rows_size(decisions: int) -> int:
    """The size of the row CAS that takes ``decisions``: the next power of two (unused places hold
    NULLs, which match no row). A handful of sizes, each compiled once, instead of one per count:
    compiling the statement costs more with each place (benchmarks/bench_decide.py, 200 deciders)."""
    if not 1 <= decisions <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} decisions, not {decisions}")
    return 1 << (decisions - 1).bit_length()


@functools.cache
def decide_rows_padding(used: int, size: int) -> dict[str, Any]:
    """The parameters of the unused places ``used`` to ``size`` of ``decide_rows(size)``: NULLs (the
    decision's a SQL NULL too, which SQLAlchemy's JSON type passes on without serializing it)."""
    return {f"{name}{i}": null() if name == "d" else None for i in range(used, size) for name in "arodbnk"}


@functools.cache
def decide_rows(size: int) -> Any:
    """The row CAS for ``size`` decisions (a ``decide_rows_size``): decide each pending row of a
    pending approval, returning the rows decided.

    One statement whatever the size: the decisions come as the rows of a CTE (parameters ``a0``,
    ``r0``, ``o0``, ``d0``, ``b0``, ``n0``, ``k0``, then ``a1``...: approval, row, outcome,
    decision, decider id and name, delivery key) that the UPDATE joins. The rows are a VALUES
    list after a first SELECT that names the columns (SQLite cannot name a VALUES list's), written
    as text: SQLAlchemy's own VALUES construct is never cached, so it would be compiled again for
    every batch, and rows as SELECTs joined by UNION ALL cost PostgreSQL ten times as much to
    plan (benchmarks/bench_decide.py, 200 deciders). The text is typed: PostgreSQL takes the
    decision as JSON, SQLite keeps it as the text SQLAlchemy wrote.
    """
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} decisions, not {size}")
    names = "arodbnk"
    first = ", ".join(f":{name}0 AS {name}" for name in names)
    rest = ", ".join("(" + ", ".join(f":{name}{i}" for name in names) + ")" for i in range(1, size))
    incoming = (
        text(f"SELECT {first}" + (f" UNION ALL VALUES {rest}" if rest else ""))
        .bindparams(*(bindparam(f"{name}{i}", type_=_INCOMING[name]) for i in range(size) for name in names))
        .columns(*(column(name, _INCOMING[name]) for name in names))
        .cte("incoming")
    )
    return (
        update(R)
        .where(
            R.c.approval_id == incoming.c.a,
            R.c.row_id == incoming.c.r,
            R.c.status == "pending",
            exists().where(A.c.id == R.c.approval_id, A.c.status == "pending"),
            # Staged approvals: a later step's row waits for the earlier steps. A system actor (an
            # expiry, an answer given in the framework's own UI) records what is settled elsewhere.
            (R.c.step == 1) | incoming.c.b.startswith(SYSTEM.id) | _EARLIER_STEPS_DONE,
        )
        .values(
            status="decided",
            outcome=incoming.c.o,
            decision=incoming.c.d,
            decided_by=incoming.c.b,
            decided_by_name=incoming.c.n,
            decided_at=_param(R.c.decided_at, "now"),
            delivery_key=incoming.c.k,
        )
        .returning(R.c.approval_id, R.c.row_id)
    )


_EARLIER = R.alias("earlier")
_EARLIER_STEPS_DONE = ~exists().where(
    _EARLIER.c.approval_id == R.c.approval_id,
    _EARLIER.c.step < R.c.step,
    (_EARLIER.c.status == "pending") | (_EARLIER.c.outcome == "rejected"),
)
"""Every row of the earlier steps is decided, and none rejected."""

_INCOMING: dict[str, Any] = {"a": String, "r": String, "o": String, "d": JSON, "b": String, "n": String, "k": String}
"""The types of the row CAS's incoming decisions."""


BUMP_VERSIONS = (
    update(A)
    .where(A.c.id.in_(bindparam("ids", expanding=True)))
    .values(version=A.c.version + 1, updated_at=_param(A.c.updated_at, "now"))
)
ROW_STATE = (
    # Why a decide did not decide the row: read in its transaction, so the answer is what it met.
    select(
        R.c.status,
        R.c.decided_by,
        R.c.decided_by_name,
        R.c.delivery_key,
        A.c.status.label("approval_status"),
        A.c.expired.label("approval_expired"),
    )
    .join(A, A.c.id == R.c.approval_id)
    .where(R.c.approval_id == bindparam("approval_id"), R.c.row_id == bindparam("row_id"))
)

# -- steps ---------------------------------------------------------------------------------------

SETTLE_LATER_ROWS = (
    # A rejection ends a staged approval: its undecided rows are settled as rejected by slack_hitl.
    update(R)
    .where(R.c.approval_id == bindparam("approval"), R.c.status == "pending")
    .values(
        status="decided",
        outcome="rejected",
        decision=bindparam("settled", type_=JSON),
        decided_by=bindparam("by"),
        decided_by_name=bindparam("by_name"),
        decided_at=_param(R.c.decided_at, "now"),
    )
    .returning(R.c.row_id)
)
OPEN_ROWS_OF_STEP = select(func.count()).where(
    R.c.approval_id == bindparam("approval_id"), R.c.step == bindparam("step"), R.c.status == "pending"
)
EARLIER_STEPS_OPEN = select(func.count()).where(
    R.c.approval_id == bindparam("approval_id"),
    R.c.step < bindparam("step"),
    (R.c.status == "pending") | (R.c.outcome == "rejected"),
)

# -- reminders and escalation ------------------------------------------------------------------

_REMINDER_FREE = A.c.reminder_lease_until.is_(None) | (
    A.c.reminder_lease_until < _param(A.c.reminder_lease_until, "now")
)
DUE_REMINDERS = (
    select(A.c.id, A.c.next_reminder_at)
    .where(
        A.c.status == "pending",
        A.c.expired.is_(False),
        A.c.next_reminder_at <= _param(A.c.next_reminder_at, "now"),
        _REMINDER_FREE,
    )
    .limit(bindparam("limit"))
)
CLAIM_REMINDER = (
    # The reminder of one interval is this process's to send until its lease runs out: the CAS
    # names the interval (next_reminder_at as read), so two processes never both claim it.
    update(A)
    .where(
        A.c.id == bindparam("approval_id"),
        A.c.status == "pending",
        A.c.next_reminder_at == bindparam("seen"),
        _REMINDER_FREE,
    )
    .values(reminder_lease_until=bindparam("lease"))
)
REMINDER_SENT = (
    update(A)
    .where(A.c.id == bindparam("approval_id"), A.c.next_reminder_at == bindparam("seen"))
    .values(next_reminder_at=bindparam("next"), reminder_lease_until=None, reminders_sent=A.c.reminders_sent + 1)
    .returning(A.c.reminders_sent)
)
DUE_ESCALATIONS = (
    select(A.c.id)
    .where(
        A.c.status == "pending",
        A.c.expired.is_(False),
        A.c.escalated.is_(False),
        A.c.escalate_at <= _param(A.c.escalate_at, "now"),
    )
    .limit(bindparam("limit"))
)
ESCALATE = (
    update(A)
    .where(
        A.c.id == bindparam("approval_id"),
        A.c.status == "pending",
        A.c.escalated.is_(False),
        A.c.escalate_at <= _param(A.c.escalate_at, "now"),
    )
    .values(escalated=True, version=A.c.version + 1, updated_at=_param(A.c.updated_at, "now"))
)
ESCALATED = select(A.c.escalated).where(A.c.id == bindparam("approval_id"))

# -- voting (quorum rows) -------------------------------------------------------------------------

ROW_STATE_FOR_VOTE = ROW_STATE.with_for_update(of=R)
"""The row, locked until commit: a quorum row's votes are counted one transaction at a time, so on
PostgreSQL (READ COMMITTED) each count that follows sees every vote committed before it. SQLite
has no row locks; its writes are serialised anyway."""
VOTE_OF = select(V.c.outcome, V.c.delivery_key).where(
    V.c.approval_id == bindparam("approval_id"), V.c.row_id == bindparam("row_id"), V.c.voter == bindparam("voter")
)
INSERT_VOTE = _insert_of(V, tuple(c.name for c in V.columns))
VOTE_OUTCOMES = select(V.c.outcome).where(
    V.c.approval_id == bindparam("approval_id"), V.c.row_id == bindparam("row_id")
)
COUNT_VOTE = (
    update(A)
    .where(A.c.id == bindparam("approval_id"))
    .values(votes_cast=A.c.votes_cast + 1, version=A.c.version + 1, updated_at=_param(A.c.updated_at, "now"))
)
VOTES = (
    select(V.c.row_id, V.c.voter, V.c.voter_name, V.c.outcome, V.c.decision, V.c.at)
    .where(V.c.approval_id == bindparam("approval_id"))
    .order_by(V.c.at, V.c.voter)
)

# -- change of mind -------------------------------------------------------------------------------

APPROVAL_FOR_CHANGE = (
    # Locked after the row (the order every decide takes: row, then approval), so a change and the
    # decide of the last other row are serialised: whichever commits second sees the first.
    select(A.c.status, A.c.expired).where(A.c.id == bindparam("approval_id")).with_for_update()
)
ROW_FOR_CHANGE = (
    select(R.c.status, R.c.outcome, R.c.decision, R.c.decided_by, R.c.decided_by_name)
    .where(R.c.approval_id == bindparam("approval_id"), R.c.row_id == bindparam("row_id"))
    .with_for_update()
)
OTHER_PENDING_ROWS = select(func.count()).where(
    R.c.approval_id == bindparam("approval_id"), R.c.row_id != bindparam("row_id"), R.c.status == "pending"
)
REOPEN_ROW = (
    # Parameters named apart from the columns: an UPDATE reserves those names for its SET clause.
    update(R)
    .where(
        R.c.approval_id == bindparam("approval"),
        R.c.row_id == bindparam("row"),
        R.c.status == "decided",
        R.c.decided_by == bindparam("actor"),
    )
    .values(status="pending", outcome=None, decision=null(), decided_by=None, decided_by_name=None, decided_at=None)
    .values(delivery_key=None)
)
DELETE_VOTE = delete(V).where(
    V.c.approval_id == bindparam("approval_id"), V.c.row_id == bindparam("row_id"), V.c.voter == bindparam("voter")
)

# -- resuming ----------------------------------------------------------------------------------

CLAIM_RESUMES = (
    # The resume CAS: pending -> resuming with a lease, only for approvals with no undecided row.
    update(A)
    .where(A.c.id.in_(bindparam("ids", expanding=True)), A.c.status == "pending", _NO_PENDING_ROW)
    .values(
        status="resuming",
        lease_owner=_param(A.c.lease_owner, "owner"),
        lease_expires_at=_param(A.c.lease_expires_at),
        attempts=A.c.attempts + 1,
        version=A.c.version + 1,
        updated_at=_param(A.c.updated_at, "now"),
    )
    .returning(A.c.id)
)
DUE_RESUMES = (
    # Pending approvals with every row decided: never tried (decided by a process that does not
    # claim resumes) or due for a retry.
    select(A.c.id)
    .where(
        A.c.status == "pending",
        _NO_PENDING_ROW,
        A.c.attempts < bindparam("max_attempts"),
        A.c.next_attempt_at.is_(None) | (A.c.next_attempt_at <= _param(A.c.next_attempt_at, "now")),
    )
    .limit(bindparam("limit"))
)
PENDING_COUNT = select(func.count()).select_from(A).where(A.c.status == "pending")
OLDEST_DUE_RESUME = (
    # Since when the longest-waiting due resume has been due (its retry time, or its last change).
    select(func.min(func.coalesce(A.c.next_attempt_at, A.c.updated_at))).where(
        A.c.status == "pending",
        _NO_PENDING_ROW,
        A.c.attempts < bindparam("max_attempts"),
        A.c.next_attempt_at.is_(None) | (A.c.next_attempt_at <= _param(A.c.next_attempt_at, "now")),
    )
)
EXPIRED_LEASES = (
    select(A.c.id, A.c.lease_owner)
    .where(A.c.status == "resuming", A.c.lease_expires_at < _param(A.c.lease_expires_at, "now"))
    .limit(bindparam("limit"))
)
TAKE_OVER_LEASE = (
    update(A)
    .where(
        A.c.id == bindparam("approval_id"),
        A.c.status == "resuming",
        A.c.lease_owner == bindparam("old_owner"),
        A.c.lease_expires_at < _param(A.c.lease_expires_at, "now"),
    )
    .values(
        lease_owner=_param(A.c.lease_owner, "owner"),
        lease_expires_at=_param(A.c.lease_expires_at),
        attempts=A.c.attempts + 1,
        updated_at=_param(A.c.updated_at, "now"),
    )
)
_HELD = (A.c.id == bindparam("approval_id"), A.c.status == "resuming", A.c.lease_owner == bindparam("owner"))
"""An approval whose resume this process holds (its lease may have run out, but nobody took it)."""
RENEW_LEASE = update(A).where(*_HELD).values(lease_expires_at=_param(A.c.lease_expires_at))
FINISH = (
    update(A)
    .where(*_HELD)
    .values(
        status=bindparam("status"),
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
        finished_at=_param(A.c.finished_at, "now"),
        version=A.c.version + 1,
        updated_at=_param(A.c.updated_at, "now"),
    )
)
RELEASE_FOR_RETRY = (
    update(A)
    .where(*_HELD)
    .values(
        status="pending",
        lease_owner=None,
        lease_expires_at=None,
        last_error=bindparam("error"),
        next_attempt_at=_param(A.c.next_attempt_at),
        version=A.c.version + 1,
        updated_at=_param(A.c.updated_at, "now"),
    )
)
HAND_BACK = (
    # A resume this process stops before it ended: pending again, due at once, and its attempt
    # not counted (the run was not tried to the end), so the last allowed attempt is made again.
    update(A)
    .where(*_HELD)
    .values(
        status="pending",
        lease_owner=None,
        lease_expires_at=None,
        attempts=A.c.attempts - 1,
        last_error=bindparam("error"),
        next_attempt_at=_param(A.c.next_attempt_at, "now"),
        version=A.c.version + 1,
        updated_at=_param(A.c.updated_at, "now"),
    )
)

# -- expiring and cancelling -------------------------------------------------------------------

_EXPIRES = (
    A.c.status == "pending",
    A.c.expired.is_(False),
    A.c.expires_at.is_not(None),
    # A leave_open approval past its time stays as it is until a person acts: no sweep reads it again.
    A.c.expiry_policy != "leave_open",
)
DUE_FOR_EXPIRY = select(A.c.id).where(*_EXPIRES, A.c.expires_at <= _param(A.c.expires_at, "now"))

# -- when the next timed work is due (a worker sleeps until then) --------------------------------

NEXT_EXPIRY = select(func.min(A.c.expires_at)).where(*_EXPIRES, A.c.expires_at > _param(A.c.expires_at, "now"))
NEXT_RETRY = select(func.min(A.c.next_attempt_at)).where(
    A.c.status == "pending",
    A.c.attempts < bindparam("max_attempts"),
    A.c.next_attempt_at > _param(A.c.next_attempt_at, "now"),
)
NEXT_LEASE_END = select(func.min(A.c.lease_expires_at)).where(
    A.c.status == "resuming", A.c.lease_expires_at > _param(A.c.lease_expires_at, "now")
)
NEXT_REMINDER = select(func.min(A.c.next_reminder_at)).where(
    A.c.status == "pending", A.c.expired.is_(False), A.c.next_reminder_at > _param(A.c.next_reminder_at, "now")
)
NEXT_REMINDER_LEASE_END = select(func.min(A.c.reminder_lease_until)).where(
    A.c.status == "pending", A.c.reminder_lease_until > _param(A.c.reminder_lease_until, "now")
)
NEXT_ESCALATION = select(func.min(A.c.escalate_at)).where(
    A.c.status == "pending",
    A.c.expired.is_(False),
    A.c.escalated.is_(False),
    A.c.escalate_at > _param(A.c.escalate_at, "now"),
)
MARK_EXPIRED = (
    update(A)
    .where(A.c.id == bindparam("approval_id"), A.c.status == "pending", A.c.expired.is_(False))
    .values(expired=True, version=A.c.version + 1, updated_at=_param(A.c.updated_at, "now"))
)
CANCEL = (
    update(A)
    .where(A.c.id == bindparam("approval_id"), A.c.status == "pending")
    .values(
        status="cancelled",
        finished_at=_param(A.c.finished_at, "now"),
        version=A.c.version + 1,
        updated_at=_param(A.c.updated_at, "now"),
    )
)
