"""The App Home tab as an inbox: the rows a person may still decide, and what they decided lately.

``render_home`` is pure: the viewer's inbox in, a ``home`` view out. Each row shows its
approval's title, a link to the approval's message and, for a confirmation row decided by a
click, the very buttons its message shows (same action ids and values), so a click in the tab
is decided by the same ``InteractionHandler`` as a click in the message. Other rows link to the
message, where their form opens.

``AppHome`` publishes it (``views.publish``) when a person opens the tab (``app_home_opened``)
and again whenever an approval they may decide, or decided, changes: the publisher calls
``approval_changed`` after re-rendering the message, in whichever process decided the row, so
the tab stays true however the row was decided (in the message, in the tab, through ``/v1``,
on another host) for the people it names and those who decided its rows; rows of a user group
or open to anyone are refreshed for the people who opened the tab in this process (and for
everyone the next time they open it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Coroutine, Iterable
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.approvals import Actor, Approval
from slack_hitl.background import BackgroundTasks
from slack_hitl.inbox import InboxRow, decidable_rows, decided_by, pending_approvals
from slack_hitl.slack.client import UserGroupDirectory, slack_error
from slack_hitl.slack.markdown import escape, escape_line
from slack_hitl.slack.mentions import is_user_id
from slack_hitl.slack.render import choice_buttons
from slack_hitl.store import Store

log = structlog.get_logger("slack_hitl.slack.app_home")

HOME_BLOCKS = 100
"""Slack's limit on the blocks of a home tab."""
RECENT_DECISIONS = 10
"""How many of the viewer's own recent decisions the tab lists."""
RECENT_APPROVALS = 50
"""How many of the newest approvals the viewer's recent decisions are looked for in."""
TITLE_CHARS = 300


