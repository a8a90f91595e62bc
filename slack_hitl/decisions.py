"""Check what a person submitted for a row against the row's requirement.

``validate_decision`` either returns a complete, normalised ``Decision`` or raises
``DecisionInvalid`` with one message per offending field: there is never a partial decision.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slack_hitl.errors import DecisionInvalid
from slack_hitl.requirements import InputField, Question, Requirement

Outcome = Literal["approved", "rejected", "answered"]

REASON = "reason"
CHOICE = "choice"
RESULT = "result"


class DecisionInput(BaseModel):
    """What a person submitted for one row, before validation.

    ``choices`` for a confirmation (one unless the row allows several), ``values`` for input
    fields and feedback questions (keyed by field or question name), ``result`` for an
    external execution, and an optional ``reason``.
    """

    model_config = ConfigDict(extra="forbid")

    choices: tuple[str, ...] = ()
    values: dict[str, Any] = Field(default_factory=dict)
    result: str | None = None
    reason: str | None = None


class Decision(BaseModel):
    """A validated decision: what the row's outcome is and with which normalised values."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    choices: tuple[str, ...] = ()
    values: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    reason: str | None = None


def validate_decision(requirement: Requirement, submitted: DecisionInput) -> Decision:
    """The decision ``submitted`` makes for ``requirement``, or ``DecisionInvalid``."""
    errors: dict[str, str] = {}
    reason = (submitted.reason or "").strip() or None
    choices: tuple[str, ...] = ()
    values: dict[str, Any] = {}
    result: Any = None
    outcome: Outcome = "answered"

    if requirement.kind == "confirmation":
        choices, rejects = _check_choices(requirement, submitted.choices, errors)
        confirmation = requirement.confirmation
        assert confirmation is not None  # a confirmation row always has its settings
        asking = [c for c in map(confirmation.choice, choices) if c is not None and c.asks]
        outcome = "rejected" if rejects else "answered" if asking else "approved"
        policy = requirement.reason_policy
        if reason is None and asking:
            errors[REASON] = f"an answer is required: {asking[0].asks}"
        elif reason is None and (policy == "always" or (policy == "required_on_reject" and rejects)):
            errors[REASON] = "a reason is required" + (" to reject" if policy != "always" else "")
        if policy == "none" and not asking:
            reason = None
        if not rejects:
            values = _check_fields(requirement.fields, submitted.values, errors)
    elif requirement.kind == "user_input":
        values = _check_fields(requirement.fields, submitted.values, errors)
    elif requirement.kind == "user_feedback":
        values = _check_questions(requirement.questions, submitted.values, errors)
    else:
        result = _check_result(requirement, submitted.result, errors)

    if errors:
        raise DecisionInvalid(errors)
    return Decision(outcome=outcome, choices=choices, values=values, result=result, reason=reason)


