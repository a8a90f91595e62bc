"""Keep an approval's Slack message true: post it, re-render it after changes, stream the continuation.

Re-rendering is coalesced per approval: ``approval_changed`` only marks the approval dirty
and makes sure one worker will, after a short window, render the latest state and
``chat.update`` every part of the message. Changes that land while an update is in flight
cause one more pass, so a burst of decisions costs a handful of updates, not one each.
The store knows which messages are out of date (``rendered_version < version``), so an
update that was due when the process died is done on the next start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.approvals import Approval, is_system_actor
from slack_hitl.background import BackgroundTasks
from slack_hitl.engine import FAILED_SWEEP_PAUSE_SECONDS, ContinuationSink, Publisher
from slack_hitl.errors import SlackHitlError, UnknownApproval
from slack_hitl.requirements import Requirement
from slack_hitl.slack.client import BotIdentityCache, slack_error
from slack_hitl.slack.limits import validate_message
from slack_hitl.slack.markdown import escape_cut, split_mrkdwn, to_mrkdwn
from slack_hitl.slack.preflight import check_fits_slack
from slack_hitl.slack.render import MessagePart, render_approval
from slack_hitl.slack.streaming import StreamLimits, ThreadStream, ThreadTarget
from slack_hitl.store import PostedPart, SlackMessages, Store

log = structlog.get_logger("slack_hitl.slack.publisher")

SHOWN_CACHE_SIZE = 4096
"""Approvals whose message parts the publisher remembers instead of reading them on every re-render."""
NOTE_CHARS = 3_900
"""Characters per reply of a note (Slack shows a message of more than 4,000 cut, behind "Show more")."""
UNPOSTED_GRACE_SECONDS = 30.0
"""How old an approval without a message must be before a restart posts it (the opener may still be posting)."""


class NoChannel(SlackHitlError, ValueError):
    """An approval has no channel and the publisher was given no default channel."""


class ApprovalNotPosted(SlackHitlError):
    """Slack refused to post the approval for a reason retrying cannot fix (``slack_error`` says which)."""

    def __init__(self, approval_id: str, slack_error: str) -> None:
        self.approval_id = approval_id
        self.slack_error = slack_error
        super().__init__(f"Slack refused to post approval {approval_id}: {slack_error}")


# Refusals that mean "this channel or this app will not take the message": retrying cannot help.
PERMANENT_POST_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "invalid_thread_ts",
        "thread_not_found",
    }
)


class SlackPublisher(Publisher):
    """Shows approvals in Slack through ``client``; ``channel`` is where approvals without one are posted."""

    def __init__(
        self,
        client: AsyncWebClient,
        store: Store,
        *,
        channel: str | None = None,
        update_window_seconds: float = 0.4,
        retry_seconds: float = 2.0,
        max_render_attempts: int = 6,
        max_concurrent_renders: int = 4,
        rows_per_part: int | None = None,
        stream_limits: StreamLimits | None = None,
        rerenders: bool = True,
    ) -> None:
        self.client = client
        self.rerenders = rerenders
        """Whether this process keeps posted messages true. Off in the web process of a service whose
        worker processes do it (they find out-of-date messages in the store): it only posts new ones."""
        self.store = store
        self.messages = SlackMessages(store)
        """Where each approval is shown, and which version its message shows."""
        self.channel = channel
        self.update_window_seconds = update_window_seconds
        self.retry_seconds = retry_seconds
        self.max_render_attempts = max_render_attempts
        self.rows_per_part = rows_per_part
        self.stream_limits = stream_limits or StreamLimits()
        self.unposted_grace = dt.timedelta(seconds=UNPOSTED_GRACE_SECONDS)
        self.identity = BotIdentityCache(client)
        # Few renders at a time: under load, a waiting approval gathers more changes into one
        # update, and acks keep the CPU (Slack allows only ~50 chat.update a minute anyway).
        self._render_slots = asyncio.Semaphore(max_concurrent_renders)
        self._dirty: set[str] = set()
        self._workers = BackgroundTasks()
        """One per approval with changes to show, keyed by its id."""
        self._posted: dict[str, list[tuple[str, str, int, int]]] = {}
        self._shown: dict[str, list[PostedPart]] = {}
        """Where each approval's message parts are, as the store says: they never move once posted."""
        self._noted: dict[tuple[str, str], int] = {}
        """Notes Slack failed half-way through: (approval id, text hash) -> replies already posted."""

    # -- what the engine tells us ------------------------------------------------------------

    async def check_approval(self, title: str, requirements: Sequence[Requirement]) -> None:
        # Building every row's modal is CPU work that grows with the rows: off the event loop.
        await asyncio.to_thread(check_fits_slack, title, requirements)

    async def approval_opened(self, approval: Approval) -> None:
        """Post the approval's message now; if Slack fails, keep trying in the background."""
        if approval.channel is None and self.channel is None:
            raise NoChannel(f"approval {approval.id} has no channel, and SlackPublisher was given no default channel")
        try:
            await self._render(approval.id)
        except SlackApiError as error:
            code = str(error.response.get("error", ""))
            if code in PERMANENT_POST_ERRORS:
                log.warning("post_refused", approval_id=approval.id, error=code)
                raise ApprovalNotPosted(approval.id, code) from None
            log.warning("post_failed_will_retry", approval_id=approval.id, error=_describe(error))
            self._render_soon(approval.id)
        except OSError as error:
            log.warning("post_failed_will_retry", approval_id=approval.id, error=_describe(error))
            self._render_soon(approval.id)

    def approval_changed(self, approval_id: str) -> None:
        """Mark the approval's message out of date; one worker per approval re-renders it soon."""
        if self.rerenders:
            self._render_soon(approval_id)

    def _render_soon(self, approval_id: str) -> None:
        self._dirty.add(approval_id)
        if not self._workers.running(approval_id):
            self._workers.spawn(self._keep_fresh(approval_id), key=approval_id)

    def continuation(self, approval: Approval) -> AbstractAsyncContextManager[ContinuationSink]:
        return self._continuation(approval)

    async def resume_failed(self, approval: Approval, error: str) -> None:
        """Say in the thread that the resume failed; the message's Retry button comes with its re-render."""
        target = _thread_of(approval)
        if target is None:
            log.warning("resume_failure_not_shown", approval_id=approval.id, error=error)
            return
        text = (
            f":warning: Resuming the run failed (attempt {approval.attempts}): `{escape_cut(error, 3000)}`\n"
            "Every decision is kept; press *Retry* on the approval to try again."
        )
        try:
            await self.client.chat_postMessage(channel=target[0], thread_ts=target[1], text=text)
        except SlackApiError as failure:
            log.warning("resume_failure_not_posted", approval_id=approval.id, error=slack_error(failure))

    async def post_note(self, approval: Approval, text: str) -> bool:
        """Post ``text`` in the approval's thread, in as many numbered replies as it takes (none is cut)."""
        target = _thread_of(approval)
        if target is None:
            return False
        pieces = split_mrkdwn(to_mrkdwn(text), NOTE_CHARS)
        key = (approval.id, hashlib.sha256(text.encode()).hexdigest())
        # A retry after Slack failed half-way goes on from the first reply not yet posted.
        posted = self._noted.get(key, 0)
        try:
            for number in range(posted + 1, len(pieces) + 1):
                piece = pieces[number - 1]
                numbered = f"_({number}/{len(pieces)})_\n{piece}" if len(pieces) > 1 else piece
                await self.client.chat_postMessage(channel=target[0], thread_ts=target[1], text=numbered)
                self._noted[key] = number
        except SlackApiError as failure:
            log.warning("note_not_posted", approval_id=approval.id, error=slack_error(failure))
            return False
        self._noted.pop(key, None)
        log.info("note_posted", approval_id=approval.id, replies=len(pieces))
        return True

    # -- start, stop, wait -------------------------------------------------------------------

    async def rerender_stale(self) -> int:
        """Re-render every message the store knows to be out of date, and post approvals that never were.

        Run on start: updates that were due when the last process stopped are done now.
        """
        stale = await self.messages.out_of_date(limit=1000)
        for approval_id in stale:
            self.approval_changed(approval_id)
        unposted = [
            approval.id
            for approval in await self.store.list_approvals(status="pending", limit=200)
            if approval.message_ts is None and dt.datetime.now(dt.UTC) - approval.created_at >= self.unposted_grace
        ]
        for approval_id in unposted:
            self.approval_changed(approval_id)
        if stale or unposted:
            log.info("stale_messages_scheduled", stale=len(stale), unposted=len(unposted))
        return len(stale) + len(unposted)

    async def run_stale_sweeper(self, interval_seconds: float = 30.0) -> None:
        """Re-render out-of-date messages forever (cancel the task to stop): catches work other processes dropped."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                for approval_id in await self.messages.out_of_date(limit=1000):
                    if not self._workers.running(approval_id):
                        self.approval_changed(approval_id)
            except Exception as error:  # a bad pass must not end the sweeper
                log.exception("stale_sweep_failed", error=str(error))
                await asyncio.sleep(FAILED_SWEEP_PAUSE_SECONDS)

    @property
    def busy(self) -> bool:
        """Whether a re-render is due or running."""
        return bool(self._dirty) or self._workers.busy

    async def drain(self) -> None:
        """Wait until every due re-render has been done (or given up)."""
        await self._workers.drain()

    async def close(self) -> None:
        """Stop re-rendering; what is still due stays marked in the store for the next start."""
        await self._workers.cancel()
        self._dirty.clear()

    # -- rendering ---------------------------------------------------------------------------

    async def _keep_fresh(self, approval_id: str) -> None:
        failures = 0
        while approval_id in self._dirty:
            await asyncio.sleep(self.update_window_seconds)
            try:
                async with self._render_slots:
                    # Cleared only now: changes made while waiting for a slot are in this pass.
                    self._dirty.discard(approval_id)
                    await self._render(approval_id)
            except UnknownApproval:
                return
            except Exception as error:  # Slack or the database failed; the store still says it is stale
                failures += 1
                bound = log.bind(approval_id=approval_id, attempt=failures, error=_describe(error))
                if failures >= self.max_render_attempts:
                    bound.error("render_given_up")
                    return
                bound.warning("render_failed_will_retry")
                self._dirty.add(approval_id)
                await asyncio.sleep(self.retry_seconds * 2 ** (failures - 1))
            else:
                failures = 0

    async def _render(self, approval_id: str) -> None:
        """One pass: render the stored state, post or update every part, then record the version shown."""
        approval = await self.store.get(approval_id)
        # Rendering is pure CPU; in a thread, the GIL hands the loop back every few ms, so
        # acks are not held up behind a large message.
        parts = await asyncio.to_thread(self._render_parts, approval)
        shown = await self._messages(approval_id)
        if shown:
            await self._update(approval, parts, shown)
        else:
            await self._post(approval, parts)
        await self.messages.mark_rendered(approval_id, approval.version)
        log.debug("rendered", approval_id=approval_id, version=approval.version, parts=len(parts))

    async def _messages(self, approval_id: str) -> list[PostedPart]:
        shown = self._shown.get(approval_id)
        if shown is None:
            shown = await self.messages.parts(approval_id)
            if shown:  # not yet posted: ask again next time
                if len(self._shown) >= SHOWN_CACHE_SIZE:
                    self._shown.clear()
                self._shown[approval_id] = shown
        return shown

    def _render_parts(self, approval: Approval) -> list[MessagePart]:
        parts = render_approval(approval, rows_per_part=self.rows_per_part)
        for part in parts:
            validate_message(part.blocks, part.text)
        return parts

    async def _post(self, approval: Approval, parts: list[MessagePart]) -> None:
        channel = approval.channel or self.channel
        if channel is None:
            raise NoChannel(f"approval {approval.id} has no channel, and SlackPublisher was given no default channel")
        # Parts already posted by an attempt that failed half-way are not posted twice.
        posted = self._posted.setdefault(approval.id, [])
        for index in range(len(posted), len(parts)):
            part = parts[index]
            # Slack threads are one level deep: overflow parts of a nested approval share its parent's thread.
            thread_ts = approval.thread_ts if index == 0 or approval.thread_ts else posted[0][1]
            answer = await self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, blocks=part.blocks, text=part.text
            )
            posted.append((str(answer["channel"]), str(answer["ts"]), part.first_row, part.last_row))
        await self.messages.record_posted(approval.id, posted)
        del self._posted[approval.id]
        log.info("approval_posted", approval_id=approval.id, channel=channel, ts=posted[0][1], parts=len(posted))

    async def _update(self, approval: Approval, parts: list[MessagePart], shown: list[PostedPart]) -> None:
        if len(parts) != len(shown):
            log.warning("part_count_changed", approval_id=approval.id, shown=len(shown), rendered=len(parts))
        for part, message in zip(parts, shown, strict=False):
            await self.client.chat_update(channel=message.channel, ts=message.ts, blocks=part.blocks, text=part.text)

    # -- the continuation --------------------------------------------------------------------

    @asynccontextmanager
    async def _continuation(self, approval: Approval) -> AsyncIterator[ContinuationSink]:
        target = await self._stream_target(approval)
        if target is None:
            log.warning("continuation_not_shown", approval_id=approval.id)
            yield ContinuationSink()
            return
        stream = ThreadStream(self.client, target, self.stream_limits)
        await stream.open()
        try:
            yield stream
        finally:
            await stream.close()

    async def _stream_target(self, approval: Approval) -> ThreadTarget | None:
        thread = _thread_of(approval)
        if thread is None:
            return None
        try:
            identity = await self.identity.get()
        except SlackApiError as error:
            log.warning("auth_test_failed", approval_id=approval.id, error=slack_error(error))
            return None
        deciders = [row for row in approval.rows if row.decided_at and row.decided_by]
        last = max(deciders, key=lambda row: row.decided_at) if deciders else None  # type: ignore[arg-type, return-value]
        person = last.decided_by if last is not None and not is_system_actor(last.decided_by) else None
        return ThreadTarget(
            channel=thread[0],
            thread_ts=thread[1],
            recipient_user_id=person or identity.user_id,
            recipient_team_id=identity.team_id,
            approval_id=approval.id,
        )


def _thread_of(approval: Approval) -> tuple[str, str] | None:
    """(channel, thread ts) where the approval's replies go: its own thread, or its parent's for a nested one."""
    thread_ts = approval.thread_ts or approval.message_ts
    if approval.channel is None or thread_ts is None:
        return None
    return approval.channel, thread_ts


def _describe(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return slack_error(error)
    return f"{type(error).__name__}: {error}"
