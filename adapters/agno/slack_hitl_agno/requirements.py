"""Agno's paused requirements as slack_hitl rows: one ``Requirement`` per ``RunRequirement``.

Pure: reads Agno's objects, builds slack_hitl values, does no I/O. The kind comes from the
core classifier reading Agno's own ``pause_type``; the row id is Agno's requirement id, so a
decision is always matched to its requirement by id.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agno.run.requirement import RunRequirement
from agno.tools.function import UserFeedbackQuestion, UserInputField

from slack_hitl import Confirmation, InputField, PauseNotUsable, Question, Requirement, classify

ASK_USER_TOOL = "ask_user"
GET_USER_INPUT_TOOL = "get_user_input"

# Agno keeps a field's Python type; these are the ones a Slack modal can take as they are.
# Anything else (list, dict, unions) is typed as JSON text and parsed back on resume.
_FIELD_TYPES: dict[type, str] = {str: "text", int: "integer", float: "number", bool: "boolean"}
JSON_FIELD_TYPES = frozenset({"list", "dict"})


def row_for(run_requirement: RunRequirement, *, confirmation: Confirmation) -> Requirement:
    """The slack_hitl row that asks a person to resolve one Agno requirement."""
    tool = run_requirement.tool_execution
    if tool is None or not tool.tool_name:
        raise PauseNotUsable(f"Agno requirement {run_requirement.id} has no tool call to decide")
    kind = classify(run_requirement)
    metadata: dict[str, Any] = {"tool_call_id": tool.tool_call_id, "tool_name": tool.tool_name}
    common: dict[str, Any] = {"id": run_requirement.id, "kind": kind, "metadata": metadata}
    if run_requirement.member_agent_name:
        common["description"] = f"asked by {run_requirement.member_agent_name}"
    arguments = dict(tool.tool_args or {})

    if kind == "user_feedback":
        questions = questions_for(run_requirement.user_feedback_schema or [])
        metadata["questions"] = {q.name: q.question for q in questions}
        return Requirement(title=_feedback_title(run_requirement), questions=tuple(questions), **common)
    if kind == "user_input":
        fields, provided = fields_for(run_requirement.user_input_schema or [])
        metadata["field_types"] = {f.name: _type_name(f.field_type) for f in run_requirement.user_input_schema or []}
        title = "The agent needs some information" if tool.tool_name == GET_USER_INPUT_TOOL else tool.tool_name
        return Requirement(title=title, fields=tuple(fields), arguments=provided, **common)
    if kind == "external_execution":
        return Requirement(title=tool.tool_name, arguments=arguments, result_format="text", **common)
    return Requirement(title=tool.tool_name, arguments=arguments, confirmation=confirmation, **common)


def _feedback_title(run_requirement: RunRequirement) -> str:
    schema = run_requirement.user_feedback_schema or []
    if len(schema) == 1:
        return schema[0].question
    return f"The agent has {len(schema)} questions"


def questions_for(schema: list[UserFeedbackQuestion]) -> list[Question]:
    """One question per Agno question; named by its header when that is unique, else by position."""
    headers = [_slug(q.header or "") for q in schema]
    questions: list[Question] = []
    for position, (question, header) in enumerate(zip(schema, headers, strict=True), start=1):
        name = header if header and headers.count(header) == 1 else f"question_{position}"
        options = tuple(option.label for option in question.options or [])
        questions.append(
            Question(
                name=name,
                question=question.question,
                options=options,
                multiple=question.multi_select,
                # Agno answers a question with option labels; only an open question takes text.
                allow_free_text=not options,
            )
        )
    return questions


def fields_for(schema: list[UserInputField]) -> tuple[list[InputField], dict[str, Any]]:
    """The fields a person must fill, and the arguments the model already gave.

    Agno lists every parameter of a user-input tool; those with a value came from the model.
    When the model filled them all, every field is shown, prefilled, so the person can still act.
    """
    missing = [f for f in schema if f.value is None]
    provided = {f.name: f.value for f in schema if f.value is not None}
    shown = missing or schema
    return [_input_field(f) for f in shown], ({} if not missing else provided)


def _input_field(field: UserInputField) -> InputField:
    type_name = _type_name(field.field_type)
    field_type = _FIELD_TYPES.get(field.field_type, "long_text" if type_name in JSON_FIELD_TYPES else "text")
    description = field.description or ""
    if type_name in JSON_FIELD_TYPES:
        description = f"{description} (JSON {type_name})".strip()
    default = field.value
    if default is not None and type_name in JSON_FIELD_TYPES:
        default = json.dumps(default)
    return InputField(
        name=field.name,
        type=field_type,  # type: ignore[arg-type]
        label=field.name.replace("_", " "),
        description=description,
        required=field_type != "boolean",
        default=default,
    )


def _type_name(field_type: Any) -> str:
    return field_type.__name__ if isinstance(field_type, type) else str(field_type)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:100]