def _check_choices(
    requirement: Requirement, submitted: tuple[str, ...], errors: dict[str, str]
) -> tuple[tuple[str, ...], bool]:
    confirmation = requirement.confirmation
    assert confirmation is not None  # a confirmation row always has its settings
    chosen = tuple(dict.fromkeys(submitted))  # keeps order, drops repeats
    unknown = [value for value in chosen if confirmation.choice(value) is None]
    if unknown:
        allowed = ", ".join(c.value for c in confirmation.choices)
        errors[CHOICE] = f"unknown choice {unknown[0]!r}; choose from {allowed}"
        return (), False
    if not chosen:
        errors[CHOICE] = "choose an option"
    elif len(chosen) > 1 and not confirmation.multiple:
        errors[CHOICE] = "choose exactly one option"
    rejects = any(confirmation.choice(value).rejects for value in chosen)  # type: ignore[union-attr]
    return chosen, rejects


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _check_fields(fields: tuple[InputField, ...], submitted: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    known = {f.name for f in fields}
    for name in submitted:
        if name not in known:
            errors[name] = "unknown field"
    values: dict[str, Any] = {}
    for field in fields:
        raw = submitted.get(field.name)
        if _is_empty(raw):
            if field.required and field.type != "boolean":
                errors[field.name] = "this field is required"
            values[field.name] = False if field.type == "boolean" else None
            continue
        try:
            values[field.name] = _coerce_field(field, raw)
        except ValueError as problem:
            errors[field.name] = str(problem)
    return values


def _coerce_field(field: InputField, raw: Any) -> Any:
    match field.type:
        case "text" | "long_text":
            text = str(raw)
            if field.max_length is not None and len(text) > field.max_length:
                raise ValueError(f"at most {field.max_length} characters (got {len(text)})")
            return text
        case "number" | "integer":
            return _check_bounds(field, _to_number(raw, integer=field.type == "integer"))
        case "boolean":
            return _to_bool(raw)
        case "single_choice":
            value = _one(raw)
            if value not in field.choices:
                raise ValueError(f"{value!r} is not one of {', '.join(field.choices)}")
            return value
        case "multiple_choice":
            picked = [raw] if isinstance(raw, str) else list(raw)
            bad = [v for v in picked if v not in field.choices]
            if bad:
                raise ValueError(f"{bad[0]!r} is not one of {', '.join(field.choices)}")
            return picked
        case "date":
            try:
                return dt.date.fromisoformat(str(raw)).isoformat()
            except ValueError:
                raise ValueError(f"{raw!r} is not a date (YYYY-MM-DD)") from None
    raise AssertionError(f"unhandled field type {field.type}")  # pragma: no cover


def _to_number(raw: Any, *, integer: bool) -> float | int:
    if isinstance(raw, bool):
        raise ValueError("a number is required")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{raw!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError("the number must be finite")
    if integer:
        if not number.is_integer():
            raise ValueError(f"{raw!r} is not a whole number")
        return int(number)
    return number


def _check_bounds(field: InputField, number: float | int) -> float | int:
    if field.min_value is not None and number < field.min_value:
        raise ValueError(f"must be at least {field.min_value:g}")
    if field.max_value is not None and number > field.max_value:
        raise ValueError(f"must be at most {field.max_value:g}")
    return number


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(_one(raw)).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


def _one(raw: Any) -> Any:
    if isinstance(raw, list | tuple):
        if len(raw) != 1:
            raise ValueError("choose exactly one option")
        return raw[0]
    return raw


def _check_questions(
    questions: tuple[Question, ...], submitted: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    """Answers keyed by question name: ``{"selected": [...], "text": "..."}`` each."""
    known = {q.name for q in questions}
    for name in submitted:
        if name not in known:
            errors[name] = "unknown question"
    answers: dict[str, Any] = {}
    for question in questions:
        raw = submitted.get(question.name)
        selected, text = _split_answer(question, raw)
        if text and not question.allow_free_text:
            errors[question.name] = "this question takes no free text"
            continue
        bad = [s for s in selected if s not in question.options]
        if bad:
            errors[question.name] = f"{bad[0]!r} is not one of {', '.join(question.options)}"
            continue
        if len(selected) > 1 and not question.multiple:
            errors[question.name] = "choose one option"
            continue
        if question.required and not selected and not text:
            errors[question.name] = "an answer is required"
            continue
        answers[question.name] = {"selected": selected, "text": text}
    return answers


def _split_answer(question: Question, raw: Any) -> tuple[list[str], str | None]:
    """An answer as (selected options, free text); accepts a string, a list, or the dict form."""
    if _is_empty(raw):
        return [], None
    if isinstance(raw, str) and raw not in question.options and question.allow_free_text:
        return [], raw.strip() or None
    if isinstance(raw, dict):
        selected = raw.get("selected") or []
        text = (raw.get("text") or "").strip() or None
        return ([selected] if isinstance(selected, str) else list(selected)), text
    if isinstance(raw, list | tuple):
        return [str(v) for v in raw], None
    return [str(raw)], None


def _check_result(requirement: Requirement, raw: str | None, errors: dict[str, str]) -> Any:
    if raw is None or not raw.strip():
        errors[RESULT] = "a result is required"
        return None
    if requirement.result_format == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as problem:
            errors[RESULT] = f"not valid JSON: {problem.msg} (line {problem.lineno}, column {problem.colno})"
            return None
    return raw
