"""chat.*: messages the app posts, updates, shows to one person, and deletes."""

from __future__ import annotations

from dataclasses import dataclass

from slack_hitl.slack.documented_limits import (
    MESSAGE_BLOCKS_TEXT,
    MESSAGE_TEXT,
    POSTED_TEXT,
    STREAM_TEXT,
    blocks_text_length,
    slack_length,
    slack_prefix,
)
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


@dataclass(frozen=True)
class MessageContent:
    """A post's or an update's text and blocks as Slack keeps them."""

    text: str | None
    blocks: list[JSONDict] | None
    truncated: bool = False
    """The text was longer than a posted message keeps, and was cut."""

    def answer(self, body: JSONDict) -> JSONDict:
        """``body`` with the warning Slack adds when it cut the text."""
        if not self.truncated:
            return body
        return {**body, "response_metadata": {"messages": [TRUNCATED_MESSAGE], "warnings": ["message_truncated"]}}


TRUNCATED_MESSAGE = (
    f"[WARN] Your message was truncated but still posted. The `text` field accepts up to {POSTED_TEXT:,} characters."
)
"""What Slack adds to a post whose text it cut (Slack changelog, "Truncating really long messages")."""


def message_content(params: JSONDict, *, update: bool = False) -> MessageContent:
    """The validated text and blocks of a post (or, with ``update``, of chat.update), as Slack checks them.

    A posted text over 40,000 characters is cut and posted with a warning; chat.update refuses
    a text over 4,000 (``msg_too_long``). ``markdown_text`` over 12,000 is refused by both.
    """
    text = str_param(params, "text")
    markdown_text = str_param(params, "markdown_text")
    blocks = parse_blocks(params)
    if markdown_text is not None and (text is not None or blocks is not None):
        raise ApiError("markdown_text_conflict")
    if blocks is not None:
        check_message_blocks(blocks)
    if markdown_text is not None:
        if slack_length(markdown_text) > STREAM_TEXT:
            raise ApiError("msg_too_long")
        return MessageContent(markdown_text, blocks)
    if text is not None and update and slack_length(text) > MESSAGE_TEXT:
        raise ApiError("msg_too_long")
    if text is not None and slack_length(text) > POSTED_TEXT:
        return MessageContent(slack_prefix(text, POSTED_TEXT), blocks, truncated=True)
    return MessageContent(text, blocks)


def post_message(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    content = message_content(params)
    attachments = decode_json(params.get("attachments"))
    if not content.text and not content.blocks and not attachments:
        raise ApiError("no_text")
    thread_ts = str_param(params, "thread_ts")
    root = workspace.thread_root(channel, thread_ts) if thread_ts else None
    message = workspace.bot_message(channel, content.text or "", content.blocks or [], thread_ts=root)
    message.attachments = attachments if isinstance(attachments, list) else None
    message.metadata = json_object(params.get("metadata"))
    workspace.store(message)
    return content.answer({"ok": True, "channel": channel, "ts": message.ts, "message": workspace.to_slack(message)})


def update(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    message = workspace.find_message(channel, str_param(params, "ts"))
    if not message.is_bot:
        raise ApiError("cant_update_message")
    if message.streaming:
        raise ApiError("streaming_state_conflict")
    content = message_content(params, update=True)
    if content.text is None and content.blocks is None and "attachments" not in params:
        raise ApiError("no_text")
    if content.text is not None:
        message.text = content.text
    if content.blocks is not None:
        message.blocks = workspace.fill_ids(content.blocks)
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
    content = message_content(params)
    if not content.text and not content.blocks and not params.get("attachments"):
        raise ApiError("no_text")
    ephemeral = EphemeralMessage(
        channel=channel,
        user=user,
        message_ts=workspace.new_ts(),
        text=content.text or "",
        blocks=workspace.fill_ids(content.blocks or []),
        thread_ts=str_param(params, "thread_ts"),
    )
    workspace.ephemeral_messages.append(ephemeral)
    return content.answer({"ok": True, "message_ts": ephemeral.message_ts})


def delete(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    message = workspace.find_message(channel, str_param(params, "ts"))
    if not message.is_bot:
        raise ApiError("cant_delete_message")
    del workspace.channel_messages[channel][message.ts]
    return {"ok": True, "channel": channel, "ts": message.ts}


def get_permalink(workspace: Workspace, params: JSONDict) -> JSONDict:
    channel = workspace.resolve_channel(str_param(params, "channel"))
    message = workspace.find_message(channel, str_param(params, "message_ts"))
    link = f"https://{workspace.team_domain}.slack.com/archives/{channel}/p{message.ts.replace('.', '')}"
    if message.is_reply and message.thread_ts:
        link += f"?thread_ts={message.thread_ts}&cid={channel}"
    return {"ok": True, "channel": channel, "permalink": link}


METHODS: dict[str, MethodHandler] = {
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.postEphemeral": post_ephemeral,
    "chat.delete": delete,
    "chat.getPermalink": get_permalink,
}
