"""The rules of approval policies: who may decide a row (deciders, four-eyes) and when a quorum decides it.

Pure functions, no I/O: the store applies them inside the transactions that decide, so a rule
is never checked against a state that another process has changed since.

- Four-eyes: a row whose ``Deciders.not_requester`` is set may not be decided by the approval's
  ``requested_by`` (a system actor, recording a decision made elsewhere, is never refused).
- Quorum: a confirmation row with ``approvals_needed`` N is approved once N distinct people
  approved it, and rejected once ``rejections_needed`` distinct people rejected it (the first
  rejection, by default). Each person's vote counts once; the vote that reaches a count decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from slack_hitl.approvals import Actor
from slack_hitl.decisions import Outcome
from slack_hitl.requirements import Confirmation, Requirement


def is_refused_requester(requirement: Requirement, actor: Actor, requested_by: str | None) -> bool:
    """Four-eyes: whether ``actor`` requested the approval and the row forbids its requester."""
    return (
        requirement.deciders.not_requester
        and requested_by is not None
        and not actor.system
        and actor.id == requested_by
    )


def may_decide(requirement: Requirement, actor: Actor, requested_by: str | None = None) -> bool:
    """Whether ``actor`` may decide the row: one of its deciders (anyone, if it names none), and not
    its requester when the row forbids that."""
    if is_refused_requester(requirement, actor, requested_by):
        return False
    deciders = requirement.deciders
    if deciders.anyone or actor.system:
        return True
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
