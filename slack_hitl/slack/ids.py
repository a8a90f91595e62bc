"""The identifiers slack_hitl puts into Slack and reads back: action ids, button values, modal metadata.

Every action_id starts with ``slack_hitl:`` so an existing Bolt app can route ours with the
regex ``^slack_hitl:``. A button carries which approval, row and choice it stands for in its
value; a modal carries the approval, row, version, preset choice and the message it came from
in its private_metadata. Anything read back from Slack is checked: a payload that does not
have exactly our shape raises ``MalformedAction`` and is never acted on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from slack_hitl.slack.documented_limits import BUTTON_VALUE, PRIVATE_METADATA, slack_length
from slack_hitl.slack.limits import SlackLimitError
from slack_hitl.slack.markdown import cut

ACTION_PREFIX = "slack_hitl"
MODAL_CALLBACK_ID = f"{ACTION_PREFIX}:decide"
VALUE_ACTION_ID = f"{ACTION_PREFIX}:value"
"""action_id of every input element in our modals (one per input block, so it is unique there)."""

Verb = Literal["choose", "open", "retry", "withdraw"]
VERBS: tuple[Verb, ...] = ("choose", "open", "retry", "withdraw")


class MalformedAction(ValueError):
    """An action id, button value or modal payload that slack_hitl did not produce."""


@dataclass(frozen=True)
class ActionRef:
    """What a clicked row button stands for: the row, and for ``choose`` the choice (``withdraw``:
    the clicker takes back their decision of the row)."""

    verb: Literal["choose", "open", "withdraw"]
    approval_id: str
    row_id: str
    choice: str | None


@dataclass(frozen=True)
class RetryRef:
    """A click on an approval's Retry button."""

    approval_id: str


@dataclass(frozen=True)
class ModalRef:
    """What an open modal decides: the row, the approval version it was opened at, and where the message is."""

    approval_id: str
    row_id: str
    version: int
    choice: str | None
    channel: str
    message_ts: str


def action_id(verb: str, index: int) -> str:
    """The action_id of the ``index``-th element of a block, for ``verb`` (choose, open, retry or withdraw)."""
    if verb not in VERBS:
        raise ValueError(f"unknown action verb {verb!r}; expected one of {', '.join(VERBS)}")
    if index < 0:
        raise ValueError(f"an action index must not be negative, got {index}")
    return f"{ACTION_PREFIX}:{verb}:{index}"


def button_value(approval_id: str, row_id: str | None, choice: str | None) -> str:
    """The compact JSON a button carries; ``SlackLimitError`` if Slack's 2000 characters cannot hold it."""
    value = _compact({"a": approval_id, "r": row_id, "c": choice})
    if slack_length(value) > BUTTON_VALUE:
        raise SlackLimitError(
            f"button value <= {BUTTON_VALUE}",
            "/value",
            f"the button value of row {row_id!r} is {slack_length(value)} characters",
        )
    return value


def parse_action(action_id: str, value: str) -> ActionRef | RetryRef:
    """What a clicked button stands for, or ``MalformedAction`` if we did not render it."""
    verb = _verb_of(action_id)
    payload = _json_object(value, "button value")
    if set(payload) != {"a", "r", "c"}:
        raise MalformedAction(f"button value must have exactly the keys a, r, c; got {sorted(payload)}")
    approval_id = _text(payload["a"], "approval id (a)")
    row_id = _optional_text(payload["r"], "row id (r)")
    choice = _optional_text(payload["c"], "choice (c)")
    if verb == "choose" and choice is None:
        raise MalformedAction("a choose action needs a choice")
    if verb != "choose" and choice is not None:
        raise MalformedAction(f"a {verb} action carries no choice")
    if verb == "retry":
        return RetryRef(approval_id=approval_id)
    if row_id is None:
        raise MalformedAction(f"a {verb} action needs a row id")
    return ActionRef(verb=verb, approval_id=approval_id, row_id=row_id, choice=choice)


def encode_metadata(ref: ModalRef) -> str:
    """``ref`` as a modal's private_metadata; ``SlackLimitError`` past Slack's 3000 characters."""
    metadata = _compact(
        {
            "a": ref.approval_id,
            "r": ref.row_id,
            "v": ref.version,
            "c": ref.choice,
            "ch": ref.channel,
            "ts": ref.message_ts,
        }
    )
    if slack_length(metadata) > PRIVATE_METADATA:
        raise SlackLimitError(
            f"private_metadata <= {PRIVATE_METADATA}",
            "/view/private_metadata",
            f"the modal metadata of row {ref.row_id!r} is {slack_length(metadata)} characters",
        )
    return metadata


def decode_metadata(metadata: str) -> ModalRef:
    """The ``ModalRef`` in a submitted modal's private_metadata, or ``MalformedAction``."""
    if not isinstance(metadata, str) or slack_length(metadata) > PRIVATE_METADATA:
        raise MalformedAction("private_metadata is missing or longer than Slack allows")
    payload = _json_object(metadata, "private_metadata")
    if set(payload) != {"a", "r", "v", "c", "ch", "ts"}:
        raise MalformedAction(f"private_metadata must have exactly the keys a, r, v, c, ch, ts; got {sorted(payload)}")
    version = payload["v"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise MalformedAction(
            f"private_metadata version (v) must be a non-negative integer, got {cut(repr(version), 80)}"
        )
    return ModalRef(
        approval_id=_text(payload["a"], "approval id (a)"),
        row_id=_text(payload["r"], "row id (r)"),
        version=version,
        choice=_optional_text(payload["c"], "choice (c)"),
        channel=_text(payload["ch"], "channel (ch)"),
        message_ts=_text(payload["ts"], "message ts (ts)"),
    )


def _compact(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _verb_of(action_id: str) -> Verb:
    if not isinstance(action_id, str):
        raise MalformedAction(f"action_id must be a string, got {type(action_id).__name__}")
    prefix, _, rest = action_id.partition(":")
    verb, _, index = rest.partition(":")
    if prefix != ACTION_PREFIX or verb not in VERBS or not index.isascii() or not index.isdigit():
        raise MalformedAction(f"{action_id!r} is not a slack_hitl action id ({ACTION_PREFIX}:<verb>:<index>)")
    return verb


def _json_object(text: str, what: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise MalformedAction(f"{what} must be a string, got {type(text).__name__}")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as problem:
        raise MalformedAction(f"{what} is not JSON: {problem.msg}") from None
    if not isinstance(payload, dict):
        raise MalformedAction(f"{what} must be a JSON object")
    return payload


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedAction(f"{what} must be a non-empty string, got {cut(repr(value), 80)}")
    return value


def _optional_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)
