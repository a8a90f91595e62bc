"""Typed input fields for a modal, from a JSON schema or from a tool call's arguments, and back.

A value no Slack field can hold (an object, a list of free values) becomes a long-text field
holding JSON; its name is listed in ``json_fields`` so the answer is parsed back before the
graph sees it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from slack_hitl import InputField
from slack_hitl.requirements import FieldType

_TEXT_LIMIT = 3000
_SHORT_TEXT = 150


def fields_from_schema(
    schema: Mapping[str, Any], *, current: Mapping[str, Any] | None = None
) -> tuple[tuple[InputField, ...], list[str]]:
    """Fields for the properties of an object JSON schema; ``current`` values become the defaults."""
    root = resolve_ref(schema, schema)
    required = set(root.get("required") or ())
    fields: list[InputField] = []
    json_fields: list[str] = []
    for name, raw in (root.get("properties") or {}).items():
        prop = resolve_ref(schema, raw)
        default = (current or {}).get(name, prop.get("default"))
        field, is_json = _field_for_property(name, _unwrap_optional(schema, prop), default, name in required)
        fields.append(field)
        if is_json:
            json_fields.append(name)
    return tuple(fields), json_fields


def fields_from_arguments(arguments: Mapping[str, Any]) -> tuple[tuple[InputField, ...], list[str]]:
    """Fields typed by the values a tool call carries, pre-filled with them."""
    fields: list[InputField] = []
    json_fields: list[str] = []
    for name, value in arguments.items():
        required = value is not None
        if isinstance(value, bool):
            fields.append(InputField(name=name, type="boolean", default=value, required=False))
        elif isinstance(value, int):
            fields.append(InputField(name=name, type="integer", default=value, required=required))
        elif isinstance(value, float):
            fields.append(InputField(name=name, type="number", default=value, required=required))
        elif isinstance(value, str) or value is None:
            fields.append(InputField(name=name, type=_text_type(value or ""), default=value, required=required))
        else:
            fields.append(_json_field(name, value, required=required))
            json_fields.append(name)
    return tuple(fields), json_fields


def values_to_arguments(
    values: Mapping[str, Any], *, json_fields: list[str], original: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a person typed, as arguments: JSON fields parsed, empty fields keep the original value."""
    arguments: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            # An emptied optional field means "leave as it was" (or let the tool's default apply).
            if original and name in original:
                arguments[name] = original[name]
            continue
        arguments[name] = _parse_json(value) if name in json_fields else value
    return arguments


def _field_for_property(name: str, prop: Mapping[str, Any], default: Any, required: bool) -> tuple[InputField, bool]:
    label = prop.get("title")
    description = prop.get("description") or ""
    common: dict[str, Any] = {"name": name, "label": label, "description": description, "required": required}
    kind = prop.get("type")
    if "enum" in prop and all(isinstance(v, str) for v in prop["enum"]):
        return InputField(type="single_choice", choices=tuple(prop["enum"]), default=default, **common), False
    if kind == "string":
        if prop.get("format") == "date":
            return InputField(type="date", default=default, **common), False
        limit = prop.get("maxLength")
        text_type: FieldType = "long_text" if (limit or 0) > _SHORT_TEXT else _text_type(default or "")
        max_length = min(limit, _TEXT_LIMIT) if limit else None
        return InputField(type=text_type, default=default, max_length=max_length, **common), False
    if kind in ("integer", "number"):
        number: FieldType = "integer" if kind == "integer" else "number"
        return (
            InputField(
                type=number, default=default, min_value=prop.get("minimum"), max_value=prop.get("maximum"), **common
            ),
            False,
        )
    if kind == "boolean":
        return InputField(type="boolean", default=default, **{**common, "required": False}), False
    items = prop.get("items") or {}
    if kind == "array" and "enum" in items and all(isinstance(v, str) for v in items["enum"]):
        return InputField(type="multiple_choice", choices=tuple(items["enum"]), default=default, **common), False
    field = _json_field(name, default, required=required)
    return field.model_copy(update={"label": label, "description": description or field.description}), True


def _json_field(name: str, value: Any, *, required: bool) -> InputField:
    default = None if value is None else json.dumps(value, default=str)
    return InputField(name=name, type="long_text", default=default, required=required, description="JSON")


def _text_type(text: str) -> FieldType:
    return "long_text" if len(text) > _SHORT_TEXT or "\n" in text else "text"


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        # Not JSON after all: the tool gets the text the person typed and can say what is wrong.
        return value


def resolve_ref(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``$ref``s (``#/$defs/Name``), as pydantic writes them."""
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node and seen < 32:
        target: Any = root
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node, seen = target, seen + 1
    return node if isinstance(node, Mapping) else {}


def _unwrap_optional(root: Mapping[str, Any], prop: Mapping[str, Any]) -> Mapping[str, Any]:
    """``X | None`` is written as ``anyOf: [X, null]``: the field is of type X."""
    branches = prop.get("anyOf") or prop.get("oneOf")
    if not branches:
        return prop
    concrete = [resolve_ref(root, b) for b in branches if resolve_ref(root, b).get("type") != "null"]
    if len(concrete) != 1:
        return prop
    keep = {k: v for k, v in prop.items() if k not in ("anyOf", "oneOf")}
    return {**concrete[0], **keep}
