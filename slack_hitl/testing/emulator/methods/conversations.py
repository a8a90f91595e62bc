"""conversations.*: reading a channel's history and a thread back, page by page."""

from __future__ import annotations

import base64

from slack_hitl.testing.emulator.errors import ApiError
from slack_hitl.testing.emulator.params import bool_param, int_param, required, str_param, ts_key
from slack_hitl.testing.emulator.records import EmulatedMessage, JSONDict
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.b64decode(cursor).decode().partition(":")
        if kind != "offset":
            raise ValueError(cursor)
        return int(offset)
    except ValueError:
        raise ApiError("invalid_cursor") from None


def _page(workspace: Workspace, messages: list[EmulatedMessage], params: JSONDict, *, default_limit: int) -> JSONDict:
    limit = max(1, int_param(params, "limit", default_limit))
    offset = _decode_cursor(str_param(params, "cursor"))
    page = messages[offset : offset + limit]
    has_more = offset + limit < len(messages)
    shown = [workspace.to_slack(m) for m in page]
    if not bool_param(params, "include_all_metadata"):
        # Slack returns a message's metadata in a history only when asked to.
        for message in shown:
            message.pop("metadata", None)
    body: JSONDict = {"ok": True, "messages": shown, "has_more": has_more}
    body["response_metadata"] = {"next_cursor": _encode_cursor(offset + limit) if has_more else ""}
    return body


def _bound(params: JSONDict, name: str) -> tuple[int, int] | None:
    value = str_param(params, name)
    if not value:
        return None
    try:
        return ts_key(value)
    except ValueError:
        raise ApiError(f"invalid_ts_{name}") from None


def _within(messages: list[EmulatedMessage], params: JSONDict) -> list[EmulatedMessage]:
    inclusive = bool_param(params, "inclusive")
    oldest, latest = _bound(params, "oldest"), _bound(params, "latest")

    def keep(message: EmulatedMessage) -> bool:
        key = ts_key(message.ts)
        if oldest and (key < oldest or (key == oldest and not inclusive)):
            return False
        return not (latest and (key > latest or (key == latest and not inclusive)))

    return [m for m in messages if keep(m)]


def history(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    found = [workspace.refreshed(m) for m in workspace.channel(channel).values() if not m.is_reply]
    found = _within(found, params)
    found.sort(key=lambda m: ts_key(m.ts), reverse=True)
    return _page(workspace, found, params, default_limit=100)


def replies(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    ts = required(params, "ts", error="thread_not_found")
    parent = workspace.channel_messages.get(channel, {}).get(ts)
    if parent is None:
        raise ApiError("thread_not_found")
    root = parent.thread_ts if parent.is_reply and parent.thread_ts else parent.ts
    thread = [m for m in workspace.channel(channel).values() if m.ts == root or m.thread_ts == root]
    thread = [workspace.refreshed(m) for m in thread]
    thread.sort(key=lambda m: ts_key(m.ts))
    return _page(workspace, thread, params, default_limit=1000)


METHODS: dict[str, MethodHandler] = {
    "conversations.history": history,
    "conversations.replies": replies,
}
