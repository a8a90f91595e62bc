"""The emulated workspace: what it holds, and the rules every method family shares.

Method handlers are functions of a `Workspace` and the call's parameters (`MethodHandler`);
they run one at a time under the workspace's lock, so they read and change its state freely.
Channels, message timestamps, the ids Slack fills into blocks, the emulator's clock and the
shape of a message in API answers are defined here once for all of them.
"""

from __future__ import annotations

import copy
import random
import re
import secrets
import threading
import time
from collections.abc import Callable

from slack_hitl.slack.documented_limits import STREAM_SECONDS, TRIGGER_SECONDS
from slack_hitl.testing.emulator.elements import ELEMENT_TYPES
from slack_hitl.testing.emulator.errors import ApiError
from slack_hitl.testing.emulator.records import (
    EmulatedMessage,
    EmulatedUser,
    EmulatedUserGroup,
    EmulatedView,
    EphemeralMessage,
    JSONDict,
    ResponseUrl,
    ThreadStatus,
    Trigger,
)

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")


class Workspace:
    """One Slack workspace with the app installed: its members, channels, messages and views."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        verification_token: str,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.verification_token = verification_token
        self.streaming_enabled = True
        """When False, chat.startStream fails with `STREAMING_DISABLED_ERROR`."""
        self.stream_lifetime_seconds = STREAM_SECONDS
        """After this long a stream is closed by "Slack" (message_not_in_streaming_state)."""
        self.trigger_lifetime_seconds = TRIGGER_SECONDS
        """How long an issued trigger_id can open a view."""

        self.lock = threading.RLock()
        """Held while a call is answered and while tests read state: one change at a time."""
        self.clock_offset = 0.0
        self.channel_messages: dict[str, dict[str, EmulatedMessage]] = {}
        self.ephemeral_messages: list[EphemeralMessage] = []
        self.views_by_id: dict[str, EmulatedView] = {}
        self.triggers: dict[str, Trigger] = {}
        self.statuses: dict[tuple[str, str], ThreadStatus] = {}
        self.users: dict[str, EmulatedUser] = {}
        self.user_groups: dict[str, EmulatedUserGroup] = {}
        self.channel_names: dict[str, str] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.socket_tickets: set[str] = set()
        """Tickets handed out by apps.connections.open, each good for one Socket Mode connection."""
        self.home_views: dict[str, EmulatedView] = {}
        """The App Home tab each user sees, by user id (views.publish)."""
        self._next_ts = 1_700_000_000 * 1_000_000
        self._next_view = 0
        self._ids = random.Random(0)

    @property
    def url(self) -> str:
        """Root URL the workspace is served at: what URLs it hands out (response URLs...) point to."""
        raise RuntimeError("this workspace is not served; SlackEmulator serves one")

    # ----------------------------------------------------------------- clock and ids

    def now(self) -> float:
        """The emulator's monotonic clock, which `advance_clock` moves forward."""
        return time.monotonic() + self.clock_offset

    def new_ts(self) -> str:
        """A message timestamp later than every earlier one, shaped like Slack's."""
        self._next_ts += 100
        return f"{self._next_ts // 1_000_000}.{self._next_ts % 1_000_000:06d}"

    def new_trigger_id(self) -> str:
        """A trigger_id shaped like Slack's (not yet registered)."""
        return f"{self._next_ts // 1000}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"

    def new_view_id(self) -> str:
        self._next_view += 1
        return f"V{self._next_view:08d}"

    def new_id(self, length: int = 5) -> str:
        """A random id like those Slack gives blocks and elements (seeded: the same on every run)."""
        return "".join(self._ids.choice(_ID_ALPHABET) for _ in range(length))

    def fill_ids(self, blocks: list[JSONDict]) -> list[JSONDict]:
        """Give blocks and elements without ids the random ids Slack assigns."""
        for block in blocks:
            block.setdefault("block_id", self.new_id())
            elements = list(block.get("elements") or [])
            elements += [block[key] for key in ("accessory", "element") if isinstance(block.get(key), dict)]
            for element in elements:
                if isinstance(element, dict) and element.get("type") in ELEMENT_TYPES - {"image"}:
                    element.setdefault("action_id", self.new_id())
        return blocks

    # ----------------------------------------------------------------- channels and messages

    def resolve_channel(self, channel: str | None) -> str:
        """The channel id a call addresses (by id, or by ``#name`` once `add_channel` named it)."""
        if not channel:
            raise ApiError("channel_not_found")
        name = channel.removeprefix("#")
        for channel_id, known in self.channel_names.items():
            if known == name:
                return channel_id
        if _CHANNEL_ID.fullmatch(channel) is not None:
            return channel
        raise ApiError("channel_not_found")

    def channel(self, channel: str) -> dict[str, EmulatedMessage]:
        """The channel's messages (replies too) by ts."""
        return self.channel_messages.setdefault(channel, {})

    def find_message(self, channel: str, ts: str | None) -> EmulatedMessage:
        """The stored message, or Slack's ``message_not_found``."""
        message = self.channel_messages.get(channel, {}).get(ts or "")
        if message is None:
            raise ApiError("message_not_found")
        return self.refreshed(message)

    def refreshed(self, message: EmulatedMessage) -> EmulatedMessage:
        """``message`` with its stream closed if it outlived Slack's stream lifetime."""
        started = message.stream_started_at
        expired = started is not None and self.now() - started > self.stream_lifetime_seconds
        if message.streaming and expired:
            message.stream_state = "expired"
        return message

    def thread_root(self, channel: str, thread_ts: str) -> str:
        """The ts of the thread a reply to ``thread_ts`` belongs to (a reply to a reply joins its thread)."""
        parent = self.channel_messages.get(channel, {}).get(thread_ts)
        if parent is None:
            raise ApiError("invalid_thread_ts")
        return parent.thread_ts if parent.is_reply and parent.thread_ts else parent.ts

    def store(self, message: EmulatedMessage) -> None:
        """Keep a new message; the app posting in a thread clears the thread's status, as on Slack."""
        self.channel(message.channel)[message.ts] = message
        if message.thread_ts and message.is_bot:
            self.statuses.pop((message.channel, message.thread_ts), None)

    def to_slack(self, message: EmulatedMessage) -> JSONDict:
        """The message as Slack shows it in API responses and interaction payloads."""
        payload: JSONDict = {"type": "message", "user": message.user, "text": message.text, "ts": message.ts}
        author = self.users.get(message.user)
        payload["team"] = author.team_id if author else self.team_id
        if message.is_bot:
            payload.update(bot_id=message.bot_id, app_id=self.app_id)
        if message.blocks:
            payload["blocks"] = copy.deepcopy(message.blocks)
        if message.attachments:
            payload["attachments"] = copy.deepcopy(message.attachments)
        if message.metadata:
            payload["metadata"] = copy.deepcopy(message.metadata)
        if message.edited_count:
            payload["edited"] = {"user": message.user, "ts": message.ts}
        if message.thread_ts:
            payload["thread_ts"] = message.thread_ts
        if message.is_reply:
            parent = self.channel_messages[message.channel].get(message.thread_ts or "")
            payload["parent_user_id"] = parent.user if parent else None
        else:
            payload.update(self._reply_summary(message))
        return payload

    def _reply_summary(self, parent: EmulatedMessage) -> JSONDict:
        replies = [m for m in self.channel(parent.channel).values() if m.is_reply and m.thread_ts == parent.ts]
        if not replies:
            return {}
        return {
            "thread_ts": parent.ts,
            "reply_count": len(replies),
            "reply_users": sorted({m.user for m in replies}),
            "latest_reply": replies[-1].ts,
        }

    def bot_message(self, channel: str, text: str, blocks: list[JSONDict], *, thread_ts: str | None) -> EmulatedMessage:
        """A new message by the app (not yet stored), its blocks given Slack's ids."""
        return EmulatedMessage(
            channel=channel,
            ts=self.new_ts(),
            text=text,
            blocks=self.fill_ids(blocks),
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=thread_ts,
        )


MethodHandler = Callable[[Workspace, JSONDict], JSONDict]
"""One Web API method: the workspace and the call's parameters in, Slack's answer out (or `ApiError`)."""
