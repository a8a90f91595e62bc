"""Resolve a paused Agno run's requirements with the decisions people made in Slack.

Every requirement is answered by its id, never by position. A rejection carries its reason
to Agno as the confirmation note, which is what the model reads in the tool result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agno.run.agent import RunOutput
from agno.run.requirement import RunRequirement

from slack_hitl import Approval, Decision, Requirement, ResumeNotPossible
from slack_hitl_agno.requirements import JSON_FIELD_TYPES


@dataclass(frozen=True)
class Rejected:
    """A tool call that will not run, and the note the model sees about it."""

    tool_name: str
    note: str | None


def answer_run(run: RunOutput, approval: Approval) -> list[Rejected]:
    """Resolve every open requirement of ``run`` from ``approval``; the rejected calls are returned."""
    open_requirements = run.active_requirements
    rows = {row.id: row.requirement for row in approval.rows}
    asked = {r.id for r in open_requirements}
    if stray := sorted(set(rows) - asked):
        raise ResumeNotPossible(f"approval {approval.id} has rows {stray} that the paused Agno run does not ask for")
    decisions = approval.decisions
    if undecided := [r.id for r in open_requirements if r.id not in decisions]:
        raise ResumeNotPossible(f"approval {approval.id} has no decision for Agno requirements {undecided}")
    _share_tool_executions(run, open_requirements)
    rejected: list[Rejected] = []
    for run_requirement in open_requirements:
        outcome = answer_requirement(run_requirement, rows[run_requirement.id], decisions[run_requirement.id])
        if outcome is not None:
            rejected.append(outcome)
    return rejected


def _share_tool_executions(run: RunOutput, requirements: list[RunRequirement]) -> None:
    """Point each requirement at the run's own record of its tool call.

    Agno continues from ``run.tools``; a run restored from JSON holds separate copies in its
    requirements, so answers written to a requirement must land in the run's record.
    """
    pending_calls = {t.tool_call_id: t for t in run.tools or [] if t.result is None}
    for run_requirement in requirements:
        tool = run_requirement.tool_execution
        if tool is not None and tool.tool_call_id in pending_calls:
            run_requirement.tool_execution = pending_calls[tool.tool_call_id]


def answer_requirement(run_requirement: RunRequirement, row: Requirement, decision: Decision) -> Rejected | None:
    """Give one Agno requirement its decision; a rejection is returned so it can be reported."""
    tool_name = row.metadata.get("tool_name", row.title)
    if decision.outcome == "rejected":
        return _reject(run_requirement, tool_name, decision.reason)
    match row.kind:
        case "confirmation":
            run_requirement.confirm()
        case "user_input":
            run_requirement.provide_user_input(_input_values(row, decision))
        case "user_feedback":
            run_requirement.provide_user_feedback(_feedback_selections(row, decision))
        case "external_execution":
            run_requirement.set_external_execution_result(_result_text(decision.result))
    return None


def _reject(run_requirement: RunRequirement, tool_name: str, reason: str | None) -> Rejected:
    if run_requirement.needs_confirmation:
        run_requirement.reject(note=reason)
        return Rejected(tool_name, reason)
    # Input, feedback and external rows are only rejected when they expire undecided. Agno
    # can only decline a call through its confirmation path, so the call is put in the state
    # a rejected confirmation leaves it in: the model reads the note and the call never runs.
    note = reason or "declined"
    tool = run_requirement.tool_execution
    if tool is None:
        raise ResumeNotPossible(f"Agno requirement {run_requirement.id} has no tool call to decline")
    tool.requires_confirmation = True
    tool.confirmed = False
    tool.confirmation_note = note
    tool.requires_user_input = False
    tool.external_execution_required = False
    tool.answered = True
    run_requirement.confirmation = False
    run_requirement.confirmation_note = note
    return Rejected(tool_name, note)


def _input_values(row: Requirement, decision: Decision) -> dict[str, Any]:
    field_types: dict[str, str] = row.metadata.get("field_types", {})
    return {
        field.name: _from_json_text(decision.values.get(field.name), field_types.get(field.name, ""))
        for field in row.fields
    }


def _from_json_text(value: Any, type_name: str) -> Any:
    """A list or dict field arrives as JSON text; text that is not JSON is passed on as it is."""
    if type_name not in JSON_FIELD_TYPES or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _feedback_selections(row: Requirement, decision: Decision) -> dict[str, list[str]]:
    """Agno keys answers by question text; free text of an open question travels as its selection."""
    question_texts: dict[str, str] = row.metadata.get("questions", {})
    selections: dict[str, list[str]] = {}
    for question in row.questions:
        answer = decision.values.get(question.name) or {}
        picked = list(answer.get("selected") or [])
        if answer.get("text"):
            picked.append(answer["text"])
        selections[question_texts.get(question.name, question.question)] = picked
    return selections


def _result_text(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result)
