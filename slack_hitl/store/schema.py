"""The durable schema of the core: approvals, their rows, and the append-only decision log.

Per-row state is one row of ``approval_rows`` (never a JSON blob rewritten as a whole), so
deciding a row is one conditional UPDATE. Times are UTC. The Slack messages that show an
approval have their table with the rest of the Slack records, in ``slack_messages``; the
migrations (``slack_hitl/migrations``) create both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, Table, text
from sqlmodel import Field, SQLModel


class ApprovalRecord(SQLModel, table=True):
    __tablename__ = "approvals"

    id: str = Field(primary_key=True, max_length=64)
    title: str
    status: str = Field(max_length=16)
    adapter: str = Field(max_length=100)
    resume_state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    channel: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)
    parent_id: str | None = Field(default=None, index=True, max_length=64)
    requested_by: str | None = Field(default=None, max_length=100)
    """Who asked for the approval (a Slack user id): four-eyes rows refuse them."""
    steps: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    """How many steps its rows are in: an approval of one step decides its rows in any order."""
    votes_cast: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    reminders: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    next_reminder_at: dt.datetime | None = Field(default=None, index=True)
    reminder_lease_until: dt.datetime | None = None
    reminders_sent: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    escalate_at: dt.datetime | None = Field(default=None, index=True)
    escalated: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    """How many quorum votes the approval's rows have counted: a read of an approval with none skips the votes."""
    idempotency_key: str | None = Field(default=None, unique=True, max_length=255)
    request_fingerprint: str | None = Field(default=None, max_length=64)
    """A hash of the whole request that opened the approval: its idempotency key names this request only."""
    expires_at: dt.datetime | None = Field(default=None, index=True)
    expiry_policy: str = Field(default="reject", max_length=16)
    expired: bool = False
    version: int = 0
    """Bumped by every change a viewer should see; the message is out of date while rendered_version < version."""
    rendered_version: int = -1
    post_owner: str | None = Field(default=None, max_length=100)
    """The process that holds the right to post the approval's message (until ``post_claimed_until``)."""
    post_claimed_until: dt.datetime | None = None
    post_attempts: int = 0
    """How many times a process set out to post the message: after the first, a post may have landed unseen."""
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_expires_at: dt.datetime | None = None
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column("metadata", JSON, nullable=False))
    created_at: dt.datetime = Field(index=True)
    """Pages of approvals are newest first (``GET /v1/approvals``)."""
    updated_at: dt.datetime
    finished_at: dt.datetime | None = None

    __table_args__ = (
        # Lookups by status (the worker's sweeps), and pages of one status newest first.
        Index("ix_approvals_status_created_at", "status", "created_at"),
        # Out-of-date messages, which a service's workers look for several times a second.
        Index(
            "ix_approvals_out_of_date",
            "id",
            sqlite_where=text("rendered_version < version"),
            postgresql_where=text("rendered_version < version"),
        ),
    )


class RowRecord(SQLModel, table=True):
    __tablename__ = "approval_rows"

    approval_id: str = Field(primary_key=True, foreign_key="approvals.id", max_length=64)
    row_id: str = Field(primary_key=True, max_length=200)
    position: int
    step: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    """Its requirement's step: the row CAS of a later step's row waits for the earlier steps."""
    requirement: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    outcome: str | None = Field(default=None, max_length=16)
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    decided_by: str | None = Field(default=None, max_length=100)
    decided_by_name: str | None = None
    decided_at: dt.datetime | None = None
    delivery_key: str | None = Field(default=None, max_length=255)
    """The Slack delivery that decided the row, so a repeated delivery is recognised as such."""

    __table_args__ = (Index("ix_approval_rows_pending", "approval_id", "status"),)


class DecisionLogRecord(SQLModel, table=True):
    """Append-only: every decision and every change of an approval's status, with who and why."""

    __tablename__ = "decision_log"

    id: int | None = Field(default=None, primary_key=True)
    approval_id: str = Field(index=True, max_length=64)
    row_id: str | None = Field(default=None, max_length=200)
    event: str = Field(max_length=32)
    actor: str | None = Field(default=None, max_length=100)
    actor_name: str | None = None
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: dt.datetime


class VoteRecord(SQLModel, table=True):
    """One person's vote on a quorum row: the key makes each person count once."""

    __tablename__ = "row_votes"

    approval_id: str = Field(primary_key=True, foreign_key="approvals.id", max_length=64)
    row_id: str = Field(primary_key=True, max_length=200)
    voter: str = Field(primary_key=True, max_length=100)
    voter_name: str | None = None
    outcome: str = Field(max_length=16)
    decision: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    delivery_key: str | None = Field(default=None, max_length=255)
    at: dt.datetime


def table(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table SQLModel made of ``model`` (it sets ``__table__`` where a type checker cannot see)."""
    found = model.__table__  # type: ignore[attr-defined]
    assert isinstance(found, Table)
    return found


APPROVALS = table(ApprovalRecord)
APPROVAL_ROWS = table(RowRecord)
DECISION_LOG = table(DecisionLogRecord)
ROW_VOTES = table(VoteRecord)
