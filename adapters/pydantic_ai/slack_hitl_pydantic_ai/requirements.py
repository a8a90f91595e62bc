"""Turn Pydantic AI's ``DeferredToolRequests`` into slack_hitl requirements, one row per tool call.

Pure: no I/O. Each deferred call is classified through the core classifier from what Pydantic AI
says it waits for (``DeferredToolRequests.kind``): an approval needs confirmation, an external
call needs its result, a question needs the person's answers. The row id is the tool call id,
so decisions go back to the call they were made for, never by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic_ai import DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_core import to_jsonable_python

from slack_hitl import ClassificationError, Confirmation, Deciders, Question, Requirement, classify

DeferredKind = Literal["approval", "external", "question"]
ReasonPolicy = Literal["none", "optional", "required_on_reject", "always"]
AnswerShape = Literal["single", "by_name"]

ANYONE = Deciders()
"""Rows anyone who sees the message may decide."""

SINGLE_ANSWER = "answer"
"""The question name of a call that asks one question (``question=...`` in its arguments)."""

# What each Pydantic AI deferred kind means in the classifier's vocabulary of flags.
_FLAGS: dict[DeferredKind, str] = {
    "approval": "requires_confirmation",
    "external": "external_execution_required",
    "question": "requires_user_feedback",
}


def deferred_requirements(
    requests: DeferredToolRequests,
    *,
    deciders: Deciders = ANYONE,
    history: Sequence[ModelMessage] = (),
    reject_reason: ReasonPolicy = "required_on_reject",
) -> list[Requirement]:
    """One requirement per deferred tool call: in the order the model made the calls when the run's
    message ``history`` is given, else approvals first. ``reject_reason`` says when rejecting an
    approval asks for a reason (the model reads it).

    Raises ``ClassificationError`` when a question call carries no question it can show.
    """
    made = {call_id: index for index, call_id in enumerate(_tool_call_ids(history))}
    calls = sorted([*requests.approvals, *requests.calls], key=lambda call: made.get(call.tool_call_id, len(made)))
    confirmation = Confirmation(reason=reject_reason)
    return [_requirement(call, requests, deciders, confirmation) for call in calls]


def _tool_call_ids(history: Sequence[ModelMessage]) -> list[str]:
    return [
        part.tool_call_id
        for message in history
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
    ]


def _requirement(
    call: ToolCallPart, requests: DeferredToolRequests, deciders: Deciders, confirmation: Confirmation
) -> Requirement:
    deferred_kind: DeferredKind = requests.kind(call.tool_call_id)
    # Stored as JSON with the row; what JSON cannot hold is kept as its text.
    framework_metadata = to_jsonable_python(requests.metadata.get(call.tool_call_id) or {}, fallback=str)
    arguments = call.args_as_dict()
    flags: dict[str, Any] = {_FLAGS[deferred_kind]: True}
    questions: tuple[Question, ...] = ()
    shape: AnswerShape | None = None
    if deferred_kind == "question":
        questions, shape = _questions(call, arguments, framework_metadata)
        flags["questions"] = questions
    kind = classify(flags)
    metadata: dict[str, Any] = {
        "tool_call_id": call.tool_call_id,
        "tool_name": call.tool_name,
        "deferred_kind": deferred_kind,
        "framework_metadata": framework_metadata,
    }
    if shape is not None:
        metadata["answer_shape"] = shape
    return Requirement(
        id=call.tool_call_id,
        kind=kind,
        title=call.tool_name,
        description=str(framework_metadata.get("description", "")),
        arguments=arguments,
        deciders=deciders,
        confirmation=confirmation if kind == "confirmation" else None,
        questions=questions,
        result_format="json" if framework_metadata.get("result_format") == "json" else "text",
        metadata=metadata,
    )


def _questions(
    call: ToolCallPart, arguments: Mapping[str, Any], framework_metadata: Mapping[str, Any]
) -> tuple[tuple[Question, ...], AnswerShape]:
    """The questions a question call asks: from the tool's metadata if it gave them, else its arguments.

    Two shapes are understood: ``questions=[{header|name, question, options, multi_select}, ...]``
    (answered by name) and ``question=..., options=[...]`` (one answer).
    """
    source = (
        framework_metadata if ("questions" in framework_metadata or "question" in framework_metadata) else arguments
    )
    if isinstance(source.get("questions"), Sequence) and not isinstance(source.get("questions"), str):
        items = list(source["questions"])
        if not items:
            raise ClassificationError(f"question call {call.tool_call_id} ({call.tool_name}) asks no questions")
        return tuple(_question(item, index, call) for index, item in enumerate(items)), "by_name"
    if isinstance(source.get("question"), str):
        return (_question({**source, "name": SINGLE_ANSWER}, 0, call),), "single"
    raise ClassificationError(
        f"question call {call.tool_call_id} ({call.tool_name}) has no `question` or `questions` "
        "in its arguments or in the metadata of its CallDeferred"
    )


def _question(item: Any, index: int, call: ToolCallPart) -> Question:
    if isinstance(item, str):
        item = {"question": item}
    if not isinstance(item, Mapping) or not isinstance(item.get("question"), str):
        raise ClassificationError(f"question {index} of call {call.tool_call_id} ({call.tool_name}) has no text")
    options = tuple(_option_label(option) for option in item.get("options") or ())
    return Question(
        name=str(item.get("header") or item.get("name") or item.get("id") or f"question_{index + 1}"),
        question=item["question"],
        options=options,
        multiple=bool(item.get("multi_select") or item.get("multiSelect") or item.get("multiple")),
        allow_free_text=bool(item.get("allow_free_text") or not options),
    )


def _option_label(option: Any) -> str:
    if isinstance(option, Mapping):
        return str(option.get("label") or option.get("value"))
    return str(option)
