"""The decision trace: every approval with its rows and who decided what, when and why.

Two forms: JSON Lines (one approval per line, for programs) and Markdown (for people, and
for an agent that reads past decisions as context).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from slack_hitl.approvals import Approval
from slack_hitl.store import Store

TraceFormat = Literal["jsonl", "markdown"]


def approval_trace(approval: Approval, log: list[dict[str, Any]]) -> dict[str, Any]:
    """One approval as a JSON-ready dict: its rows with their decisions, and its log."""
    return {
        "id": approval.id,
        "title": approval.title,
        "status": approval.status,
        "adapter": approval.adapter,
        "parent_id": approval.parent_id,
        "requested_by": approval.requested_by,
        "channel": approval.channel,
        "message_ts": approval.message_ts,
        "created_at": approval.created_at.isoformat(),
        "finished_at": approval.finished_at.isoformat() if approval.finished_at else None,
        "rows": [
            {
                "id": row.id,
                "kind": row.requirement.kind,
                "title": row.requirement.title,
                "description": row.requirement.description,
                "arguments": row.requirement.arguments,
                "decision": row.decision.model_dump(mode="json") if row.decision else None,
                "decided_by": row.decided_by,
                "decided_by_name": row.decided_by_name,
                "decided_at": row.decided_at.isoformat() if row.decided_at else None,
                "step": row.requirement.step,
                "votes": [vote.model_dump(mode="json") for vote in row.votes],
            }
            for row in approval.rows
        ],
        "log": [
            {
                "event": entry["event"],
                "row_id": entry["row_id"],
                "actor": entry["actor"],
                "actor_name": entry["actor_name"],
                "reason": entry["reason"],
                "data": entry["data"],
                "at": entry["at"].isoformat(),
            }
            for entry in log
        ],
    }


def trace_markdown(trace: dict[str, Any]) -> str:
    """One approval's trace as Markdown."""
    lines = [f"## {trace['title']}", "", f"- approval `{trace['id']}`: **{trace['status']}**"]
    lines.append(
        f"- opened {trace['created_at']}" + (f", finished {trace['finished_at']}" if trace["finished_at"] else "")
    )
    if trace["parent_id"]:
        lines.append(f"- follows approval `{trace['parent_id']}`")
    lines += ["", "| row | kind | decision | by | when | reason |", "| --- | --- | --- | --- | --- | --- |"]
    for row in trace["rows"]:
        decision = row["decision"]
        lines.append(
            "| "
            + " | ".join(
                _cell(value)
                for value in (
                    row["title"],
                    row["kind"],
                    _decision_text(decision) if decision else "undecided",
                    row["decided_by_name"] or row["decided_by"] or "",
                    row["decided_at"] or "",
                    (decision or {}).get("reason") or "",
                )
            )
            + " |"
        )
    events = [entry for entry in trace["log"] if entry["event"] in POLICY_EVENTS]
    if events:
        lines += ["", "Policy events:", ""]
        for entry in events:
            who = entry["actor_name"] or entry["actor"] or ""
            row = f" row `{entry['row_id']}`" if entry["row_id"] else ""
            details = json.dumps(entry.get("data") or {}, ensure_ascii=False, sort_keys=True)
            lines.append(f"- {entry['at']} **{entry['event']}**{row} by {who} {details}".rstrip())
    return "\n".join(lines) + "\n"


POLICY_EVENTS = frozenset(
    {"vote_counted", "vote_withdrawn", "withdrawn", "step_unlocked", "approval_ended", "reminder_sent", "escalated"}
)
"""The decision log's entries of approval policies, listed in a trace's Markdown."""


def _decision_text(decision: dict[str, Any]) -> str:
    details = []
    if decision.get("choices"):
        details.append(", ".join(decision["choices"]))
    if decision.get("values"):
        details.append(json.dumps(decision["values"], ensure_ascii=False, sort_keys=True))
    if decision.get("result") is not None:
        details.append(json.dumps(decision["result"], ensure_ascii=False))
    return decision["outcome"] + (": " + "; ".join(details) if details else "")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


async def export_traces(
    store: Store, *, fmt: TraceFormat = "jsonl", status: str | None = None, approval_id: str | None = None
) -> AsyncIterator[str]:
    """Yield the trace of each approval (oldest first), one JSON line or one Markdown section each."""
    if approval_id is not None:
        ids = [approval_id]
    elif status is not None:
        ids = [a.id for a in reversed(await store.list_approvals(status=status, limit=100_000))]
    else:
        ids = await store.approval_ids()
    if fmt == "markdown":
        yield "# Decision trace\n"
    for current in ids:
        trace = approval_trace(await store.get(current), await store.decision_log(current))
        yield json.dumps(trace, ensure_ascii=False) + "\n" if fmt == "jsonl" else "\n" + trace_markdown(trace)
