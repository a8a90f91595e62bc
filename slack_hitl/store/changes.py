"""Change of mind: the person who decided a row takes the decision back while the approval is open.

A decision may be withdrawn while its approval is pending and some other row is still undecided
(once the last row is decided, the resume may be claimed: nothing can change then). The row
goes back to pending, to be decided anew, by its decider or another; the log keeps the decision
withdrawn beside the one made later. A quorum row's vote is withdrawn the same way while the row
is still counting. The transaction locks the row, then the approval, in the order of every
decide, so it and the decide of the last other row are serialised on PostgreSQL: whichever
commits second sees the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from slack_hitl.approvals import Actor
from slack_hitl.store import statements as sql
from slack_hitl.store.transactions import Work

ChangeRefusal = Literal["unknown", "closed", "not_decided", "not_yours", "last_row"]


@dataclass(frozen=True)
class ChangeResult:
    """What a withdrawal did: ``withdrawn`` (a decision, or a quorum ``vote``), or why not."""

    withdrawn: bool
    vote: bool = False
    refusal: ChangeRefusal | None = None
    approval_status: str | None = None
    decided_by: str | None = None
    decided_by_name: str | None = None


def withdraw_decision(approval_id: str, row_id: str, actor: Actor, now: dt.datetime) -> Work[ChangeResult]:
    """Withdraw ``actor``'s decision of the row (or their vote on a quorum row still counting)."""
    key = {"approval_id": approval_id, "row_id": row_id}
    row = (yield sql.ROW_FOR_CHANGE, key).first()
    approval = (yield sql.APPROVAL_FOR_CHANGE, {"approval_id": approval_id}).first()
    if row is None or approval is None:
        return ChangeResult(False, refusal="unknown")
    if approval["status"] != "pending" or approval["expired"]:
        status = "expired" if approval["expired"] else approval["status"]
        return ChangeResult(False, refusal="closed", approval_status=status)
    if row["status"] == "pending":
        deleted = yield sql.DELETE_VOTE, {**key, "voter": actor.id}
        if deleted.rowcount != 1:
            return ChangeResult(False, refusal="not_decided")
        yield sql.BUMP_VERSIONS, {"ids": [approval_id], "now": now}
        yield sql.INSERT_LOG, [sql.log_entry(approval_id, "vote_withdrawn", actor, now, row_id=row_id)]
        return ChangeResult(True, vote=True)
    if row["decided_by"] != actor.id:
        return ChangeResult(
            False, refusal="not_yours", decided_by=row["decided_by"], decided_by_name=row["decided_by_name"]
        )
    if not (yield sql.OTHER_PENDING_ROWS, key).scalar():
        return ChangeResult(False, refusal="last_row")
    yield sql.REOPEN_ROW, {"approval": approval_id, "row": row_id, "actor": actor.id}
    # A quorum row's votes are the decision: the withdrawer's goes with it, the others' stay counted.
    yield sql.DELETE_VOTE, {**key, "voter": actor.id}
    yield sql.BUMP_VERSIONS, {"ids": [approval_id], "now": now}
    entry = sql.log_entry(approval_id, "withdrawn", actor, now, row_id=row_id, data={"withdrawn": row["decision"]})
    yield sql.INSERT_LOG, [entry]
    return ChangeResult(True)
