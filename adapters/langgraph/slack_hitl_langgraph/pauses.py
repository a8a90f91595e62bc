"""Turn a paused graph's interrupts into requirements (rows), one kind each.

Three shapes of interrupt are understood:

* ``HumanInTheLoopMiddleware`` in ``batched`` mode: one interrupt whose value holds
  ``action_requests`` and ``review_configs``; one row per action request.
* ``HumanInTheLoopMiddleware`` in ``per_call`` mode: one interrupt per tool call, whose value
  has ``type == "tool_approval"`` and whose ``response_schema`` lists the allowed decisions.
* any other ``interrupt(value, response_schema=...)``: one row, whose kind the core
  classifier reads from the value's flags (``kind``, ``questions``, ``fields``,
  ``external_execution``, ``requires_confirmation``...) or, failing those, from a
  ``response_schema`` (typed fields to fill in).

A middleware row's kind follows the decisions its tool allows: approve or reject ->
confirmation (when edit is allowed too, its modal holds the arguments, pre-filled: approving
with changed values is an edit); edit alone -> user_input (the arguments, editable); respond
alone -> user_feedback when the call carries a ``question`` (an ask-the-user tool), else
external_execution (the person supplies the tool's result). A tool that allows approve or
reject and respond is offered approve / reject only: one row has one kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.types import Interrupt, StateSnapshot
from pydantic import ValidationError

from slack_hitl import APPROVE, REJECT, Choice, Confirmation, Deciders, InputField, Question, Requirement, classify
from slack_hitl.errors import ClassificationError, PauseNotUsable
from slack_hitl_langgraph.fields import fields_from_arguments, fields_from_schema, resolve_ref

# Row metadata keys: what the resume needs to answer the row's interrupt.
INTERRUPT_ID = "interrupt_id"
SOURCE = "source"
PLAIN, BATCHED, PER_CALL = "interrupt", "hitl_batched", "hitl_per_call"
INDEX = "index"
COUNT = "count"
TOOL = "tool"
ARGS = "args"
TOOL_CALL_ID = "tool_call_id"
ALLOWED = "allowed_decisions"
JSON_FIELDS = "json_fields"
FEEDBACK_QUESTION = "answer"

DECISION_TYPES = ("approve", "edit", "reject", "respond")


def requirements_from_interrupts(
    interrupts: Sequence[Interrupt], state: StateSnapshot | None, deciders: Deciders | None = None
) -> list[Requirement]:
    """One row per decision the interrupts ask for, with ids that are unique in the approval."""
    nodes = _node_of_interrupts(state)
    rows: list[Requirement] = []
    for pending in interrupts:
        rows.extend(_rows_of(pending, nodes.get(pending.id), state))
    rows = _with_unique_ids(rows)
    if deciders is not None:
        rows = [r if not r.deciders.anyone else r.model_copy(update={"deciders": deciders}) for r in rows]
    return rows


def _rows_of(pending: Interrupt, node: str | None, state: StateSnapshot | None) -> list[Requirement]:
    value = pending.value
    try:
        if isinstance(value, Mapping) and "action_requests" in value and "review_configs" in value:
            return _batched_rows(pending, _last_tool_calls(state))
        if isinstance(value, Mapping) and value.get("type") == "tool_approval" and "tool_call_id" in value:
            return [_per_call_row(pending)]
        return [_plain_row(pending, node)]
    except ClassificationError as problem:
        raise ClassificationError(f"interrupt {pending.id}{_from(node)}: {problem}") from problem
    except (ValidationError, ValueError, TypeError) as problem:
        raise PauseNotUsable(f"interrupt {pending.id}{_from(node)} cannot become a row: {problem}") from problem


def _from(node: str | None) -> str:
    return f" from node {node!r}" if node else ""


# -- HumanInTheLoopMiddleware -------------------------------------------------------------


def _batched_rows(pending: Interrupt, tool_calls: list[Mapping[str, Any]]) -> list[Requirement]:
    actions = list(pending.value["action_requests"])
    configs = list(pending.value["review_configs"])
    if len(actions) != len(configs):
        raise ValueError(f"{len(actions)} action requests but {len(configs)} review configs")
    call_ids = _match_tool_calls(actions, tool_calls)
    rows = []
    for index, (action, review) in enumerate(zip(actions, configs, strict=True)):
        meta = {SOURCE: BATCHED, INDEX: index, COUNT: len(actions), TOOL_CALL_ID: call_ids[index]}
        row_id = call_ids[index] or f"{pending.id}:{index}"
        rows.append(_tool_row(row_id, pending.id, action, list(review["allowed_decisions"]), None, meta))
    return rows


def _per_call_row(pending: Interrupt) -> Requirement:
    value = pending.value
    schema = pending.response_schema if isinstance(pending.response_schema, Mapping) else {}
    allowed = _allowed_decisions(schema)
    meta = {SOURCE: PER_CALL, TOOL_CALL_ID: value["tool_call_id"]}
    return _tool_row(value["tool_call_id"] or pending.id, pending.id, value, allowed, _edit_args_schema(schema), meta)


def _tool_row(
    row_id: str,
    interrupt_id: str,
    action: Mapping[str, Any],
    allowed: list[str],
    args_schema: Mapping[str, Any] | None,
    meta: dict[str, Any],
) -> Requirement:
    name = str(action["name"])
    args = dict(action.get("args") or {})
    unknown = [d for d in allowed if d not in DECISION_TYPES]
    if not allowed or unknown:
        raise ValueError(f"tool {name!r} allows decisions {allowed}; expected some of {', '.join(DECISION_TYPES)}")
    metadata = {**meta, INTERRUPT_ID: interrupt_id, TOOL: name, ARGS: args, ALLOWED: allowed}
    description = _without_argument_dump(str(action.get("description") or ""), name, args)
    common: dict[str, Any] = {"id": row_id, "description": description, "arguments": args}
    # The classifier decides the kind from flags derived from what the tool allows.
    flags: dict[str, Any] = {}
    question = args.get("question")
    editable: tuple[InputField, ...] = ()
    if "edit" in allowed:
        editable, metadata[JSON_FIELDS] = _editable_fields(args, args_schema)
    if "approve" in allowed or "reject" in allowed:
        flags["requires_confirmation"] = True
        editable, metadata[JSON_FIELDS] = _optional_fields(editable, metadata.get(JSON_FIELDS, []))
    elif "edit" in allowed:
        if not editable:
            raise ValueError(f"tool {name!r} allows only edit, but its call has no arguments to edit")
        flags["user_input_fields"] = editable
    elif isinstance(question, str) and question.strip():
        flags["questions"] = (_ask_user_question(question, args.get("options")),)
    else:
        flags["external_execution"] = True
    kind = classify(flags)
    if kind == "confirmation":
        choices = tuple(c for c, d in ((APPROVE, "approve"), (REJECT, "reject")) if d in allowed)
        # The model reads why a call was rejected; without a reason it can only guess and retry.
        confirmation = Confirmation(choices=choices, reason="required_on_reject")
        return Requirement(
            kind=kind, title=f"Run {name}", confirmation=confirmation, fields=editable, metadata=metadata, **common
        )
    if kind == "user_input":
        return Requirement(kind=kind, title=f"Edit {name}", fields=editable, metadata=metadata, **common)
    if kind == "user_feedback":
        return Requirement(kind=kind, title=question, questions=flags["questions"], metadata=metadata, **common)
    return Requirement(kind=kind, title=f"Result of {name}", metadata=metadata, **common)


def _without_argument_dump(description: str, name: str, args: dict[str, Any]) -> str:
    """The middleware's default description ends with the tool and its arguments; the row shows those already."""
    dump = f"\n\nTool: {name}\nArgs: {args}"
    return description.removesuffix(dump)


