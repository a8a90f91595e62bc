"""What the console shows, read from the Slack emulator: the channel as one person sees it, as JSON.

The browser renders this state (Block Kit blocks as the app posted them, streamed replies as
their markdown, the thread's status line, the person's ephemeral messages and open modal); it
never sees the store. Message times come from the emulator's call log, since emulated ``ts``
values are not wall-clock times.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from slack_hitl.testing.emulator import EmulatedMessage, EmulatedView, EphemeralMessage, SlackEmulator

JSONDict = dict[str, Any]

_POSTING_METHODS = {"chat.postMessage": "ts", "chat.startStream": "ts", "chat.postEphemeral": "message_ts"}


class ConsoleSnapshot:
    """Builds the console's state for one person; remembers when each message was posted."""

    def __init__(self, emulator: SlackEmulator, channel: str, people: dict[str, JSONDict]) -> None:
        self.emulator = emulator
        self.channel = channel
        self.people = people
        self._posted_at: dict[str, float] = {}
        self._calls_seen = 0

    def state(self, user_id: str) -> JSONDict:
        """The channel, its threads, ``user_id``'s ephemeral messages and open modal, and a revision hash."""
        self._learn_posting_times()
        messages = self.emulator.messages(self.channel)
        threads = {m.ts: self.emulator.thread(self.channel, m.ts) for m in messages}
        ephemerals = [e for e in self.emulator.ephemerals(user_id) if e.channel == self.channel]
        state: JSONDict = {
            "channel": {"id": self.channel, "name": self.emulator.channel_name(self.channel)},
            "me": user_id,
            "people": self.people,
            "bot_user_id": self.emulator.bot_user_id,
            "messages": [self._message(m, threads[m.ts]) for m in messages],
            "threads": {ts: [self._message(r, []) for r in replies] for ts, replies in threads.items() if replies},
            "statuses": self._statuses(messages),
            "ephemerals": [self._ephemeral(e) for e in ephemerals],
            "view": _view(self.emulator.open_view(user_id)),
        }
        state["revision"] = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]
        return state

    def _learn_posting_times(self) -> None:
        calls = self.emulator.calls
        for call in calls[self._calls_seen :]:
            key = _POSTING_METHODS.get(call.method)
            if key and call.ok and call.response.get(key):
                self._posted_at.setdefault(str(call.response[key]), call.timestamp)
        self._calls_seen = len(calls)

    def _message(self, message: EmulatedMessage, replies: list[EmulatedMessage]) -> JSONDict:
        streamed = message.stream_state is not None
        shown: JSONDict = {
            "ts": message.ts,
            "user": message.user,
            "bot": message.is_bot,
            "text": message.text,
            "blocks": message.blocks,
            "format": "markdown" if streamed and not message.blocks else "mrkdwn",
            "streaming": message.streaming,
            "edited": message.edited_count > 0,
            "posted_at": self._posted_at.get(message.ts),
        }
        if replies:
            shown["reply_count"] = len(replies)
            shown["reply_users"] = sorted({reply.user for reply in replies})
            shown["latest_reply_at"] = self._posted_at.get(replies[-1].ts)
        return shown

    def _ephemeral(self, ephemeral: EphemeralMessage) -> JSONDict:
        return {
            "ts": ephemeral.message_ts,
            "text": ephemeral.text,
            "blocks": ephemeral.blocks,
            "thread_ts": ephemeral.thread_ts,
            "posted_at": self._posted_at.get(ephemeral.message_ts),
        }

    def _statuses(self, messages: list[EmulatedMessage]) -> dict[str, str]:
        statuses = {}
        for message in messages:
            status = self.emulator.thread_status(self.channel, message.ts)
            if status is not None:
                statuses[message.ts] = status.status
        return statuses


def _view(view: EmulatedView | None) -> JSONDict | None:
    if view is None:
        return None
    definition = view.definition
    return {
        "id": view.id,
        "hash": view.hash,
        "title": definition.get("title"),
        "submit": definition.get("submit"),
        "close": definition.get("close"),
        "blocks": view.blocks,
        "errors": view.errors or {},
    }
