"""A person's inbox: the rows they may still decide, and what they decided lately, across approvals.

The App Home tab and ``GET /v1/approvals?decider=`` both read it. It is read from the store as
it is now (pending approvals, newest first), so it is true whichever process or surface decided
a row; a row leaves the inbox the moment its decision is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_hitl.approvals import Actor, Approval, Row
from slack_hitl.engine import may_decide
from slack_hitl.store import Store

INBOX_APPROVALS = 200
"""How many of the newest pending approvals an inbox looks through."""


@dataclass(frozen=True)
class InboxRow:
    """One row of one approval, as an inbox lists it."""

    approval: Approval
    row: Row


def decidable_rows(approvals: list[Approval], actor: Actor) -> list[InboxRow]:
    """The undecided rows of pending ``approvals`` that ``actor`` may decide, in the order given."""
    return [
        InboxRow(approval, row)
        for approval in approvals
        if approval.status == "pending"
        for row in approval.rows
        if not row.decided and may_decide(row.requirement, actor)
    ]


def decided_by(approvals: list[Approval], user_id: str, limit: int) -> list[InboxRow]:
    """The rows ``user_id`` decided, latest decision first, at most ``limit``."""
    rows = [InboxRow(a, r) for a in approvals for r in a.rows if r.decided and r.decided_by == user_id]
    rows.sort(key=lambda item: item.row.decided_at.timestamp() if item.row.decided_at else 0.0, reverse=True)
    return rows[:limit]


async def pending_approvals(store: Store, limit: int = INBOX_APPROVALS) -> list[Approval]:
    """The newest pending approvals, newest first."""
    return await store.list_approvals(status="pending", limit=limit)


async def inbox_of(store: Store, actor: Actor, limit: int = INBOX_APPROVALS) -> list[InboxRow]:
    """The rows ``actor`` may still decide, newest approval first."""
    return decidable_rows(await pending_approvals(store, limit), actor)
