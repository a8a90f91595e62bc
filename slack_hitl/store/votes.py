"""Counting a quorum row's votes: each person once, and the vote that reaches a count decides the row.

One transaction per vote: the row is locked (``statements.ROW_STATE_FOR_VOTE``), the voter's
earlier vote looked up, the vote stored, the row's votes counted with ``policies.quorum_outcome``,
and, when a count is reached, the row decided by the same row CAS as any decision, the
approval's version bumped and its resume claimed, as a decide does. Votes of one row thus never
race: N people voting at once on several processes give exactly one decision and one resume.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from slack_hitl.policies import quorum_outcome
from slack_hitl.requirements import Confirmation
from slack_hitl.store import statements as sql
from slack_hitl.store.decide import Batch, DecideCommand, RowState, claim_resumes, refusal_of
from slack_hitl.store.steps import after_staged_decisions
from slack_hitl.store.transactions import Work


@dataclass(frozen=True)
class VoteResult:
    """What one vote did: ``counted`` it, and ``decided`` the row when it reached a count (``resume``: also won the resume)."""

    counted: bool
    decided: bool = False
    resume: bool = False
    repeated: bool = False
    """The same delivery was counted before: nothing changed, and that is fine."""
    earlier: str | None = None
    """The outcome of this voter's vote counted before (each person counts once)."""
    found: RowState | None = None
    """For a vote not counted because the row takes no more: the row as it was (``None``: no such row)."""


def count_vote(
    command: DecideCommand, confirmation: Confirmation, owner: str | None, lease_seconds: float, now: dt.datetime
) -> Work[VoteResult]:
    """Count ``command`` as its actor's vote on a quorum row; decide the row when it reaches a count."""
    key = {"approval_id": command.approval_id, "row_id": command.row_id}
    row = (yield sql.ROW_STATE_FOR_VOTE, key).first()
    found, repeated = refusal_of(command, row)
    if found is None or found.status != "pending" or found.approval_status != "pending":
        return VoteResult(counted=False, repeated=repeated, found=found)
    if (
        command.step > 1
        and (yield sql.EARLIER_STEPS_OPEN, {"approval_id": command.approval_id, "step": command.step}).scalar()
    ):
        return VoteResult(counted=False, found=found)  # a pending row of a pending approval: its step waits
    earlier = (yield sql.VOTE_OF, {**key, "voter": command.actor.id}).first()
    if earlier is not None:
        same = command.delivery_key is not None and earlier["delivery_key"] == command.delivery_key
        return VoteResult(counted=False, repeated=same, earlier=earlier["outcome"])
    decision = command.decision.model_dump(mode="json")
    yield (
        sql.INSERT_VOTE,
        {
            **key,
            "voter": command.actor.id,
            "voter_name": command.actor.name,
            "outcome": command.decision.outcome,
            "decision": decision,
            "delivery_key": command.delivery_key,
            "at": now,
        },
    )
    outcomes = (yield sql.VOTE_OUTCOMES, key).scalars()
    yield sql.COUNT_VOTE, {"approval_id": command.approval_id, "now": now}
    reached = quorum_outcome(confirmation, outcomes)
    counts = {"approvals": outcomes.count("approved"), "rejections": outcomes.count("rejected")}
    needed = {"approvals_needed": confirmation.approvals_needed, "rejections_needed": confirmation.rejections_needed}
    entry = sql.log_entry(
        command.approval_id,
        "vote_counted",
        command.actor,
        now,
        row_id=command.row_id,
        reason=command.decision.reason,
        data={"outcome": command.decision.outcome, **counts, **needed},
    )
    yield sql.INSERT_LOG, [entry]
    if reached is None:
        return VoteResult(counted=True)
    # The vote that reached the count decides the row, by the row CAS every decision takes.
    decided = yield from Batch.of([command], now).decide_rows()
    if decided:
        yield from after_staged_decisions([command], now)
    won: set[str] = set()
    if decided and owner is not None:
        won = yield from claim_resumes([command.approval_id], owner, lease_seconds, now)
    return VoteResult(counted=True, decided=bool(decided), resume=command.approval_id in won)
