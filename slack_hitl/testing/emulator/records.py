"""What the emulated workspace keeps: messages, views, users, and the calls it answered.

The public records are what tests read back (as snapshots); the others are the emulator's own
bookkeeping of the short-lived things Slack hands out (trigger ids, response URLs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JSONDict = dict[str, Any]

StreamState = Literal["streaming", "stopped", "expired"]


@dataclass(frozen=True)
class CallRecord:
    """One Web API call the emulator answered."""

    method: str
    params: JSONDict
    response: JSONDict
    status_code: int
    timestamp: float

    @property
    def ok(self) -> bool:
        """Whether Slack would have reported success."""
        return bool(self.response.get("ok"))


@dataclass
class EmulatedMessage:
    """A message as the emulator stores it (a snapshot when returned by accessors)."""

    channel: str
    ts: str
    text: str
    blocks: list[JSONDict]
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None
    attachments: list[JSONDict] | None = None
    metadata: JSONDict | None = None
    edited_count: int = 0
    stream_state: StreamState | None = None
    stream_started_at: float | None = None
    stream_chunks: list[JSONDict] = field(default_factory=list)
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None

    @property
    def is_bot(self) -> bool:
        """Posted by the app (as opposed to a person)."""
        return self.bot_id is not None

    @property
    def streaming(self) -> bool:
        """Still accepting chat.appendStream."""
        return self.stream_state == "streaming"

    @property
    def is_reply(self) -> bool:
        """A reply inside a thread (not the thread's parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class EphemeralMessage:
    """A message only one user saw (chat.postEphemeral)."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[JSONDict]
    thread_ts: str | None = None


@dataclass
class EmulatedView:
    """A modal opened for one user."""

    id: str
    user_id: str
    trigger_id: str
    definition: JSONDict
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    is_open: bool = True
    errors: dict[str, str] | None = None

    @property
    def blocks(self) -> list[JSONDict]:
        """The view's blocks, with the ids Slack filled in."""
        return list(self.definition.get("blocks", []))

    @property
    def private_metadata(self) -> str:
        """What the app stored in the view for itself."""
        return str(self.definition.get("private_metadata", ""))

    @property
    def callback_id(self) -> str:
        """The app's name for this kind of view."""
        return str(self.definition.get("callback_id", ""))

    @property
    def external_id(self) -> str:
        """The app's unique id for this view, if it set one."""
        return str(self.definition.get("external_id", ""))

    @property
    def title(self) -> str:
        """The title text shown at the top of the modal."""
        title = self.definition.get("title") or {}
        return str(title.get("text", ""))


@dataclass
class ThreadStatus:
    """The assistant status line shown under a thread ("is thinking...")."""

    channel_id: str
    thread_ts: str
    status: str
    loading_messages: list[str] | None = None


@dataclass
class EmulatedUser:
    """A member of the emulated workspace."""

    id: str
    name: str
    real_name: str
    team_id: str
    is_bot: bool = False


@dataclass(frozen=True)
class EmulatedUserGroup:
    """A user group (``@handle``) of the emulated workspace and its members."""

    id: str
    handle: str
    user_ids: tuple[str, ...]


@dataclass
class Trigger:
    """A trigger_id handed out with an interaction: one view, within its lifetime."""

    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl:
    """A response_url handed out with an interaction on a message."""

    channel: str
    message_ts: str
    user_id: str
    issued_at: float
    uses: int = 0
