"""Turn the run's interruptions (``ToolApprovalItem``s) into rows, one per tool call id."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agents import FunctionTool, ToolApprovalItem
from pydantic import ValidationError

from slack_hitl import Confirmation, Deciders, PauseNotUsable, Question, Requirement, classify
from slack_hitl_openai_agents.human_tools import HumanAnswerSpec, HumanTool


def requirements_for(
    interruptions: Iterable[ToolApprovalItem], *, confirmation: Confirmation, deciders: Deciders
) -> list[Requirement]:
    """One row per interruption, its id the tool call id the run state will be answered by."""
    return [_requirement(item, confirmation, deciders) for item in interruptions]


def _requirement(item: ToolApprovalItem, confirmation: Confirmation, deciders: Deciders) -> Requirement:
    call_id = item.call_id
    tool_name = item.qualified_name or item.name
    if not call_id or not tool_name:
        raise PauseNotUsable(f"interruption {item.raw_item!r} has no call id or tool name to answer it by")
    arguments = _arguments(item)
    tool = _find_tool(item)
    human = tool.human if isinstance(tool, HumanTool) else None
    questions = _questions(tool_name, arguments) if human is not None and human.kind == "user_feedback" else ()
    kind = classify(_pause_flags(human, questions))
    description = (tool.description if tool is not None else "") or ""
    title = tool_name
    if kind == "user_input":
        title, description = description or tool_name, str(arguments.get("message", ""))
    elif kind == "user_feedback":
        title, description = f"{'Questions' if len(questions) > 1 else 'Question'} from {_agent_name(item)}", ""
    try:
        return Requirement(
            id=call_id,
            kind=kind,
            title=title,
            description=description,
            arguments={} if kind in ("user_input", "user_feedback") else arguments,
            deciders=deciders,
            confirmation=confirmation if kind == "confirmation" else None,
            fields=human.fields if human is not None else (),
            questions=questions,
            result_format=human.result_format if human is not None else "text",
            metadata={"call_id": call_id, "tool_name": tool_name, "agent": _agent_name(item)},
        )
    except ValidationError as problem:
        raise PauseNotUsable(f"tool call {call_id} ({tool_name}) cannot become a row: {problem}") from None


def _pause_flags(human: HumanAnswerSpec | None, questions: tuple[Question, ...]) -> dict[str, Any]:
    """What the classifier reads: a plain interruption is a ``needs_approval`` call; a human
    tool says instead what the person supplies."""
    if human is None:
        return {"needs_approval": True}
    if human.kind == "user_input":
        return {"user_input_fields": human.fields}
    if human.kind == "user_feedback":
        return {"questions": questions}
    if human.kind == "external_execution":
        return {"external_execution": True}
    return {"kind": human.kind}


def _arguments(item: ToolApprovalItem) -> dict[str, Any]:
    raw = item.arguments
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return {"input": raw}
    return parsed if isinstance(parsed, dict) else {"input": parsed}


def _agent_name(item: ToolApprovalItem) -> str:
    return getattr(item.agent, "name", None) or "The agent"


def _find_tool(item: ToolApprovalItem) -> FunctionTool | None:
    """The agent's function tool this call is for, when the agent lists it."""
    for tool in getattr(item.agent, "tools", None) or ():
        if isinstance(tool, FunctionTool) and item.tool_name in (tool.name, tool.qualified_name):
            return tool
    return None


def _questions(tool_name: str, arguments: dict[str, Any]) -> tuple[Question, ...]:
    """The questions the model put in an ask-user call, named q1, q2... in the order asked."""
    asked = arguments.get("questions")
    if not isinstance(asked, list) or not asked:
        raise PauseNotUsable(f"{tool_name} was called without questions: {arguments!r}")
    questions = []
    for number, entry in enumerate(asked, start=1):
        if not isinstance(entry, dict) or not str(entry.get("question", "")).strip():
            raise PauseNotUsable(f"{tool_name} question {number} has no text: {entry!r}")
        options = tuple(dict.fromkeys(str(option) for option in entry.get("options") or ()))
        questions.append(
            Question(
                name=f"q{number}",
                question=str(entry["question"]),
                options=options,
                multiple=bool(entry.get("multiple")) and bool(options),
                allow_free_text=bool(entry.get("allow_free_text")) or not options,
            )
        )
    return tuple(questions)
