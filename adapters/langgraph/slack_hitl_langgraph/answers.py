"""Turn an approval's decisions into the values that resume its interrupts, keyed by interrupt id.

Every row is answered by its own id: a middleware batch is rebuilt in the order the
middleware listed its calls from each row's stored index, never from the rows' order.

What a plain ``interrupt()`` returns to the node, by the row's kind:

* confirmation: ``{"approved": bool, "choices": [...], "reason": str | None, "values": {...}}``
* user_input: the field values by name (validated by the interrupt's ``response_schema``, if any)
* user_feedback: ``{question_name: {"selected": [...], "text": str | None}}``
* external_execution: the result the person supplied (parsed JSON for a JSON row)

A row that ended rejected without an answer (an expired input, feedback or external row)
returns ``{"rejected": True, "reason": ...}``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from slack_hitl import Approval, Decision, ResumeNotPossible, Row
from slack_hitl_langgraph.fields import values_to_arguments
from slack_hitl_langgraph.pauses import (
    ALLOWED,
    ARGS,
    BATCHED,
    COUNT,
    FEEDBACK_QUESTION,
    INDEX,
    INTERRUPT_ID,
    JSON_FIELDS,
    PER_CALL,
    SOURCE,
    TOOL,
)


def resume_values(approval: Approval) -> dict[str, Any]:
    """``{interrupt_id: value}`` for every interrupt the approval's rows answer."""
    undecided = [row.id for row in approval.rows if row.decision is None]
    if undecided:
        raise ResumeNotPossible(f"approval {approval.id} still has undecided rows: {', '.join(undecided)}")
    by_interrupt: dict[str, list[Row]] = defaultdict(list)
    for row in approval.rows:
        by_interrupt[row.requirement.metadata[INTERRUPT_ID]].append(row)
    return {interrupt_id: _answer(rows) for interrupt_id, rows in by_interrupt.items()}


def _answer(rows: list[Row]) -> Any:
    source = rows[0].requirement.metadata[SOURCE]
    if source == BATCHED:
        return {"decisions": _batch_decisions(rows)}
    if len(rows) != 1:
        raise ResumeNotPossible(f"interrupt {rows[0].requirement.metadata[INTERRUPT_ID]} has {len(rows)} rows")
    if source == PER_CALL:
        return middleware_decision(rows[0])
    return plain_value(rows[0])


def _batch_decisions(rows: list[Row]) -> list[dict[str, Any]]:
    count = rows[0].requirement.metadata[COUNT]
    by_index = {row.requirement.metadata[INDEX]: row for row in rows}
    if sorted(by_index) != list(range(count)):
        raise ResumeNotPossible(
            f"the middleware asked about {count} tool calls but the approval answers positions {sorted(by_index)}"
        )
    return [middleware_decision(by_index[index]) for index in range(count)]


def middleware_decision(row: Row) -> dict[str, Any]:
    """The ``HumanInTheLoopMiddleware`` decision for one tool call row."""
    decision = _decision(row)
    meta = row.requirement.metadata
    allowed = meta[ALLOWED]
    if decision.outcome == "rejected":
        if "reject" in allowed:
            return _reject(decision.reason)
        if "respond" in allowed:
            # A respond-only tool cannot be rejected: tell the model in its place that no one answered.
            return {"type": "respond", "message": f"No answer was given ({decision.reason or 'rejected'})."}
        raise ResumeNotPossible(f"tool {meta[TOOL]!r} was rejected but allows only {allowed}")
    kind = row.requirement.kind
    if kind in ("confirmation", "user_input") and "edit" in allowed:
        args = values_to_arguments(decision.values, json_fields=meta.get(JSON_FIELDS, []), original=meta[ARGS])
        # Approving the arguments as the model wrote them is a plain approval.
        if kind == "user_input" or args != meta[ARGS]:
            return {"type": "edit", "edited_action": {"name": meta[TOOL], "args": args}}
    if kind == "confirmation":
        return {"type": "approve"}
    if kind == "user_feedback":
        return {"type": "respond", "message": feedback_text(decision.values.get(FEEDBACK_QUESTION))}
    result = decision.result
    return {"type": "respond", "message": result if isinstance(result, str) else json.dumps(result)}


def plain_value(row: Row) -> Any:
    """What ``interrupt()`` returns in the node for one plain row (see the module docstring)."""
    decision = _decision(row)
    kind = row.requirement.kind
    if kind == "confirmation":
        return {
            "approved": decision.outcome == "approved",
            "choices": list(decision.choices),
            "reason": decision.reason,
            "values": decision.values,
        }
    if decision.outcome == "rejected":
        return {"rejected": True, "reason": decision.reason}
    if kind == "user_input":
        return values_to_arguments(decision.values, json_fields=row.requirement.metadata.get(JSON_FIELDS, []))
    if kind == "user_feedback":
        return decision.values
    return decision.result


def feedback_text(answer: Any) -> str:
    """One answer ``{"selected": [...], "text": ...}`` as the text a model reads."""
    if not isinstance(answer, dict):
        return "" if answer is None else str(answer)
    parts = [*answer.get("selected", []), *([answer["text"]] if answer.get("text") else [])]
    return "; ".join(str(p) for p in parts)


def _reject(reason: str | None) -> dict[str, Any]:
    # Without a message the middleware tells the model a generic "the user rejected it".
    return {"type": "reject", "message": reason} if reason else {"type": "reject"}


def _decision(row: Row) -> Decision:
    assert row.decision is not None  # resume_values checked every row first
    return row.decision