def render_home(
    waiting: list[InboxRow], recent: list[InboxRow], permalinks: dict[str, str], *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The home view for a viewer whose inbox is ``waiting`` (newest first) and ``recent`` (their decisions)."""
    blocks: list[dict[str, Any]] = [_header(f"Waiting for you ({len(waiting)})")]
    room = HOME_BLOCKS - 4 - (2 + len(recent) if recent else 0)
    shown = 0
    for item in waiting:
        row_blocks = _waiting_row(item, permalinks.get(item.approval.id))
        if len(row_blocks) > room:
            break
        blocks += row_blocks
        room -= len(row_blocks)
        shown += 1
    if not waiting:
        blocks.append(_section("Nothing waits for you. :white_check_mark:"))
    elif shown < len(waiting):
        blocks.append(_context(f"{len(waiting) - shown} more not shown; decide these first."))
    if recent:
        blocks += [{"type": "divider"}, _header("You decided recently")]
        blocks += [_recent_row(item, permalinks.get(item.approval.id)) for item in recent]
    return {"type": "home", "blocks": blocks}


def _waiting_row(item: InboxRow, permalink: str | None) -> list[dict[str, Any]]:
    requirement = item.row.requirement
    lines = [f"*{escape_line(item.approval.title, TITLE_CHARS)}*", f"{escape_line(requirement.title, TITLE_CHARS)}"]
    if permalink:
        lines.append(f"<{permalink}|Open the message>")
    section = _section("\n".join(lines), block_id=f"home.{item.approval.id}.{item.row.id}"[:255])
    buttons = choice_buttons(item.approval, item.row)
    if buttons is None:
        return [section]
    actions = {
        "type": "actions",
        "block_id": f"home.{item.approval.id}.{item.row.id}.a"[:255],
        "elements": [button.to_dict() for button in buttons],
    }
    return [section, actions]


def _recent_row(item: InboxRow, permalink: str | None) -> dict[str, Any]:
    row = item.row
    outcome = ", ".join(row.decision.choices) if row.decision and row.decision.choices else "answered"
    link = f" · <{permalink}|message>" if permalink else ""
    text = f"*{escape_line(item.approval.title, TITLE_CHARS)}*: {escape(row.requirement.title)} → {escape(outcome)}"
    return _section(f"{text}{link}")


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _section(text: str, *, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


class AppHome:
    """Publishes each person's App Home inbox, when they open it and when what it lists changes."""

    def __init__(self, store: Store, client: AsyncWebClient, groups: UserGroupDirectory) -> None:
        self.store = store
        self.client = client
        self.groups = groups
        self._viewers: set[str] = set()
        """People who opened the tab while this process ran: refreshed for rows anyone may decide."""
        self._permalinks: dict[tuple[str, str], str] = {}
        self._tasks = BackgroundTasks()

    def opened(self, user_id: str) -> None:
        """The person opened the tab: publish their inbox (after the ack)."""
        self._viewers.add(user_id)
        self._tasks.spawn(self._in_background(self.publish(user_id), slack_user=user_id))

    def approval_changed(self, approval: Approval) -> None:
        """Re-publish the tab of everyone whose inbox lists (or listed) a row of ``approval``."""
        self._tasks.spawn(self._in_background(self._refresh_for(approval), approval_id=approval.id))

    async def _in_background(self, work: Coroutine[Any, Any, None], **about: str) -> None:
        try:
            await work
        except Exception as error:  # Slack or the database failed: the next change or opening redraws it
            log.warning("home_not_published", error=f"{type(error).__name__}: {error}", **about)

    @property
    def busy(self) -> bool:
        return self._tasks.busy

    async def drain(self) -> None:
        await self._tasks.drain()

    async def publish(self, user_id: str) -> None:
        """Publish ``user_id``'s inbox as it is in the store now."""
        await self._publish(user_id, *await self._read())

    async def _read(self) -> tuple[list[Approval], list[Approval]]:
        return await pending_approvals(self.store), await self.store.list_approvals(limit=RECENT_APPROVALS)

    async def _publish(self, user_id: str, pending: list[Approval], latest: list[Approval]) -> None:
        group_ids = sorted({g for a in pending for r in a.rows for g in r.requirement.deciders.group_ids})
        groups = await self.groups.groups_of(user_id, group_ids) if group_ids else ()
        waiting = decidable_rows(pending, Actor(id=user_id, group_ids=groups))
        recent = decided_by(latest, user_id, RECENT_DECISIONS)
        permalinks = await self._permalinks_of([item.approval for item in [*waiting, *recent]])
        try:
            await self.client.views_publish(user_id=user_id, view=render_home(waiting, recent, permalinks))
        except SlackApiError as error:
            log.warning("home_not_published", slack_user=user_id, error=slack_error(error))
            return
        log.info("home_published", slack_user=user_id, waiting=len(waiting), recent=len(recent))

    async def _refresh_for(self, approval: Approval) -> None:
        people = sorted(await self._people_of(approval))
        if not people:
            return
        pending, latest = await self._read()  # once for everyone whose tab this approval touches
        for user_id in people:
            await self._publish(user_id, pending, latest)

    async def _people_of(self, approval: Approval) -> set[str]:
        # Named deciders and whoever decided a row are known from the approval itself, in any
        # process. Members of a user group and everyone (rows anyone may decide) are refreshed if
        # they opened the tab in this process: listing a group's members on every render would
        # spend Slack calls on people who may never look.
        people = {row.decided_by for row in approval.rows if row.decided_by and is_user_id(row.decided_by)}
        for row in approval.rows:
            deciders = row.requirement.deciders
            people.update(deciders.user_ids)
            if deciders.anyone or deciders.group_ids:
                people |= self._viewers
        return people

    async def _permalinks_of(self, approvals: Iterable[Approval]) -> dict[str, str]:
        links: dict[str, str] = {}
        for approval in approvals:
            if approval.channel is None or approval.message_ts is None:
                continue
            key = (approval.channel, approval.message_ts)
            if key not in self._permalinks:
                try:
                    answer = await self.client.chat_getPermalink(channel=key[0], message_ts=key[1])
                except SlackApiError as error:
                    log.warning("permalink_unknown", approval_id=approval.id, error=slack_error(error))
                    continue
                self._permalinks[key] = str(answer["permalink"])
            links[approval.id] = self._permalinks[key]
        return links
