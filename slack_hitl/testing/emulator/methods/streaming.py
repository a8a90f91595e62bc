"""chat.startStream / appendStream / stopStream and assistant.threads.setStatus: a reply written live."""

from __future__ import annotations

from collections.abc import Iterable

from slack_hitl.slack.documented_limits import STREAM_TEXT, slack_length
from slack_hitl.testing.emulator.errors import ApiError, invalid_arguments
from slack_hitl.testing.emulator.methods.chat import check_message_blocks
from slack_hitl.testing.emulator.params import decode_json, json_object, parse_blocks, parse_chunks, required, str_param
from slack_hitl.testing.emulator.records import EmulatedMessage, JSONDict, ThreadStatus
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace

STREAMING_DISABLED_ERROR = "not_allowed_token_type"
"""What chat.startStream answers when ``streaming_enabled`` is False.

Slack documents no dedicated error for apps or workspaces that cannot stream;
`not_allowed_token_type` is the closest documented chat.startStream error."""


def _stream_chunks(params: JSONDict) -> list[JSONDict]:
    chunks = []
    markdown_text = str_param(params, "markdown_text")
    if markdown_text:
        chunks.append({"type": "markdown_text", "text": markdown_text})
    chunks.extend(parse_chunks(params))
    return chunks


def _markdown_of(chunks: Iterable[JSONDict]) -> str:
    return "".join(str(c.get("text", "")) for c in chunks if c.get("type") == "markdown_text")


def _check_stream_length(text: str) -> None:
    if slack_length(text) > STREAM_TEXT:
        raise ApiError("msg_too_long")


def _append_chunks(message: EmulatedMessage, chunks: list[JSONDict]) -> None:
    combined = message.stream_chunks + chunks
    _check_stream_length(_markdown_of(combined))
    message.stream_chunks = combined
    message.text = _markdown_of(combined)


def _streaming_message(workspace: Workspace, params: JSONDict) -> EmulatedMessage:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    message = workspace.find_message(channel, str_param(params, "ts"))
    if not message.streaming:
        raise ApiError("message_not_in_streaming_state")
    return message


def start_stream(workspace: Workspace, params: JSONDict) -> JSONDict:
    if not workspace.streaming_enabled:
        raise ApiError(STREAMING_DISABLED_ERROR)
    channel = workspace.resolve_channel(str_param(params, "channel"))
    thread_ts = workspace.thread_root(channel, required(params, "thread_ts"))
    recipient_team_id = str_param(params, "recipient_team_id")
    recipient_user_id = str_param(params, "recipient_user_id")
    if not channel.startswith("D"):
        if not recipient_team_id:
            raise ApiError("missing_recipient_team_id")
        if not recipient_user_id:
            raise ApiError("missing_recipient_user_id")
    if "blocks" in params:
        raise invalid_arguments("blocks are only accepted by chat.stopStream [json-pointer:/blocks]")
    chunks = _stream_chunks(params)
    _check_stream_length(_markdown_of(chunks))
    message = workspace.bot_message(channel, _markdown_of(chunks), [], thread_ts=thread_ts)
    message.stream_state = "streaming"
    message.stream_started_at = workspace.now()
    message.stream_chunks = chunks
    message.recipient_user_id = recipient_user_id
    message.recipient_team_id = recipient_team_id
    workspace.store(message)
    return {"ok": True, "channel": channel, "ts": message.ts}


def append_stream(workspace: Workspace, params: JSONDict) -> JSONDict:
    message = _streaming_message(workspace, params)
    chunks = _stream_chunks(params)
    if not chunks:
        raise ApiError("no_text")
    _append_chunks(message, chunks)
    return {"ok": True, "channel": message.channel, "ts": message.ts}


def stop_stream(workspace: Workspace, params: JSONDict) -> JSONDict:
    message = _streaming_message(workspace, params)
    blocks = parse_blocks(params)
    if blocks is not None:
        check_message_blocks(blocks)
    _append_chunks(message, _stream_chunks(params))
    if blocks is not None:
        message.blocks = workspace.fill_ids(blocks)
    message.metadata = json_object(params.get("metadata")) or message.metadata
    message.stream_state = "stopped"
    return {"ok": True, "channel": message.channel, "ts": message.ts, "message": workspace.to_slack(message)}


def set_status(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel_id"))
    thread_ts = workspace.thread_root(channel, required(params, "thread_ts"))
    if "status" not in params:
        raise invalid_arguments("missing required field: status")
    status = str_param(params, "status") or ""
    if not status:
        workspace.statuses.pop((channel, thread_ts), None)
        return {"ok": True}
    loading = decode_json(params.get("loading_messages"))
    workspace.statuses[(channel, thread_ts)] = ThreadStatus(
        channel_id=channel,
        thread_ts=thread_ts,
        status=status,
        loading_messages=[str(m) for m in loading] if isinstance(loading, list) else None,
    )
    return {"ok": True}


METHODS: dict[str, MethodHandler] = {
    "chat.startStream": start_stream,
    "chat.appendStream": append_stream,
    "chat.stopStream": stop_stream,
    "assistant.threads.setStatus": set_status,
}
