"""Airflow params (JSON schema) as typed modal fields, and the modal's values back as params.

Each param becomes the ``InputField`` that refuses most bad values in the modal itself (type,
enum, bounds, length). A field left empty takes the param's default. What a field cannot
express (patterns, formats, objects) is checked against the full schema by ``check_params``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from jsonschema import FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from slack_hitl import InputField
from slack_hitl_airflow.hitl_detail import HITLParam

_LONG_TEXT_OVER = 150
_SLACK_MAX_LENGTH = 3000


def schema_types(schema: dict[str, Any]) -> tuple[list[str], bool]:
    """The param's non-null types and whether null is allowed."""
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    return [t for t in types if t != "null"], "null" in types or not types


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Why ``value`` does not satisfy ``schema`` (empty: it does), checked as Airflow checks params."""
    try:
        cls = validator_for(schema)
        cls.check_schema(schema)
    except SchemaError as problem:
        return [f"the DAG's schema is invalid: {problem.message}"]
    validator = cls(schema, format_checker=FormatChecker())
    return [error.message for error in validator.iter_errors(value)]


def empty_value(param: HITLParam) -> Any:
    """What an empty field means: the param's default."""
    return param.value


def _enum_labels(enum: list[Any]) -> tuple[str, ...]:
    return tuple(str(member) for member in enum if member is not None)


FieldKind = Literal["choice", "choices", "integer", "number", "boolean", "date", "text", "long_text", "json"]


def field_kind(schema: dict[str, Any]) -> FieldKind:
    """Which modal field a param's schema becomes."""
    types, _ = schema_types(schema)
    base = types[0] if len(types) == 1 else None
    if schema.get("enum") and base != "array":
        return "choice"
    if base == "array" and (schema.get("items") or {}).get("enum"):
        return "choices"
    if base == "integer":
        return "integer"
    if base == "number":
        return "number"
    if base == "boolean":
        return "boolean"
    if base == "string" and schema.get("format") == "date":
        return "date"
    if base == "string":
        long = schema.get("format") == "multiline" or (schema.get("maxLength") or 0) > _LONG_TEXT_OVER
        return "long_text" if long else "text"
    # Objects, free-form arrays, several types: typed as JSON text, checked against the schema.
    return "json"


def field_for_param(name: str, param: HITLParam) -> InputField:
    """The modal field for one param."""
    schema = param.json_schema
    kind = field_kind(schema)
    description = param.description or schema.get("description") or ""
    common: dict[str, Any] = {
        "name": name,
        "label": schema.get("title") or name,
        # Empty is fine exactly when the default is a valid answer: then empty means the default.
        "required": bool(schema_errors(empty_value(param), schema)),
    }
    value = param.value
    match kind:
        case "choice":
            chosen = None if value is None else str(value)
            return InputField(
                type="single_choice",
                choices=_enum_labels(schema["enum"]),
                default=chosen,
                description=description,
                **common,
            )
        case "choices":
            chosen_all = [str(v) for v in value] if isinstance(value, list) else None
            choices = _enum_labels(schema["items"]["enum"])
            return InputField(
                type="multiple_choice", choices=choices, default=chosen_all, description=description, **common
            )
        case "integer" | "number":
            return InputField(
                type=kind,
                default=value,
                description=description,
                min_value=schema.get("minimum"),
                max_value=schema.get("maximum"),
                **common,
            )
        case "boolean" | "date":
            return InputField(type=kind, default=value, description=description, **common)
        case "text" | "long_text":
            max_length = schema.get("maxLength")
            limit = min(max_length, _SLACK_MAX_LENGTH) if max_length else None
            # A value that spans lines or is long (an LLM's output) is edited in a text area.
            if isinstance(value, str) and ("\n" in value or len(value) > _LONG_TEXT_OVER):
                kind = "long_text"
            return InputField(type=kind, max_length=limit, default=value, description=description, **common)
    as_json = None if value is None else json.dumps(value)
    return InputField(type="long_text", default=as_json, description=f"{description} (JSON)".strip(), **common)


def param_value(param: HITLParam, field: InputField, value: Any) -> Any:
    """A field's value as the JSON value the param takes. Raises ``ValueError`` with a readable message."""
    if value is None or value == "" or value == []:
        if field.type == "boolean" and value is not None:
            return value
        return empty_value(param)
    schema = param.json_schema
    if field.type == "single_choice":
        return _enum_member(schema.get("enum") or [], value)
    if field.type == "multiple_choice":
        members = (schema.get("items") or {}).get("enum") or []
        return [_enum_member(members, v) for v in value]
    if field_kind(schema) == "json":
        try:
            return json.loads(value)
        except json.JSONDecodeError as problem:
            raise ValueError(f"not valid JSON: {problem.msg} (line {problem.lineno}, column {problem.colno})") from None
    if field.type == "number":
        types, _ = schema_types(schema)
        if "integer" in types and float(value).is_integer():
            return int(value)
    return value


def _enum_member(enum: list[Any], label: Any) -> Any:
    for member in enum:
        if member is not None and str(member) == str(label):
            return member
    raise ValueError(f"{label!r} is not one of {', '.join(_enum_labels(enum))}")
