"""Stored records to domain values and back: an ``Approval`` of its records, and values the log can hold."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from slack_hitl.approvals import Approval, Reminders, Row, Vote
from slack_hitl.decisions import Decision
from slack_hitl.store.cache import ApprovalPolicy, RequirementCache
from slack_hitl.times import aware


def approval_of(
    record: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    requirements: RequirementCache,
    votes: Sequence[Mapping[str, Any]] = (),
) -> Approval:
    """The approval of its stored record, rows and votes (``statements.APPROVAL``, ``ROWS``, ``VOTES``);
    requirements already parsed are reused, as they never change."""
    approval_id = record["id"]
    if not requirements.knows(approval_id):
        texts = {row["row_id"]: row["requirement"] for row in rows}
        requirements.add(approval_id, record["adapter"], texts, policy=ApprovalPolicy.of_record(record))
    votes_of: dict[str, list[Vote]] = {}
    for vote in votes:
        votes_of.setdefault(vote["row_id"], []).append(
            Vote(
                voter=vote["voter"],
                voter_name=vote["voter_name"],
                outcome=vote["outcome"],
                reason=(vote["decision"] or {}).get("reason"),
                at=aware(vote["at"]),
            )
        )
    return Approval(
        id=approval_id,
        title=record["title"],
        status=record["status"],
        adapter=record["adapter"],
        resume_state=record["resume_state"] or {},
        rows=tuple(
            Row(
                requirement=requirements.parsed_or((approval_id, row["row_id"]), row["requirement"]),
                position=row["position"],
                decision=Decision.model_validate(row["decision"]) if row["decision"] else None,
                decided_by=row["decided_by"],
                decided_by_name=row["decided_by_name"],
                decided_at=aware(row["decided_at"]),
                votes=tuple(votes_of.get(row["row_id"], ())),
            )
            for row in rows
        ),
        channel=record["channel"],
        thread_ts=record["thread_ts"],
        message_ts=record["message_ts"],
        parent_id=record["parent_id"],
        requested_by=record["requested_by"],
        reminders=Reminders.model_validate(record["reminders"]) if record["reminders"] else None,
        reminders_sent=record["reminders_sent"],
        escalated=bool(record["escalated"]),
        expires_at=aware(record["expires_at"]),
        expiry_policy=record["expiry_policy"],
        expired=bool(record["expired"]),
        version=record["version"],
        attempts=record["attempts"],
        last_error=record["last_error"],
        created_at=aware(record["created_at"]),
        finished_at=aware(record["finished_at"]),
        metadata=record["metadata"] or {},
    )


def jsonable(value: Any) -> Any:
    """``value`` if JSON can hold it, else its repr (cut): a run's output is logged whatever it is."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)[:4000]
