"""The continuation of a resumed run, streamed as replies in the approval's thread.

Text goes out through Slack's streaming methods (``chat.startStream`` / ``appendStream`` /
``stopStream``, via slack_sdk's ``chat_stream``). Slack caps a streamed message at 12,000
characters and closes a stream after about 5 minutes, so a long continuation rotates to a new
message before either. Where streaming is refused, the same text is posted with
``chat.postMessage`` and kept up to date with throttled ``chat.update`` calls.

Showing the continuation must never fail the run: a Slack error is logged and the sink
carries on (in a new message, or in fallback mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.engine import ContinuationSink
from slack_hitl.events import ContinuationEvent, Done, NestedPause, Status, TextDelta, ToolProgress
from slack_hitl.slack.client import slack_error
from slack_hitl.slack.documented_limits import MESSAGE_TEXT, STREAM_SECONDS, STREAM_TEXT, slack_length, slack_prefix
from slack_hitl.slack.markdown import cut, escape, to_mrkdwn

log = structlog.get_logger("slack_hitl.slack.streaming")

THINKING = "is thinking..."

_TOOL_MARKS = {"started": "⏳", "finished": "✅", "failed": "❌", "skipped": "⏭️"}


@dataclass(frozen=True)
class StreamLimits:
    """When to start a new reply. The defaults stay clear of Slack's limits; tests shrink them.

    Characters are counted as Slack counts them, in UTF-16 units (``slack_length``).
    """

    stream_chars: int = STREAM_TEXT - 500
    """Characters per streamed message (Slack refuses more than 12,000)."""
    stream_seconds: float = STREAM_SECONDS - 30
    """Age of a streamed message before rotating (Slack closes streams after about 5 minutes)."""
    stream_buffer_chars: int = 256
    """Text buffered before a ``chat.appendStream`` call (fewer calls, same text)."""
    flush_seconds: float = 1.0
    """Buffered text older than this goes out with the next event."""
    fallback_chars: int = MESSAGE_TEXT - 100
    """Characters per posted message in fallback mode (chat.update refuses more than 4,000)."""
    fallback_update_seconds: float = 1.0
    """At most one ``chat.update`` per message per this many seconds in fallback mode."""
    thinking_delay_seconds: float = 0.5
    """How long a run works unheard before the "thinking" status shows. A run that replies or
    finishes sooner never flashes it, and spares Slack's setStatus budget (about 60 a minute)."""


class StreamRefused(Exception):
    """Slack would not start a stream here; ``text`` is what was meant to go in it."""

    def __init__(self, text: str, error: str) -> None:
        super().__init__(f"chat.startStream refused: {error}")
        self.text = text


@dataclass(frozen=True)
class ThreadTarget:
    """Where a continuation goes and to whom Slack attributes the stream."""

    channel: str
    thread_ts: str
    recipient_user_id: str
    recipient_team_id: str
    approval_id: str = ""


class _StreamedReply:
    """A reply written with chat.startStream / appendStream / stopStream."""

    def __init__(self, client: AsyncWebClient, target: ThreadTarget, limits: StreamLimits) -> None:
        self._client = client
        self._target = target
        self._limits = limits
        self._stream: AsyncChatStream | None = None
        self._flushed_at = time.monotonic()
        self.unflushed = ""
        """Text written but not yet accepted by Slack: carried into the next reply if this one breaks."""
        self.chars = 0
        self.started_at = time.monotonic()

    async def write(self, text: str, *, flush: bool = False) -> None:
        if self._stream is None:
            self._stream = await self._client.chat_stream(
                buffer_size=self._limits.stream_buffer_chars,
                channel=self._target.channel,
                thread_ts=self._target.thread_ts,
                recipient_user_id=self._target.recipient_user_id,
                recipient_team_id=self._target.recipient_team_id,
            )
        # Escaped as the posted fallback escapes it (to_mrkdwn): a run's text cannot ping
        # (<!channel>, <@U...>, <!subteam^...>) or hide a link behind a label (<url|label>).
        # Per character, so a token split across two deltas is escaped as well.
        escaped = escape(text)
        self.chars += slack_length(escaped)
        self.unflushed += text
        due = flush or time.monotonic() - self._flushed_at >= self._limits.flush_seconds
        try:
            # chunks=[] makes ChatStream send its buffer now instead of waiting for it to fill.
            sent = await self._stream.append(markdown_text=escaped, chunks=[] if due else None)
        except SlackApiError as error:
            if self._stream.ts is None:
                raise StreamRefused(self.unflushed, slack_error(error)) from error
            raise
        if sent is not None:
            self.unflushed = ""
            self._flushed_at = time.monotonic()

    async def finish(self) -> None:
        if self._stream is None or self.chars == 0:
            return
        try:
            await self._stream.stop()
        except SlackApiError as error:
            if self._stream.ts is None:
                raise StreamRefused(self.unflushed, slack_error(error)) from error
            raise
        self.unflushed = ""


