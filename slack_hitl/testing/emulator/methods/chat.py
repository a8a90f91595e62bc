"""chat.*: messages the app posts, updates, shows to one person, and deletes."""

from __future__ import annotations

from slack_hitl.slack.documented_limits import MESSAGE_BLOCKS_TEXT, MESSAGE_TEXT, STREAM_TEXT, blocks_text_length
from slack_hitl.testing.emulator.errors import ApiError, invalid_blocks
from slack_hitl.testing.emulator.params import decode_json, json_object, parse_blocks, required, str_param
from slack_hitl.testing.emulator.records import EphemeralMessage, JSONDict
from slack_hitl.testing.emulator.validator import message_block_problems
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace


def check_message_blocks(blocks: list[JSONDict]) -> None:
    """Slack's ``invalid_blocks`` or ``msg_blocks_too_long`` unless ``blocks`` can be one message."""
    problems = message_block_problems(blocks)
    if problems:
        raise invalid_blocks(problems)
    if blocks_text_length(blocks) > MESSAGE_BLOCKS_TEXT:
        raise ApiError("msg_blocks_too_long")


def _check_message_text(text: str | None, markdown_text: str | None) -> None:
    if text is not None and len(text) > MESSAGE_TEXT:
        raise ApiError("msg_too_long")
    if markdown_text is not None and len(markdown_text) > STREAM_TEXT:
        raise ApiError("msg_too_long")


def message_content(params: JSONDict) -> tuple[str | None, list[JSONDict] | None]:
    """Validated (text, blocks) of a post or update, as Slack checks them."""
    text = str_param(params, "text")
    markdown_text = str_param(params, "markdown_text")
    blocks = parse_blocks(params)
    if markdown_text is not None and (text is not None or blocks is not None):
        raise ApiError("markdown_text_conflict")
    if blocks is not None:
        check_message_blocks(blocks)
    _check_message_text(text, markdown_text)
    return (markdown_text if markdown_text is not None else text), blocks


def post_message(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    text, blocks = message_content(params)
    attachments = decode_json(params.get("attachments"))
    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    thread_ts = str_param(params, "thread_ts")
    root = workspace.thread_root(channel, thread_ts) if thread_ts else None
    message = workspace.bot_message(channel, text or "", blocks or [], thread_ts=root)
    message.attachments = attachments if isinstance(attachments, list) else None
    message.metadata = json_object(params.get("metadata"))
    workspace.store(message)
    return {"ok": True, "channel": channel, "ts": message.ts, "message": workspace.to_slack(message)}


def update(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    message = workspace.find_message(channel, str_param(params, "ts"))
    if not message.is_bot:
        raise ApiError("cant_update_message")
    if message.streaming:
        raise ApiError("streaming_state_conflict")
    text, blocks = message_content(params)
    if text is None and blocks is None and "attachments" not in params:
        raise ApiError("no_text")
    if text is not None:
        message.text = text
    if blocks is not None:
        message.blocks = workspace.fill_ids(blocks)
    if "attachments" in params:
        attachments = decode_json(params["attachments"])
        message.attachments = attachments if isinstance(attachments, list) else None
    message.edited_count += 1
    payload = workspace.to_slack(message)
    return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text, "message": payload}


def post_ephemeral(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    user = required(params, "user", error="user_not_found")
    if user not in workspace.users:
        raise ApiError("user_not_in_channel")
    text, blocks = message_content(params)
    if not text and not blocks and not params.get("attachments"):
        raise ApiError("no_text")
    ephemeral = EphemeralMessage(
        channel=channel,
        user=user,
        message_ts=workspace.new_ts(),
        text=text or "",
        blocks=workspace.fill_ids(blocks or []),
        thread_ts=str_param(params, "thread_ts"),
    )
    workspace.ephemeral_messages.append(ephemeral)
    return {"ok": True, "message_ts": ephemeral.message_ts}


def delete(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    message = workspace.find_message(channel, str_param(params, "ts"))
    if not message.is_bot:
        raise ApiError("cant_delete_message")
    del workspace.channel_messages[channel][message.ts]
    return {"ok": True, "channel": channel, "ts": message.ts}


METHODS: dict[str, MethodHandler] = {
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.postEphemeral": post_ephemeral,
    "chat.delete": delete,
}
