"""What an approval may carry into the store: text every database keeps, JSON it can nest.

One check, made before anything is stored, for every way an approval is opened (the HTTP API,
the Python API, the adapters, a nested pause): a lone surrogate cannot be encoded as UTF-8 (a
SQLite file, every JSON answer and Slack refuse it), PostgreSQL keeps no NUL character, and
values nested deeper than ``MAX_JSON_DEPTH`` cannot be shown again (the JSON serializers stop
long before the database does). Pure, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from slack_hitl.errors import InputProblem, Location
from slack_hitl.requirements import Requirement

_UNSHOWABLE = re.compile("[\x00\ud800-\udfff]")

MAX_JSON_DEPTH = 64
"""How deep metadata, arguments, defaults and resume states may nest (objects and lists)."""


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or ``None``."""
    if text.isascii():
        return None if "\x00" not in text else "contains a NUL character, which the database cannot keep"
    if "\x00" in text:
        return "contains a NUL character, which the database cannot keep"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode"
    return None


def json_problems(value: Any, location: Location = ()) -> Iterator[tuple[Location, str]]:
    """Each string (keys too) that cannot be stored, and the first place nested deeper than ``MAX_JSON_DEPTH``."""
    # Iterative, not recursive: a value nested thousands deep must not exhaust the stack here either.
    pending: list[tuple[Any, Location, int]] = [(value, location, 0)]
    too_deep = False
    while pending:
        item, where, depth = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                yield where, problem
        elif isinstance(item, Mapping | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                if not too_deep:
                    too_deep = True
                    yield where, f"is nested deeper than {MAX_JSON_DEPTH} levels"
                continue
            if isinstance(item, Mapping):
                for key, inner in item.items():
                    if isinstance(key, str) and (problem := text_problem(key)):
                        yield (*where, key.encode("utf-8", "backslashreplace").decode()), f"this key {problem}"
                    pending.append((inner, (*where, str(key).encode("utf-8", "backslashreplace").decode()), depth + 1))
            else:
                pending.extend((inner, (*where, index), depth + 1) for index, inner in enumerate(item))


def check_storable(
    title: str,
    requirements: Sequence[Requirement],
    *,
    metadata: Mapping[str, Any] | None = None,
    resume_state: Mapping[str, Any] | None = None,
) -> None:
    """Raise ``InputProblem`` naming every text or value of an approval that cannot be stored."""
    problems = list(json_problems(title, ("title",)))
    for index, requirement in enumerate(requirements):
        problems += json_problems(requirement.model_dump(mode="python"), ("requirements", index))
    problems += json_problems(dict(metadata or {}), ("metadata",))
    problems += json_problems(dict(resume_state or {}), ("resume_state",))
    if problems:
        raise InputProblem(problems)


def shown_json(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as it can be shown again: what was stored before these checks (or around them) cut
    at ``MAX_JSON_DEPTH`` and its bad text replaced, so showing it never fails."""
    if not any(True for _ in json_problems(value)):
        return value
    return {str(key): _shown(inner, 1) for key, inner in value.items()}


def _shown(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _UNSHOWABLE.sub("\ufffd", value)
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_JSON_DEPTH:
        return f"(nested deeper than {MAX_JSON_DEPTH} levels; not shown)"
    if isinstance(value, Mapping):
        return {_shown(str(key), depth): _shown(inner, depth + 1) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_shown(inner, depth + 1) for inner in value]
    return value