class _PostedReply:
    """A reply written with chat.postMessage and throttled chat.update (where streaming is refused)."""

    def __init__(self, client: AsyncWebClient, target: ThreadTarget, limits: StreamLimits) -> None:
        self._client = client
        self._target = target
        self._limits = limits
        self._markdown = ""
        self._ts: str | None = None
        self._shown = ""
        self._updated_at = 0.0
        self._later: asyncio.Task[None] | None = None
        self._showing = asyncio.Lock()
        self.started_at = time.monotonic()

    def fitting(self, text: str) -> int:
        """How many characters of ``text`` fit, measured as the mrkdwn that is sent (escaping grows text)."""

        def fits(count: int) -> bool:
            return slack_length(to_mrkdwn(self._markdown + text[:count])) <= self._limits.fallback_chars

        count = len(text)
        while count > 1 and not fits(count):
            count = count * 3 // 4
        # A fresh reply always takes something, or a long first piece would never be written.
        return count if fits(count) or not self._markdown else 0

    async def write(self, text: str, *, flush: bool = False) -> None:
        self._markdown += text
        if self._ts is None or flush:
            await self._show()
            return
        if self._later is not None and not self._later.done():
            return  # the update already scheduled shows this text too; a direct one now would be a second
        wait = self._limits.fallback_update_seconds - (time.monotonic() - self._updated_at)
        if wait <= 0:
            await self._show()
        else:
            self._later = asyncio.create_task(self._show_after(wait))

    async def _show_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self._show()
        except SlackApiError as error:
            log.warning("continuation_update_failed", approval_id=self._target.approval_id, error=slack_error(error))

    async def _show(self) -> None:
        # One update at a time: a scheduled update that falls due while another is on its way
        # waits for it, then finds the text shown already instead of sending it a second time.
        async with self._showing:
            text = to_mrkdwn(self._markdown).strip() or "…"
            if text == self._shown:
                return
            self._updated_at = time.monotonic()
            if self._ts is None:
                answer = await self._client.chat_postMessage(
                    channel=self._target.channel, thread_ts=self._target.thread_ts, text=text
                )
                self._ts = str(answer["ts"])
            else:
                await self._client.chat_update(channel=self._target.channel, ts=self._ts, text=text)
            self._shown = text

    async def finish(self) -> None:
        if self._later is not None:
            self._later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._later
        if self._markdown.strip():
            await self._show()


_Reply = _StreamedReply | _PostedReply

MAX_BROKEN_STREAMS = 3
"""Streams that may break in a row before the rest of the continuation is posted instead."""


