"""A Web API call's parameters, read the way Slack reads them.

slack_sdk sends some calls as JSON and others as form fields whose structured values
(``blocks``, ``view``...) are JSON-encoded strings; every reader here accepts both, so a
method handler never cares which transport or encoding the client chose.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from slack_hitl.slack.documented_limits import VIEW_BYTES
from slack_hitl.testing.emulator.errors import ApiError, invalid_arguments
from slack_hitl.testing.emulator.records import JSONDict
from slack_hitl.testing.emulator.validator import view_problems

_JSON_PARAMS = ("blocks", "attachments", "view", "chunks", "metadata", "loading_messages")


def decode_json(value: object) -> object:
    """``value`` decoded if it is a JSON-encoded string, else as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def json_object(value: object) -> JSONDict | None:
    """``value`` as a JSON object (decoded from a string if need be), or None if it is not one."""
    decoded = decode_json(value)
    return decoded if isinstance(decoded, dict) else None


def normalized_params(params: Mapping[str, Any]) -> JSONDict:
    """Params with JSON-encoded form fields decoded, so both encodings look alike in the call log."""
    normalized = dict(params)
    for name in _JSON_PARAMS:
        if name in normalized:
            normalized[name] = decode_json(normalized[name])
    return normalized


def str_param(params: Mapping[str, Any], name: str) -> str | None:
    """The parameter as a string, or None when absent."""
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def required(params: Mapping[str, Any], name: str, *, error: str | None = None) -> str:
    """A non-empty parameter; Slack's ``error`` (or ``invalid_arguments``) when it is missing."""
    value = str_param(params, name)
    if not value:
        if error is not None:
            raise ApiError(error)
        raise invalid_arguments(f"missing required field: {name}")
    return value


def bool_param(params: Mapping[str, Any], name: str) -> bool:
    """A boolean flag, given as a JSON boolean or as ``"true"`` / ``"1"`` in a form."""
    value = params.get(name)
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    """An integer parameter, ``default`` when absent."""
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise invalid_arguments(f"{name} must be an integer") from None


def fresh_copy(value: Any) -> Any:
    """A copy sharing no objects, unlike deepcopy, so ids filled in later never alias."""
    return json.loads(json.dumps(value))


def parse_blocks(params: Mapping[str, Any], name: str = "blocks") -> list[JSONDict] | None:
    """The blocks parameter as a fresh list of objects, None when absent; ``invalid_blocks_format`` otherwise."""
    if name not in params or params[name] is None:
        return None
    raw = params[name]
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ApiError("invalid_blocks_format") from None
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise ApiError("invalid_blocks_format")
    blocks: list[JSONDict] = fresh_copy(raw)
    return blocks


def parse_view(params: Mapping[str, Any], *, surface: str = "modal") -> JSONDict:
    """The view parameter, checked as Slack checks a modal or a home tab (size, then Block Kit rules)."""
    raw = params.get("view")
    if raw is None:
        raise invalid_arguments("missing required field: view")
    if isinstance(raw, str):
        if len(raw.encode()) > VIEW_BYTES:
            raise ApiError("view_too_large")
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise invalid_arguments("view must be a JSON-encoded object [json-pointer:/view]") from None
    if not isinstance(raw, dict):
        raise invalid_arguments("must provide an object [json-pointer:/view]")
    if len(json.dumps(raw).encode()) > VIEW_BYTES:
        raise ApiError("view_too_large")
    problems = view_problems(raw, surface=surface)
    if problems:
        raise invalid_arguments(*problems)
    view: JSONDict = fresh_copy(raw)
    return view


def parse_chunks(params: Mapping[str, Any]) -> list[JSONDict]:
    """The ``chunks`` of a streaming call (each an object with a type), empty when absent."""
    raw = params.get("chunks")
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = decode_json(raw)
    if not isinstance(raw, list) or not all(isinstance(c, dict) and "type" in c for c in raw):
        raise invalid_arguments("chunks must be an array of objects with a type [json-pointer:/chunks]")
    return copy.deepcopy(raw)


def ts_key(ts: str) -> tuple[int, int]:
    """A message ts as a sortable pair (seconds, microseconds)."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)
