"""Read models of an approval and its rows, as the store returns them and adapters receive them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slack_hitl.decisions import Decision, Outcome
from slack_hitl.requirements import Deciders, Requirement
from slack_hitl.status import ApprovalStatus, aggregate_outcome

ExpiryPolicy = Literal["reject", "apply_defaults", "leave_open"]


class Reminders(BaseModel):
    """Reminders and escalation of an approval: while a row is pending, its possible deciders are
    reminded in the thread every ``every_seconds`` (the first after ``first_after_seconds``, by
    default one interval); after ``escalate_after_seconds`` (from opening), ``escalate_to`` may
    decide every row too, and is told so in the thread."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every_seconds: float = Field(ge=0.5, le=30 * 86400)
    first_after_seconds: float | None = Field(default=None, ge=0.5, le=30 * 86400)
    escalate_after_seconds: float | None = Field(default=None, ge=0.5, le=90 * 86400)
    escalate_to: Deciders = Deciders()

    @model_validator(mode="after")
    def _escalation_names_someone(self) -> Reminders:
        if self.escalate_after_seconds is not None and self.escalate_to.anyone:
            raise ValueError("an escalation needs escalate_to: the users or user groups it adds")
        return self


class Vote(BaseModel):
    """One person's vote on a quorum row: each person counts once."""

    model_config = ConfigDict(frozen=True)

    voter: str
    voter_name: str | None = None
    outcome: Outcome
    reason: str | None = None
    at: dt.datetime


class Row(BaseModel):
    """One requirement of an approval with its state."""

    model_config = ConfigDict(frozen=True)

    requirement: Requirement
    position: int
    decision: Decision | None = None
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: dt.datetime | None = None
    votes: tuple[Vote, ...] = ()
    """A quorum row's votes, oldest first (empty for other rows)."""

    def votes_for(self, outcome: Outcome) -> tuple[Vote, ...]:
        return tuple(vote for vote in self.votes if vote.outcome == outcome)

    @property
    def id(self) -> str:
        return self.requirement.id

    @property
    def decided(self) -> bool:
        return self.decision is not None


class Approval(BaseModel):
    """One pause of one run: its rows, where it is shown, and how far it got."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    status: ApprovalStatus
    adapter: str
    resume_state: dict[str, Any] = Field(default_factory=dict)
    rows: tuple[Row, ...] = ()
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    parent_id: str | None = None
    requested_by: str | None = None
    """The Slack user id of who asked for the approval: rows with ``Deciders.not_requester`` refuse them."""
    reminders: Reminders | None = None
    reminders_sent: int = 0
    escalated: bool = False
    """Its ``reminders.escalate_to`` may decide every row too."""
    expires_at: dt.datetime | None = None
    expiry_policy: ExpiryPolicy = "reject"
    expired: bool = False
    version: int = 0
    attempts: int = 0
    last_error: str | None = None
    created_at: dt.datetime
    finished_at: dt.datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def row(self, row_id: str) -> Row | None:
        return next((r for r in self.rows if r.id == row_id), None)

    @property
    def decided_count(self) -> int:
        return sum(r.decided for r in self.rows)

    @property
    def all_decided(self) -> bool:
        return all(r.decided for r in self.rows)

    @property
    def outcome(self) -> str | None:
        return aggregate_outcome(r.decision.outcome if r.decision else None for r in self.rows)

    @property
    def decisions(self) -> dict[str, Decision]:
        """Decisions keyed by requirement id: adapters answer by id, never by position."""
        return {r.id: r.decision for r in self.rows if r.decision is not None}


class Actor(BaseModel):
    """Who acts: a Slack user (id, display name, the user groups they belong to) or the system."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None = None
    group_ids: tuple[str, ...] = ()
    system: bool = False
    """Records a decision made outside Slack (an expiry, an answer given in Airflow's own UI): it is
    not a person clicking, so a row's deciders do not restrict it. Never set from a Slack request."""


SYSTEM = Actor(id="system", name="slack_hitl", system=True)
EXPIRY = Actor(id="system:expiry", name="expiry", system=True)
"""Who decides the rows an expiry settles: adapters can tell "expired" from a person's rejection."""


def is_system_actor(actor_id: str | None) -> bool:
    """Whether a stored actor id (a row's ``decided_by``) is slack_hitl itself (``SYSTEM``, ``EXPIRY``),
    not a person: a row it decided was settled by the approval's rules, and is told as such."""
    return actor_id is not None and actor_id.startswith(SYSTEM.id)
