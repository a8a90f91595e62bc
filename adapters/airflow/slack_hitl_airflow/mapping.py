"""HITL requests as rows (requirements), and a row's decision as the answer Airflow takes.

    ApprovalOperator     -> confirmation: Approve / Reject (Reject rejects), reason per policy
    HITLOperator         -> confirmation whose choices are its options (single or multiple),
                            its params as typed fields of a modal
    HITLEntryOperator    -> user_input: its params as typed fields (the option is "OK")
    HITLBranchOperator   -> confirmation whose choices are the branches

Params named like a reviewer or a reason (``reviewer_params``, ``reason_params``) are not shown:
the bridge writes the Slack user and the row's reason into them. A reason param that may not
be empty makes the reason required. A param whose schema is ``const`` (Airflow's form hides it)
is not shown either and is answered with its const; a text param whose value is too long for a
Slack text box is shown read-only in the thread and answered as it is.

A body too long for a row (an LLM's output) shows its start and is posted whole in the thread
(``thread_note``). common-ai's requests read as what they are: the output to approve, editable
in a text area when the operator allows it; the tool calls an agent waits on, with their
arguments (see ``common_ai``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slack_hitl import Choice, Confirmation, Decision, DecisionInput, Requirement, classify
from slack_hitl.requirements import ReasonPolicy
from slack_hitl_airflow.common_ai import const_value, tool_calls
from slack_hitl_airflow.errors import AnswerInvalid
from slack_hitl_airflow.hitl_detail import REJECT, HITLParam, HITLRequest
from slack_hitl_airflow.long_text import SLACK_TEXT_BOX, row_text
from slack_hitl_airflow.params import field_for_param, field_kind, param_value, schema_errors
from slack_hitl_airflow.users import UserMap

APPROVAL_OPERATOR = "ApprovalOperator"
ENTRY_OPERATOR = "HITLEntryOperator"
BRANCH_OPERATOR = "HITLBranchOperator"

REQUEST_METADATA = "airflow_request"
"""``Requirement.metadata`` key of the request the row was made from."""

_MAX_CHOICE_VALUE = 150
_MAX_LABEL = 75


@dataclass(frozen=True)
class MappingPolicy:
    """How requests become rows: reason policies, the hidden params, the user mapping."""

    approval_reason: ReasonPolicy = "required_on_reject"
    options_reason: ReasonPolicy = "optional"
    reviewer_params: tuple[str, ...] = ("reviewer", "slack_user", "approved_by")
    reason_params: tuple[str, ...] = ("reason", "rationale", "justification")
    users: UserMap = field(default_factory=UserMap)
    forbid_requester: bool = False
    """Four-eyes: the Slack user of whoever triggered the DAG run (through ``users``) may not decide its rows."""


@dataclass(frozen=True)
class Answer:
    """What is PATCHed to Airflow for one request."""

    chosen_options: list[str]
    params_input: dict[str, Any]


def _takes_text(param: HITLParam) -> bool:
    return field_kind(param.json_schema) in ("text", "long_text") or not param.json_schema.get("type")


def hidden_param(request: HITLRequest, names: tuple[str, ...]) -> str | None:
    """The first declared param among ``names`` that takes text: the bridge fills it in."""
    return next((name for name in names if name in request.params and _takes_text(request.params[name])), None)


def _is_entry(request: HITLRequest, visible: list[str]) -> bool:
    return request.operator == ENTRY_OPERATOR and len(request.options) == 1 and bool(visible)


def _is_approval(request: HITLRequest) -> bool:
    return request.operator == APPROVAL_OPERATOR or request.approval_shaped


def _too_long_to_edit(param: HITLParam) -> bool:
    return isinstance(param.value, str) and len(param.value) > SLACK_TEXT_BOX and _takes_text(param)


def _kept_params(request: HITLRequest) -> list[str]:
    """Params answered as Airflow holds them, never shown as fields: const ones, and texts too long to edit."""
    return [name for name, p in request.params.items() if const_value(p)[0] or _too_long_to_edit(p)]


def choice_values(request: HITLRequest) -> list[str]:
    """One button value per option, in order; an option too long for a button value gets a short one."""
    return [opt if 0 < len(opt) <= _MAX_CHOICE_VALUE else f"option-{i}" for i, opt in enumerate(request.options)]


def _label(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _choices(request: HITLRequest) -> tuple[Choice, ...]:
    approval = _is_approval(request)
    return tuple(
        Choice(value=value, label=_label(option), rejects=approval and option == REJECT)
        for value, option in zip(choice_values(request), request.options, strict=True)
    )


def _reason_policy(request: HITLRequest, policy: MappingPolicy) -> ReasonPolicy:
    reason_param = hidden_param(request, policy.reason_params)
    if reason_param and schema_errors("", request.params[reason_param].json_schema):
        return "always"  # the DAG refuses an empty reason
    return policy.approval_reason if _is_approval(request) else policy.options_reason


def _body(request: HITLRequest) -> str:
    """The body as the row shows it: an agent's tool calls become the row's arguments instead."""
    body = (request.body or "").strip()
    calls = tool_calls(request)
    if calls:
        return f"The agent waits for approval to run {', '.join(f'`{name}`' for name in calls)}."
    return body


def _description(request: HITLRequest, entry: bool, kept: list[str]) -> str:
    """The body (Markdown, which the Slack layer renders), cut where the thread takes over, and a line of context."""
    ti = request.task_instance
    context = [f"task `{ti.label}`"]
    if request.defaults and not entry:
        context.append("on timeout Airflow picks " + ", ".join(f"`{d}`" for d in request.defaults))
    if request.assigned_users:
        context.append("assigned in Airflow to " + ", ".join(u.name for u in request.assigned_users))
    long_ones = [name for name in kept if _too_long_to_edit(request.params[name])]
    if long_ones:
        names = ", ".join(f"`{name}`" for name in long_ones)
        context.append(f"{names} is too long to edit in Slack (edit it in Airflow, or answer it as it is)")
    line = "_" + " · ".join(context) + "_"
    body = row_text(_body(request)).shown
    return f"{body}\n{line}" if body else line


def thread_note(requirement: Requirement) -> str | None:
    """The whole body of a row that shows only its start (posted in the approval's thread), else None."""
    if REQUEST_METADATA not in requirement.metadata:
        return None
    request = request_of(requirement)
    pieces = []
    whole = row_text(_body(request)).whole
    if whole:
        pieces.append(whole)
    for name in _kept_params(request):
        param = request.params[name]
        if _too_long_to_edit(param):
            pieces.append(f"*{name}*, as Airflow holds it:\n\n{param.value}")
    if not pieces:
        return None
    return f"*{requirement.title}*, in full:\n\n" + "\n\n".join(pieces)


def requirement_for(request: HITLRequest, policy: MappingPolicy | None = None) -> Requirement:
    """The row for one request; its id is unique per task instance try."""
    policy = policy or MappingPolicy()
    kept = _kept_params(request)
    hidden = {hidden_param(request, policy.reviewer_params), hidden_param(request, policy.reason_params), *kept}
    visible = [name for name in request.params if name not in hidden]
    fields = tuple(field_for_param(name, request.params[name]) for name in visible)
    entry = _is_entry(request, visible)
    kind = classify({"requires_user_input": entry, "requires_confirmation": not entry})
    values_default = {f.name: f.default for f in fields if f.default is not None}
    default: dict[str, Any] | None = None
    if entry:
        default = {"values": values_default}
    elif request.defaults:
        by_option = dict(zip(request.options, choice_values(request), strict=True))
        default = {"choices": [by_option[d] for d in request.defaults if d in by_option], "values": values_default}
    return Requirement(
        id=request.request_id,
        kind=kind,
        title=request.subject.strip() or request.task_instance.label,
        description=_description(request, entry, kept),
        arguments=tool_calls(request) or {},
        deciders=policy.users.deciders(request.assigned_users).model_copy(
            update={"not_requester": policy.forbid_requester}
        ),
        confirmation=None
        if entry
        else Confirmation(choices=_choices(request), multiple=request.multiple, reason=_reason_policy(request, policy)),
        fields=fields,
        default=default,
        metadata={
            REQUEST_METADATA: request.model_dump(mode="json", by_alias=True),
            "reviewer_param": hidden_param(request, policy.reviewer_params),
            "reason_param": hidden_param(request, policy.reason_params),
        },
    )


def request_of(requirement: Requirement) -> HITLRequest:
    """The request a row was made from (as it was when the row was opened)."""
    return HITLRequest.model_validate(requirement.metadata[REQUEST_METADATA])


def _text_for(param: HITLParam, text: str | None) -> str | None:
    """``text`` for a text param; an empty text becomes null where the schema prefers that."""
    if text:
        return text
    return None if schema_errors("", param.json_schema) and not schema_errors(None, param.json_schema) else ""


def answer_for(
    requirement: Requirement,
    decision: Decision,
    *,
    slack_user: str | None = None,
    slack_user_name: str | None = None,
    request: HITLRequest | None = None,
) -> Answer:
    """The answer a decision gives. Raises ``AnswerInvalid`` (field: problem) for a value no param takes."""
    request = request or request_of(requirement)
    if requirement.kind == "confirmation":
        by_value = dict(zip(choice_values(request), request.options, strict=True))
        chosen = [by_value[value] for value in decision.choices]
    else:
        chosen = list(request.defaults or request.options[:1])
    reviewer = requirement.metadata.get("reviewer_param")
    reason = requirement.metadata.get("reason_param")
    fields = {f.name: f for f in requirement.fields}
    params: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, param in request.params.items():
        if name == reviewer:
            who = (
                f"{slack_user_name} ({slack_user})" if slack_user_name and slack_user else slack_user or slack_user_name
            )
            params[name] = _text_for(param, who)
        elif name == reason:
            params[name] = _text_for(param, decision.reason)
        elif name in fields:
            try:
                params[name] = param_value(param, fields[name], decision.values.get(name))
            except ValueError as problem:
                problems[name] = str(problem)
        else:
            fixed, value = const_value(param)
            params[name] = value if fixed else param.value
    if problems:
        raise AnswerInvalid(problems)
    return Answer(chosen_options=chosen, params_input=params)


def _field_text(param: HITLParam, value: Any) -> Any:
    """A param's JSON value as the modal field shows it (the inverse of ``param_value``)."""
    kind = field_kind(param.json_schema)
    if value is None:
        return None
    if kind == "choice":
        return str(value)
    if kind == "choices":
        return [str(v) for v in value] if isinstance(value, list) else value
    if kind == "json":
        return json.dumps(value)
    return value


def decision_input_for(requirement: Requirement, request: HITLRequest) -> DecisionInput:
    """What an answer given in Airflow means as a row decision (to show who answered what)."""
    by_option = dict(zip(request.options, choice_values(request), strict=True))
    chosen = tuple(by_option.get(option, option) for option in request.chosen_options or ())
    fields = {f.name for f in requirement.fields}
    values = {
        name: _field_text(request.params[name], value)
        for name, value in request.params_input.items()
        if name in fields and name in request.params
    }
    reason_param = requirement.metadata.get("reason_param")
    reason = request.params_input.get(reason_param) if reason_param else None
    return DecisionInput(
        choices=chosen if requirement.kind == "confirmation" else (),
        values=values,
        reason=reason if isinstance(reason, str) else None,
    )
