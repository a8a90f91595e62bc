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
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.approvals import Approval, is_system_actor
from slack_hitl.background import BackgroundTasks
from slack_hitl.engine import FAILED_SWEEP_PAUSE_SECONDS, TIMER_SLACK_SECONDS, ContinuationSink, Publisher
from slack_hitl.errors import SlackHitlError, UnknownApproval
from slack_hitl.requirements import Requirement
from slack_hitl.slack.client import BotIdentityCache, slack_error
from slack_hitl.slack.limits import validate_message
from slack_hitl.slack.markdown import escape_cut, split_mrkdwn, to_mrkdwn
from slack_hitl.slack.preflight import check_fits_slack
from slack_hitl.slack.render import MessagePart, escalation_text, reminder_text, render_approval
from slack_hitl.slack.streaming import StreamLimits, ThreadStream, ThreadTarget
from slack_hitl.store import PostedPart, SlackMessages, Store
from slack_hitl.store.wakeups import Subscription

log = structlog.get_logger("slack_hitl.slack.publisher")

SHOWN_CACHE_SIZE = 4096
"""Approvals whose message parts the publisher remembers instead of reading them on every re-render."""
NOTE_CHARS = 3_900
"""Characters per reply of a note (Slack shows a message of more than 4,000 cut, behind "Show more")."""
UNPOSTED_GRACE_SECONDS = 30.0
"""How old an approval without a message must be before a sweep posts it (the opener may still be posting)."""
POST_CLAIM_SECONDS = 30.0
"""How long a process's claim to post an approval holds after its last try (it is renewed while a
try is under way). A claim that ran out lets a sweep (of any process) try again: it is also the
pause between one process giving up and the next try, while Slack is down."""
FIRST_POST_SECONDS = 5.0
"""How long the opener waits for the first post before leaving it to the background (a caller of
``POST /v1/approvals`` waits that long at most, however Slack fails)."""
MESSAGE_EVENT_TYPE = "slack_hitl_approval"
"""The event type of the metadata each part of an approval's message carries: a post whose answer
was lost is found by it, and not made twice."""
FIND_POSTED_LIMIT = 200
"""How many of a channel's newest messages are looked through for an approval's lost post."""
FIND_IN_THREAD_LIMIT = 1000
"""How many replies of a thread are looked through for a lost part (Slack's most per page)."""


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
        self.rendered_listeners: list[Callable[[Approval], None]] = []
        """Told of each approval whose message now shows its stored state (the App Home refreshes on it)."""
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
            async with asyncio.timeout(FIRST_POST_SECONDS):
                await self._render(approval.id)
        except SlackApiError as error:
            code = str(error.response.get("error", ""))
            if code in PERMANENT_POST_ERRORS:
                log.warning("post_refused", approval_id=approval.id, error=code)
                raise ApprovalNotPosted(approval.id, code) from None
            log.warning("post_failed_will_retry", approval_id=approval.id, error=_describe(error))
            self._render_soon(approval.id)
        except (OSError, aiohttp.ClientError) as error:  # TimeoutError too: the deadline above, or the HTTP one
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

    async def remind(self, approval: Approval, number: int) -> bool:
        return await self._post_in_thread(approval, reminder_text(approval, number), "reminder")

    async def escalated(self, approval: Approval) -> bool:
        return await self._post_in_thread(approval, escalation_text(approval), "escalation")

    async def _post_in_thread(self, approval: Approval, text: str, what: str) -> bool:
        """One reply of ready mrkdwn (its mentions notify) in the approval's thread."""
        target = _thread_of(approval)
        if target is None:
            return False
        try:
            await self.client.chat_postMessage(channel=target[0], thread_ts=target[1], text=text)
        except SlackApiError as failure:
            log.warning(f"{what}_not_posted", approval_id=approval.id, error=slack_error(failure))
            return False
        log.info(f"{what}_posted", approval_id=approval.id)
        return True

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
        stale = await self._out_of_date()
        for approval_id in stale:
            self.approval_changed(approval_id)
        if stale:
            log.info("stale_messages_scheduled", stale=len(stale))
        return len(stale)

    async def run_stale_sweeper(self, interval_seconds: float = 30.0, *, wakeups: Subscription | None = None) -> None:
        """Re-render out-of-date messages and post unposted approvals forever (cancel the task to
        stop): at once when ``wakeups`` says another process changed or opened an approval, and every
        ``interval_seconds`` in any case, which catches work other processes dropped and posts what
        Slack refused while it was down."""
        while True:
            pause = await self._until_unposted_due(interval_seconds)
            if wakeups is None:
                await asyncio.sleep(pause)
            else:
                await wakeups.wait(pause)
            try:
                for approval_id in await self._out_of_date():
                    if not self._workers.running(approval_id):
                        self.approval_changed(approval_id)
            except Exception as error:  # a bad pass must not end the sweeper
                log.exception("stale_sweep_failed", error=str(error))
                await asyncio.sleep(FAILED_SWEEP_PAUSE_SECONDS)

    async def _until_unposted_due(self, interval_seconds: float) -> float:
        """Seconds until the next unposted approval falls due for a sweep to post it (an opener that
        died before posting leaves one; nothing wakes a worker for it), at most ``interval_seconds``."""
        now = dt.datetime.now(dt.UTC)
        try:
            due = await self.messages.next_unposted_due(now=now, unposted_after=self.unposted_grace.total_seconds())
        except Exception as error:  # the database is away: the pass after the interval finds out
            log.warning("unposted_due_unknown", error=f"{type(error).__name__}: {error}")
            return interval_seconds
        if due is None:
            return interval_seconds
        return min(interval_seconds, (due - now).total_seconds() + TIMER_SLACK_SECONDS)

    async def _out_of_date(self) -> list[str]:
        return await self.messages.out_of_date(limit=1000, unposted_after=self.unposted_grace.total_seconds())

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
        elif not await self._post(approval, parts):
            return
        await self.messages.mark_rendered(approval_id, approval.version)
        log.debug("rendered", approval_id=approval_id, version=approval.version, parts=len(parts))
        for listener in self.rendered_listeners:
            listener(approval)

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

    async def _post(self, approval: Approval, parts: list[MessagePart]) -> bool:
        """Post the approval's message, unless another process holds the claim to (``False``).

        A post whose answer was lost (a timeout, a 5xx after Slack took it) may have landed: every
        part carries its approval's id in its metadata, and a try after the first looks for the
        parts already in the channel before posting again. A process whose claim ran out while it
        posted, and whose message another process recorded first, deletes its own.
        """
        channel = approval.channel or self.channel
        if channel is None:
            raise NoChannel(f"approval {approval.id} has no channel, and SlackPublisher was given no default channel")
        tries = await self.messages.claim_post(
            approval.id, self.store.owner, seconds=POST_CLAIM_SECONDS, now=dt.datetime.now(dt.UTC)
        )
        if tries is None:
            log.info("post_left_to_another_process", approval_id=approval.id)
            return False
        keeper = asyncio.create_task(self._keep_post_claim(approval.id))
        try:
            return await self._post_claimed(approval, channel, parts, tries)
        finally:
            keeper.cancel()

    async def _keep_post_claim(self, approval_id: str) -> None:
        """Renew the claim while a post is under way: waiting out Retry-After may outlast it."""
        while True:
            await asyncio.sleep(POST_CLAIM_SECONDS / 3)
            renewed = await self.messages.renew_post_claim(
                approval_id, self.store.owner, seconds=POST_CLAIM_SECONDS, now=dt.datetime.now(dt.UTC)
            )
            if not renewed:
                return

    async def _post_claimed(self, approval: Approval, channel: str, parts: list[MessagePart], tries: int) -> bool:
        # Parts already posted by an attempt that failed half-way are not posted twice.
        posted = self._posted.setdefault(approval.id, [])
        if tries > 1 and not posted:
            posted.extend(await self._find_posted(approval, channel, parts))
            if posted:
                log.warning("lost_post_found", approval_id=approval.id, channel=channel, ts=posted[0][1])
        for index in range(len(posted), len(parts)):
            part = parts[index]
            # Slack threads are one level deep: overflow parts of a nested approval share its parent's thread.
            thread_ts = approval.thread_ts if index == 0 or approval.thread_ts else posted[0][1]
            answer = await self.client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                blocks=part.blocks,
                text=part.text,
                metadata={
                    "event_type": MESSAGE_EVENT_TYPE,
                    "event_payload": {"approval_id": approval.id, "part": index},
                },
            )
            posted.append((str(answer["channel"]), str(answer["ts"]), part.first_row, part.last_row))
        recorded = await self.messages.record_posted(approval.id, posted, claimed_by=self.store.owner)
        del self._posted[approval.id]
        if not recorded:
            for part_channel, ts, _, _ in posted:
                with contextlib.suppress(SlackApiError):
                    await self.client.chat_delete(channel=part_channel, ts=ts)
            log.warning("duplicate_post_deleted", approval_id=approval.id, channel=channel, ts=posted[0][1])
            return False
        log.info("approval_posted", approval_id=approval.id, channel=channel, ts=posted[0][1], parts=len(posted))
        return True

    async def _find_posted(
        self, approval: Approval, channel: str, parts: list[MessagePart]
    ) -> list[tuple[str, str, int, int]]:
        """The approval's parts already in Slack (by their metadata), from the first on, as ``_post`` records them."""
        # The newest messages of the channel (newest first), or the thread's (the whole of it):
        # a lost post is recent. Not bounded by time: a message's ts is Slack's clock, not ours.
        if approval.thread_ts:
            answer = await self.client.conversations_replies(
                channel=channel, ts=approval.thread_ts, limit=FIND_IN_THREAD_LIMIT, include_all_metadata=True
            )
        else:
            answer = await self.client.conversations_history(
                channel=channel, limit=FIND_POSTED_LIMIT, include_all_metadata=True
            )
        found = _parts_of(approval.id, answer.get("messages") or [])
        if 0 in found and len(parts) > 1 and not approval.thread_ts:
            thread = await self.client.conversations_replies(
                channel=channel, ts=found[0], limit=FIND_IN_THREAD_LIMIT, include_all_metadata=True
            )
            found.update(_parts_of(approval.id, thread.get("messages") or []))
        posted = []
        for index, part in enumerate(parts):
            if index not in found:
                break
            posted.append((channel, found[index], part.first_row, part.last_row))
        return posted

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


def _parts_of(approval_id: str, messages: list[dict[str, Any]]) -> dict[int, str]:
    """Part number -> ts of the messages among ``messages`` that show a part of the approval."""
    found: dict[int, str] = {}
    for message in messages:
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        part = payload.get("part")
        if (
            metadata.get("event_type") == MESSAGE_EVENT_TYPE
            and payload.get("approval_id") == approval_id
            and isinstance(part, int)
        ):
            found.setdefault(part, str(message["ts"]))
    return found


def _describe(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return slack_error(error)
    return f"{type(error).__name__}: {error}"
