"""Tools a person answers in Slack: the three kinds the SDK has no native pause for.

The SDK pauses a run only to approve or reject a tool call (``needs_approval``). A tool made
here always needs approval, and is recognised by the adapter as a user_input, user_feedback or
external_execution row instead of a confirmation. When the person has answered, the adapter
approves the call and the tool returns the person's answer as its output, so the model reads
it like any other tool result, tied to the same call id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from agents import FunctionTool
from agents.function_schema import function_schema
from agents.tool_context import ToolContext

from slack_hitl import Decision, InputField, Kind, Requirement
from slack_hitl_openai_agents.errors import HumanAnswerMissing
from slack_hitl_openai_agents.resumed import resumed_call

ResultFormat = Literal["text", "json"]


@dataclass(frozen=True)
class HumanAnswerSpec:
    """What a person supplies for a human tool: its kind, and the fields of a user_input."""

    kind: Kind
    fields: tuple[InputField, ...] = ()
    result_format: ResultFormat = "text"


@dataclass
class HumanTool(FunctionTool):
    """A function tool whose output a person supplies through Slack; every call pauses the run."""

    human: HumanAnswerSpec = field(kw_only=True)


async def _answer_from_person(context: ToolContext[Any], _arguments: str) -> str:
    resumed = resumed_call(context)
    if resumed is None or resumed.answer is None:
        raise HumanAnswerMissing(
            f"tool {context.tool_name!r} (call {context.tool_call_id}) is answered by a person in Slack; "
            "resume the run through OpenAIAgentsAdapter.resume, not with RunState.approve"
        )
    return resumed.answer


_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"message": {"type": "string", "description": "Why you need this, shown to the person."}},
    "required": ["message"],
    "additionalProperties": False,
}

_QUESTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "description": "The questions to put to the person, in order.",
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "options": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Answers to pick from; empty for a free-text question.",
                    },
                    "multiple": {"type": "boolean", "description": "The person may pick several options."},
                    "allow_free_text": {"type": "boolean", "description": "The person may type an answer."},
                },
                "required": ["question", "options", "multiple", "allow_free_text"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["questions"],
    "additionalProperties": False,
}


def input_tool(name: str, description: str, fields: Sequence[InputField]) -> HumanTool:
    """A tool the model calls to have a person fill ``fields``; it returns their values as JSON."""
    if not fields:
        raise ValueError(f"input tool {name!r} needs at least one field")
    return HumanTool(
        name=name,
        description=description,
        params_json_schema=_MESSAGE_SCHEMA,
        on_invoke_tool=_answer_from_person,
        needs_approval=True,
        human=HumanAnswerSpec(kind="user_input", fields=tuple(fields)),
    )


def ask_user_tool(
    name: str = "ask_user",
    description: str = "Ask the person one or more questions, with options to pick from and/or free text.",
) -> HumanTool:
    """A tool the model calls with its own questions; it returns the person's answers as JSON."""
    return HumanTool(
        name=name,
        description=description,
        params_json_schema=_QUESTIONS_SCHEMA,
        on_invoke_tool=_answer_from_person,
        needs_approval=True,
        human=HumanAnswerSpec(kind="user_feedback"),
    )


@overload
def external_tool(func: Callable[..., Any], /) -> HumanTool: ...
@overload
def external_tool(*, result_format: ResultFormat = "text") -> Callable[[Callable[..., Any]], HumanTool]: ...
def external_tool(
    func: Callable[..., Any] | None = None, /, *, result_format: ResultFormat = "text"
) -> HumanTool | Callable[[Callable[..., Any]], HumanTool]:
    """Decorate a function stub (its name, typed parameters and docstring make the tool) whose
    result a person (or an outside system) supplies; the stub's body never runs."""
    if result_format not in ("text", "json"):
        raise ValueError(f"result_format must be 'text' or 'json', got {result_format!r}")

    def make(stub: Callable[..., Any]) -> HumanTool:
        schema = function_schema(stub)
        return HumanTool(
            name=schema.name,
            description=schema.description or "",
            params_json_schema=schema.params_json_schema,
            strict_json_schema=schema.strict_json_schema,
            on_invoke_tool=_answer_from_person,
            needs_approval=True,
            human=HumanAnswerSpec(kind="external_execution", result_format=result_format),
        )

    return make(func) if func is not None else make


def answer_text(requirement: Requirement, decision: Decision) -> str:
    """The tool output the model reads for a person's answer to a human tool's row."""
    if requirement.kind == "user_input":
        return json.dumps(decision.values, ensure_ascii=False)
    if requirement.kind == "user_feedback":
        asked = {q.name: q.question for q in requirement.questions}
        answers = [
            {"question": asked.get(name, name), "selected": answer["selected"], "text": answer["text"]}
            for name, answer in decision.values.items()
        ]
        return json.dumps(answers, ensure_ascii=False)
    if isinstance(decision.result, str):
        return decision.result
    return json.dumps(decision.result, ensure_ascii=False)
