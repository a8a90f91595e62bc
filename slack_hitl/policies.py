"""The rules of approval policies: who may decide a row (deciders, four-eyes) and when a quorum decides it.

Pure functions, no I/O: the store applies them inside the transactions that decide, so a rule
is never checked against a state that another process has changed since.

- Four-eyes: a row whose ``Deciders.not_requester`` is set may not be decided by the approval's
  ``requested_by`` (a system actor, recording a decision made elsewhere, is never refused).
- Staged steps: a row of step k can be decided once every row of the steps before k is decided
  and none rejected; in an approval of several steps a rejection ends it (its undecided rows
  are settled as rejected, no later step is asked).
- Quorum: a confirmation row with ``approvals_needed`` N is approved once N distinct people
  approved it, and rejected once ``rejections_needed`` distinct people rejected it (the first
  rejection, by default). Each person's vote counts once; the vote that reaches a count decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from slack_hitl.approvals import Actor, Approval, Row
from slack_hitl.decisions import Outcome
from slack_hitl.requirements import Confirmation, Deciders, Requirement


def is_refused_requester(requirement: Requirement, actor: Actor, requested_by: str | None) -> bool:
    """Four-eyes: whether ``actor`` requested the approval and the row forbids its requester."""
    return (
        requirement.deciders.not_requester
        and requested_by is not None
        and not actor.system
        and actor.id == requested_by
    )


def may_decide(
    requirement: Requirement, actor: Actor, requested_by: str | None = None, escalated_to: Deciders | None = None
) -> bool:
    """Whether ``actor`` may decide the row: one of its deciders (anyone, if it names none) or of
    those an escalation added (``escalated_to``), and not its requester when the row forbids that."""
    if is_refused_requester(requirement, actor, requested_by):
        return False
    if requirement.deciders.anyone or actor.system:
        return True
    return is_one_of(requirement.deciders, actor) or (escalated_to is not None and is_one_of(escalated_to, actor))


def is_one_of(deciders: Deciders, actor: Actor) -> bool:
    """Whether ``actor`` is named by ``deciders``, by user id or by one of their user groups."""
    return actor.id in deciders.user_ids or bool(set(actor.group_ids) & set(deciders.group_ids))


def quorum_outcome(confirmation: Confirmation, votes: Iterable[Outcome]) -> Outcome | None:
    """The outcome the distinct people's ``votes`` decide a quorum row with; ``None`` while neither count is reached."""
    approvals = rejections = 0
    for outcome in votes:
        if outcome == "rejected":
            rejections += 1
        else:
            approvals += 1
    if rejections >= confirmation.rejections_needed:
        return "rejected"
    if approvals >= confirmation.approvals_needed:
        return "approved"
    return None


def waiting_for_step(approval: Approval, row: Row) -> int | None:
    """Staged approvals: the earliest step before ``row``'s that is not yet approved (a row of it is
    undecided or rejected), which ``row`` waits for; ``None`` when ``row`` may be decided."""
    step = row.requirement.step
    open_steps = [
        other.requirement.step
        for other in approval.rows
        if other.requirement.step < step and (other.decision is None or other.decision.outcome == "rejected")
    ]
    return min(open_steps, default=None)


def may_decide_now(approval: Approval, row: Row, actor: Actor) -> bool:
    """Whether ``actor`` may decide ``row`` as the approval stands: pending and undecided, one of its
    deciders (or of an escalation's), not its requester under four-eyes, not locked by an earlier
    step, and without a vote of theirs already counted on it."""
    if approval.status != "pending" or row.decided:
        return False
    escalated_to = approval.reminders.escalate_to if approval.reminders and approval.escalated else None
    if not may_decide(row.requirement, actor, approval.requested_by, escalated_to):
        return False
    if row.requirement.step > 1 and waiting_for_step(approval, row) is not None:
        return False
    return all(vote.voter != actor.id for vote in row.votes)
