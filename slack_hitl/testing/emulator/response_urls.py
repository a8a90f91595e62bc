"""What an app's POST to an interaction's response_url does to the conversation.

Not a Web API method: Slack hands the URL out with an interaction, and it answers in plain text.
"""

from __future__ import annotations

from slack_hitl.slack.documented_limits import RESPONSE_URL_SECONDS, RESPONSE_URL_USES
from slack_hitl.testing.emulator.errors import ApiError
from slack_hitl.testing.emulator.methods.chat import message_content
from slack_hitl.testing.emulator.params import bool_param, str_param
from slack_hitl.testing.emulator.records import EphemeralMessage, JSONDict
from slack_hitl.testing.emulator.workspace import Workspace

SPENT_ERRORS = frozenset({"used_url", "expired_url", "no_active_hooks"})
"""The errors for a URL that no longer works (Slack answers them with 404, the others with 400)."""


def use_response_url(workspace: Workspace, token: str, body: JSONDict) -> None:
    """Replace, delete or answer the message the URL was issued for; `ApiError` as Slack refuses."""
    hook = workspace.response_urls.get(token)
    if hook is None:
        raise ApiError("no_active_hooks")
    if workspace.now() - hook.issued_at > RESPONSE_URL_SECONDS:
        raise ApiError("expired_url")
    if hook.uses >= RESPONSE_URL_USES:
        raise ApiError("used_url")
    hook.uses += 1
    if bool_param(body, "delete_original"):
        workspace.channel_messages.get(hook.channel, {}).pop(hook.message_ts, None)
        return
    # Slack cuts a long text posted through a response URL, as it does a chat.postMessage's.
    content = message_content(body)
    text, blocks = content.text, content.blocks
    if bool_param(body, "replace_original"):
        message = workspace.find_message(hook.channel, hook.message_ts)
        message.text = text if text is not None else message.text
        message.blocks = workspace.fill_ids(blocks) if blocks is not None else message.blocks
        message.edited_count += 1
    elif body.get("response_type") == "in_channel":
        thread_ts = str_param(body, "thread_ts")
        workspace.store(workspace.bot_message(hook.channel, text or "", blocks or [], thread_ts=thread_ts))
    else:
        ephemeral = EphemeralMessage(hook.channel, hook.user_id, workspace.new_ts(), text or "", blocks or [])
        workspace.ephemeral_messages.append(ephemeral)
