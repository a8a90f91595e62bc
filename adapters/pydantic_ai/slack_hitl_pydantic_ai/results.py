"""Turn the decisions of an approval into Pydantic AI's ``DeferredToolResults``, by tool call id.

Pure: no I/O. Every row must be decided (Pydantic AI refuses a resume that leaves a deferred
call unanswered). A rejection's reason goes to the model in the ``ToolDenied`` message, and
each answered call carries who decided it in its ``tool_call_metadata``.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import DeferredToolResults, ToolApproved, ToolDenied, ToolFailed, ToolReturn

from slack_hitl import Approval, Decision, ResumeNotPossible, Row
from slack_hitl_pydantic_ai.requirements import SINGLE_ANSWER


def deferred_results(approval: Approval, *, idempotency_key: str) -> DeferredToolResults:
    """The ``DeferredToolResults`` that answer every deferred call of ``approval``.

    Raises ``ResumeNotPossible`` while a row is undecided.
    """
    undecided = [row.id for row in approval.rows if row.decision is None]
    if undecided:
        raise ResumeNotPossible(f"approval {approval.id} still has undecided rows: {', '.join(undecided)}")
    results = DeferredToolResults()
    for row in approval.rows:
        decision = row.decision
        assert decision is not None  # checked above
        call_id = row.requirement.metadata.get("tool_call_id", row.id)
        if row.requirement.metadata.get("deferred_kind") == "approval":
            results.approvals[call_id] = _approval_result(row, decision)
        else:
            results.calls[call_id] = _call_result(row, decision)
        results.metadata[call_id] = _call_metadata(approval, row, idempotency_key)
        if row.decided_by:
            results.answered_by[call_id] = row.decided_by
    return results


def denial_message(row: Row, decision: Decision) -> str:
    """What the model reads when a person rejected its tool call: who, and why when they said."""
    who = row.decided_by_name or row.decided_by or "a reviewer"
    return f"Rejected by {who}: {decision.reason}" if decision.reason else f"Rejected by {who}."


def _approval_result(row: Row, decision: Decision) -> ToolApproved | ToolDenied:
    if decision.outcome == "approved":
        return ToolApproved()
    return ToolDenied(denial_message(row, decision))


def _call_result(row: Row, decision: Decision) -> ToolReturn[Any] | ToolFailed:
    if decision.outcome == "rejected":  # an expired external call or unanswered question
        who = row.decided_by_name or row.decided_by or "a reviewer"
        return ToolFailed(f"No answer was given ({who}: {decision.reason or 'rejected'}).")
    if row.requirement.kind == "user_feedback":
        return ToolReturn(_feedback_answer(row, decision))
    return ToolReturn(decision.result)


def _feedback_answer(row: Row, decision: Decision) -> Any:
    """The answers as the tool's caller asked: one value for one question, else a value per question name."""
    answers = {
        question.name: _answer_value(decision.values.get(question.name), multiple=question.multiple)
        for question in row.requirement.questions
    }
    if row.requirement.metadata.get("answer_shape") == "single":
        return answers[SINGLE_ANSWER]
    return answers


def _answer_value(answer: dict[str, Any] | None, *, multiple: bool) -> Any:
    if not answer:
        return None
    selected, text = list(answer.get("selected") or []), answer.get("text")
    if selected and text:
        return {"selected": selected, "text": text}
    if selected:
        return selected if multiple else selected[0]
    return text


def _call_metadata(approval: Approval, row: Row, idempotency_key: str) -> dict[str, Any]:
    """The tool's own metadata plus who decided, so an approved tool can log it and deduplicate on the key."""
    framework_metadata = dict(row.requirement.metadata.get("framework_metadata") or {})
    framework_metadata["slack_hitl"] = {
        "approval_id": approval.id,
        "idempotency_key": idempotency_key,
        "decided_by": row.decided_by,
        "decided_by_name": row.decided_by_name,
        "reason": row.decision.reason if row.decision else None,
    }
    return framework_metadata
