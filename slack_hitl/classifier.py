"""Give a framework's pause item exactly one kind.

Frameworks mark what a paused tool call needs with flags. ``classify`` reads them from a
mapping or an object (and from its ``tool_execution``, where Agno keeps them) and applies
this precedence, first match wins:

1. an explicit ``kind`` (or Agno's ``pause_type``): one of the four kinds, anything else is an error;
2. feedback: ``user_feedback_schema``, ``questions`` or ``requires_user_feedback``.
   Feedback wins over user input because an ask-the-user tool sets both;
3. user input: ``requires_user_input``, ``user_input_fields``, ``user_input_schema`` or ``fields``;
4. external execution: ``external_execution_required``, ``requires_external_execution`` or
   ``external_execution``;
5. confirmation: ``requires_confirmation`` or ``needs_approval``.

An item that asks for external execution AND confirmation is ambiguous (is the person to
approve the call or to run it?) and so is one with no flag at all: both raise
``ClassificationError``, which names the flags it saw. A flag counts when it is truthy: a
flag set to ``False``, ``None`` or an empty list is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_hitl.errors import ClassificationError
from slack_hitl.requirements import KINDS, Kind

_FEEDBACK = ("user_feedback_schema", "questions", "requires_user_feedback")
_USER_INPUT = ("requires_user_input", "user_input_fields", "user_input_schema", "fields")
_EXTERNAL = ("external_execution_required", "requires_external_execution", "external_execution")
_CONFIRMATION = ("requires_confirmation", "needs_approval")
_EXPLICIT = ("kind", "pause_type")


def _read(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _flags(item: Any) -> dict[str, Any]:
    """Every known flag that is set on the item or on its ``tool_execution``."""
    names = _EXPLICIT + _FEEDBACK + _USER_INPUT + _EXTERNAL + _CONFIRMATION
    found: dict[str, Any] = {}
    for source in (item, _read(item, "tool_execution")):
        if source is None:
            continue
        for name in names:
            value = _read(source, name)
            if value and name not in found:
                found[name] = value
    return found


def classify(item: Any) -> Kind:
    """The kind of one pause item; see the module docstring for the precedence."""
    if item is None:
        raise ClassificationError("cannot classify None: pass the framework's pause item")
    flags = _flags(item)
    explicit = next((flags[name] for name in _EXPLICIT if name in flags), None)
    if explicit is not None:
        explicit = getattr(explicit, "value", explicit)  # enums of frameworks
        if explicit not in KINDS:
            raise ClassificationError(f"unknown kind {explicit!r}; expected one of {', '.join(KINDS)}")
        return explicit
    if any(name in flags for name in _FEEDBACK):
        return "user_feedback"
    if any(name in flags for name in _USER_INPUT):
        return "user_input"
    external = [name for name in _EXTERNAL if name in flags]
    confirmation = [name for name in _CONFIRMATION if name in flags]
    if external and confirmation:
        raise ClassificationError(
            f"ambiguous pause item: it asks for external execution ({', '.join(external)}) and for "
            f"confirmation ({', '.join(confirmation)}); set an explicit kind"
        )
    if external:
        return "external_execution"
    if confirmation:
        return "confirmation"
    raise ClassificationError(
        "pause item has no kind: set `kind` or one of the flags "
        + ", ".join(_FEEDBACK + _USER_INPUT + _EXTERNAL + _CONFIRMATION)
    )
