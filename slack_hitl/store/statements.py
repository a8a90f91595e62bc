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
    exists,
    func,
    insert,
    null,
    select,
    text,
    update,
)
from sqlalchemy.sql.expression import column

from slack_hitl.approvals import Actor
from slack_hitl.store.schema import APPROVAL_ROWS, APPROVALS, DECISION_LOG

A = APPROVALS
R = APPROVAL_ROWS
LOG = DECISION_LOG

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
INSERT_ROW = _insert_of(R, ("approval_id", "row_id", "position", "requirement", "status"))
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
    select(R.c.row_id, cast(R.c.requirement, Text).label("requirement"), A.c.adapter)
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

DUE_FOR_EXPIRY = select(A.c.id).where(
    A.c.status == "pending",
    A.c.expired.is_(False),
    A.c.expires_at.is_not(None),
    A.c.expires_at <= _param(A.c.expires_at, "now"),
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