def _editable_fields(
    args: dict[str, Any], args_schema: Mapping[str, Any] | None
) -> tuple[tuple[InputField, ...], list[str]]:
    """The call's arguments as fields pre-filled with the model's values, typed by the tool's schema if known."""
    if args_schema:
        fields, json_fields = fields_from_schema(args_schema, current=args)
        if fields:
            return fields, json_fields
    return fields_from_arguments(args)


def _optional_fields(
    fields: tuple[InputField, ...], json_fields: list[str]
) -> tuple[tuple[InputField, ...], list[str]]:
    """Editable arguments of a confirmation: approving without them keeps the model's call as it is.

    A checkbox cannot be left unanswered, so a boolean becomes a true / false choice, parsed as JSON.
    """
    relaxed = []
    parsed = list(json_fields)
    for field in fields:
        if field.type == "boolean":
            default = None if field.default is None else json.dumps(bool(field.default))
            field = field.model_copy(update={"type": "single_choice", "choices": ("true", "false"), "default": default})
            parsed.append(field.name)
        relaxed.append(field.model_copy(update={"required": False}))
    return tuple(relaxed), parsed


def _ask_user_question(question: str, options: Any) -> Question:
    choices = tuple(str(o) for o in options) if isinstance(options, list | tuple) else ()
    return Question(name=FEEDBACK_QUESTION, question=question, options=choices, allow_free_text=True)


def _allowed_decisions(schema: Mapping[str, Any]) -> list[str]:
    """The decision types a per-call ``response_schema`` accepts (one branch per type)."""
    branches = schema.get("oneOf") or schema.get("anyOf") or [schema]
    allowed = []
    for branch in branches:
        resolved = resolve_ref(schema, branch)
        const = ((resolved.get("properties") or {}).get("type") or {}).get("const")
        if const in DECISION_TYPES:
            allowed.append(const)
    if not allowed:
        raise ValueError("the interrupt's response_schema names no decision type")
    return allowed