class ThreadStream(ContinuationSink):
    """Streams a resumed run's events into the approval's thread; see the module docstring."""

    def __init__(self, client: AsyncWebClient, target: ThreadTarget, limits: StreamLimits | None = None) -> None:
        self._client = client
        self.target = target
        self.limits = limits or StreamLimits()
        self._reply: _Reply | None = None
        self.streaming = True
        """False once Slack refused a stream: the rest goes out as posted messages."""
        self.replies = 0
        """Reply messages started so far (rotation and fallback start new ones)."""
        self._broken = 0
        self._wrote_text = False
        self._status_shown = False
        self._thinking: asyncio.Task[None] | None = None
        self._thinking_due = False
        self._log = log.bind(approval_id=target.approval_id)

    async def open(self) -> None:
        """Show the "thinking" status under the thread if the run has not replied within ``thinking_delay_seconds``."""
        if self.limits.thinking_delay_seconds <= 0:
            await self._set_status(THINKING)
        else:
            self._thinking = asyncio.create_task(self._think_after(self.limits.thinking_delay_seconds))

    async def send(self, event: ContinuationEvent) -> None:
        if not isinstance(event, TextDelta) or event.text:
            await self._stop_thinking()  # the run spoke: the thread shows it is alive
        if isinstance(event, Status):
            await self._set_status(event.text)
        elif isinstance(event, TextDelta):
            if event.text:
                self._wrote_text = True
                await self._write(event.text)
        elif isinstance(event, ToolProgress):
            detail = f": {event.detail}" if event.detail else ""
            mark = _TOOL_MARKS.get(event.state, "•")
            await self._write(f"\n{mark} `{event.name}` {event.state}{detail}\n", flush=True)
        elif isinstance(event, NestedPause):
            # End this reply, so the new approval's message comes below what led to it.
            await self._write(f"\n\n_The run paused again: {event.title} needs a decision below._\n")
            await self._finish_reply()
        elif isinstance(event, Done):
            if event.summary and not self._wrote_text:
                await self._write(event.summary)
            await self.close()

    async def close(self) -> None:
        """End the current reply and clear the status. Safe to call more than once."""
        await self._stop_thinking()
        await self._finish_reply()
        if self._status_shown:
            await self._set_status("")

    async def _think_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._thinking_due = True
        await self._set_status(THINKING)

    async def _stop_thinking(self) -> None:
        thinking, self._thinking = self._thinking, None
        if thinking is None:
            return
        if not self._thinking_due:
            thinking.cancel()
        # A status already on its way is let through, so that close() knows to clear it.
        with contextlib.suppress(asyncio.CancelledError):
            await thinking

    # -- writing with rotation -----------------------------------------------------------------

    async def _write(self, text: str, *, flush: bool = False) -> None:
        while text:
            reply = self._current_reply()
            count = self._fitting(reply, text)
            if count <= 0:
                await self._finish_reply()
                continue
            piece, text = _split(text, count)
            await self._write_piece(reply, piece, flush=flush or bool(text))

    def _fitting(self, reply: _Reply, text: str) -> int:
        if isinstance(reply, _PostedReply):
            return reply.fitting(text)
        if reply.chars and time.monotonic() - reply.started_at >= self.limits.stream_seconds:
            return 0
        room = self.limits.stream_chars - reply.chars
        count = len(slack_prefix(text, room))
        while count > 0 and (over := slack_length(escape(text[:count])) - room) > 0:
            count -= max(over // 4, 1)  # escaping makes a character at most 5 long (& -> &amp;)
        return count

    async def _write_piece(self, reply: _Reply, piece: str, *, flush: bool) -> None:
        try:
            await reply.write(piece, flush=flush)
        except StreamRefused as refused:
            self._log.warning("stream_refused_falling_back", error=str(refused))
            self.streaming = False
            await self._carry_over(refused.text)
        except SlackApiError as error:
            if isinstance(reply, _PostedReply):
                # The text stays in the reply and goes out with its next update.
                self._log.warning("continuation_update_failed", error=slack_error(error))
                return
            # The stream died under us (closed by Slack, rate limited past every retry...).
            self._log.warning("stream_broken_rotating", error=slack_error(error))
            self._broken += 1
            await self._carry_over(reply.unflushed)
        else:
            self._broken = 0

    async def _carry_over(self, text: str) -> None:
        """Start a new reply with what the broken or refused one did not take."""
        self._reply = None
        if self._broken >= MAX_BROKEN_STREAMS:
            self.streaming = False
        if text:
            await self._write(text, flush=True)

    def _current_reply(self) -> _Reply:
        if self._reply is None:
            self._reply = (
                _StreamedReply(self._client, self.target, self.limits)
                if self.streaming
                else _PostedReply(self._client, self.target, self.limits)
            )
            self.replies += 1
        return self._reply

    async def _finish_reply(self) -> None:
        reply, self._reply = self._reply, None
        if reply is None:
            return
        try:
            await reply.finish()
        except StreamRefused as refused:
            self.streaming = False
            await self._carry_over(refused.text)
            await self._finish_reply()
        except SlackApiError as error:
            self._log.warning("reply_not_finished", error=slack_error(error))
            if isinstance(reply, _StreamedReply) and reply.unflushed:
                self._broken += 1
                await self._carry_over(reply.unflushed)
                await self._finish_reply()

    async def _set_status(self, status: str) -> None:
        try:
            await self._client.assistant_threads_setStatus(
                channel_id=self.target.channel, thread_ts=self.target.thread_ts, status=cut(status, 100)
            )
        except SlackApiError as error:
            # A status is a courtesy; apps without the assistant feature cannot set one.
            self._log.info("status_not_set", error=slack_error(error))
            return
        self._status_shown = bool(status)


def _split(text: str, room: int) -> tuple[str, str]:
    """The part of ``text`` that fits in ``room`` characters (at a line break when there is one), and the rest."""
    if len(text) <= room:
        return text, ""
    cut_at = text.rfind("\n", 0, room)
    if cut_at < room // 2:
        cut_at = room
    return text[:cut_at], text[cut_at:]