def _edit_args_schema(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The tool's argument schema inside the edit branch, with the ``$defs`` it refers to."""
    for branch in schema.get("oneOf") or schema.get("anyOf") or [schema]:
        resolved = resolve_ref(schema, branch)
        props = resolved.get("properties") or {}
        if (props.get("type") or {}).get("const") != "edit":
            continue
        action = resolve_ref(schema, props.get("edited_action") or {})
        args = (action.get("properties") or {}).get("args") or {}
        return {"$defs": schema.get("$defs", {}), **args}
    return None


def _last_tool_calls(state: StateSnapshot | None) -> list[Mapping[str, Any]]:
    """The tool calls of the last AI message in the graph's ``messages``, if it has any."""
    values = state.values if state is not None else None
    messages = values.get("messages") if isinstance(values, Mapping) else None
    for message in reversed(messages or []):
        if getattr(message, "type", None) == "ai":
            return list(getattr(message, "tool_calls", None) or [])
    return []


def _match_tool_calls(actions: list[Mapping[str, Any]], tool_calls: list[Mapping[str, Any]]) -> list[str | None]:
    """The tool call id of each action request, matched in order by name and arguments.

    Batched requests carry no tool call id; the middleware lists the gated calls of the last AI
    message in order, so the n-th request is the n-th matching call.
    """
    ids: list[str | None] = []
    start = 0
    for action in actions:
        found = None
        for position in range(start, len(tool_calls)):
            call = tool_calls[position]
            if call.get("name") == action.get("name") and call.get("args") == action.get("args"):
                found, start = call.get("id"), position + 1
                break
        ids.append(found or None)
    return ids


# -- any other interrupt ------------------------------------------------------------------


def _plain_row(pending: Interrupt, node: str | None) -> Requirement:
    value = pending.value
    spec: dict[str, Any] = dict(value) if isinstance(value, Mapping) else {"title": str(value)}
    flags = dict(spec)
    schema = pending.response_schema if isinstance(pending.response_schema, Mapping) else None
    has_fields = spec.get("fields") or spec.get("user_input_fields")
    if schema and not has_fields:
        flags["user_input_schema"] = schema
    try:
        kind = classify(flags)
    except ClassificationError as problem:
        raise ClassificationError(
            f"{problem}. Mark the interrupt's value, e.g. interrupt({{'kind': 'confirmation', 'title': ...}}), "
            "or give it a response_schema for typed input"
        ) from problem
    fields: tuple[Any, ...] = tuple(has_fields or ())
    json_fields: list[str] = []
    if not fields and kind in ("user_input", "confirmation"):
        schema = schema or spec.get("user_input_schema")
        if isinstance(schema, Mapping):
            fields, json_fields = fields_from_schema(schema)
    arguments = spec.get("arguments", spec.get("args")) or {}
    if not isinstance(arguments, Mapping):
        raise TypeError(f"'arguments' must be a mapping, got {type(arguments).__name__}")
    return Requirement(
        id=pending.id,
        kind=kind,
        title=str(spec.get("title") or spec.get("question") or node or "Decision needed"),
        description=str(spec.get("description") or ""),
        arguments=dict(arguments),
        deciders=Deciders.model_validate(spec.get("deciders") or {}),
        confirmation=_confirmation(spec) if kind == "confirmation" else None,
        fields=fields,
        questions=tuple(spec.get("questions") or ()),
        result_format=spec.get("result_format", "text"),
        default=spec.get("default"),
        metadata={SOURCE: PLAIN, INTERRUPT_ID: pending.id, JSON_FIELDS: json_fields},
    )


def _confirmation(spec: Mapping[str, Any]) -> Confirmation:
    settings: dict[str, Any] = {}
    if "choices" in spec:
        settings["choices"] = tuple(
            Choice(value=c, label=c) if isinstance(c, str) else Choice.model_validate(c) for c in spec["choices"]
        )
    if "reason" in spec:
        settings["reason"] = spec["reason"]
    if "multiple" in spec:
        settings["multiple"] = bool(spec["multiple"])
    return Confirmation(**settings)


# -- ids ----------------------------------------------------------------------------------


def _node_of_interrupts(state: StateSnapshot | None) -> dict[str, str]:
    """Which node (task) raised each interrupt, for titles and error messages."""
    if state is None:
        return {}
    return {found.id: task.name for task in state.tasks for found in task.interrupts}


def _with_unique_ids(rows: list[Requirement]) -> list[Requirement]:
    """Tool call ids can repeat across parallel agents; fall back to the interrupt-based id then."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.id] = counts.get(row.id, 0) + 1
    unique = []
    for row in rows:
        if counts[row.id] > 1:
            meta = row.metadata
            fallback = f"{meta[INTERRUPT_ID]}:{meta.get(INDEX, 0)}"
            row = row.model_copy(update={"id": fallback})
        unique.append(row)
    return unique
