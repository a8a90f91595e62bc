"""Where each approval is shown in Slack, and which of its versions the message shows.

The Slack publisher's own records, apart from the core store: the messages (parts) that show an
approval, and its ``rendered_version``. The core store bumps an approval's ``version`` with every
change a viewer should see; the message is out of date while ``rendered_version < version``,
so an update that was due when a process died is found and done by the next one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import UniqueConstraint, bindparam, insert, select, update
from sqlmodel import Field, SQLModel

from slack_hitl.store.core import Store
from slack_hitl.store.schema import APPROVALS, table
from slack_hitl.store.transactions import Work
from slack_hitl.times import aware


class SlackMessageRecord(SQLModel, table=True):
    """The Slack messages that show an approval: part 0 is the main one, later parts hold overflow rows."""

    __tablename__ = "slack_messages"

    approval_id: str = Field(primary_key=True, foreign_key="approvals.id", max_length=64)
    part: int = Field(primary_key=True)
    channel: str = Field(max_length=64)
    ts: str = Field(max_length=32)
    first_row: int
    last_row: int

    __table_args__ = (UniqueConstraint("channel", "ts"),)


A = APPROVALS
MSG = table(SlackMessageRecord)

INSERT_MESSAGE = insert(MSG).values({c.name: bindparam(c.name, type_=c.type) for c in MSG.columns})
SHOW_IN = (
    update(A).where(A.c.id == bindparam("approval_id")).values(channel=bindparam("channel"), message_ts=bindparam("ts"))
)
SHOW_IN_AS_CLAIMED = (
    # Only the holder of the post claim records the message, and only once: a process whose claim
    # ran out while it posted learns here that its message is a duplicate.
    update(A)
    .where(A.c.id == bindparam("approval_id"), A.c.message_ts.is_(None), A.c.post_owner == bindparam("owner"))
    .values(channel=bindparam("channel"), message_ts=bindparam("ts"))
)
_NOW = bindparam("now", type_=A.c.post_claimed_until.type)
RENEW_POST_CLAIM = (
    update(A)
    .where(A.c.id == bindparam("approval_id"), A.c.message_ts.is_(None), A.c.post_owner == bindparam("owner"))
    .values(post_claimed_until=bindparam("until", type_=A.c.post_claimed_until.type))
)
CLAIM_POST = (
    # One process at a time posts an approval: a claim is taken when none is held, the holder's
    # has run out, or the holder renews its own.
    update(A)
    .where(
        A.c.id == bindparam("approval_id"),
        A.c.message_ts.is_(None),
        A.c.post_owner.is_(None) | (A.c.post_owner == bindparam("owner")) | (A.c.post_claimed_until <= _NOW),
    )
    .values(
        post_owner=bindparam("owner"),
        post_claimed_until=bindparam("until", type_=A.c.post_claimed_until.type),
        post_attempts=A.c.post_attempts + 1,
    )
    .returning(A.c.post_attempts)
)
MESSAGES_OF = select(MSG).where(MSG.c.approval_id == bindparam("approval_id")).order_by(MSG.c.part)
APPROVAL_AT = select(MSG.c.approval_id).where(MSG.c.channel == bindparam("channel"), MSG.c.ts == bindparam("ts"))
OUT_OF_DATE = (
    # The partial index ix_approvals_out_of_date serves this: workers ask several times a second.
    # A pending approval never posted is out of date too, once its opener had time to post it and
    # no process holds the claim to post it (a claim that ran out is the backoff between tries).
    select(A.c.id)
    .where(
        A.c.rendered_version < A.c.version,
        A.c.message_ts.is_not(None)
        | (
            (A.c.status == "pending")
            & (A.c.created_at <= bindparam("opened_by", type_=A.c.created_at.type))
            & (A.c.post_claimed_until.is_(None) | (A.c.post_claimed_until <= _NOW))
        ),
    )
    .limit(bindparam("limit"))
)
UNPOSTED = (
    # The pending approvals with no message, oldest first, and the end of their post claims. Every
    # one is out of date, so ix_approvals_out_of_date narrows the search to the out-of-date few.
    select(A.c.created_at, A.c.post_claimed_until)
    .where(A.c.rendered_version < A.c.version, A.c.message_ts.is_(None), A.c.status == "pending")
    .order_by(A.c.created_at)
    .limit(bindparam("limit"))
)
UNPOSTED_LOOKED_AT = 50
"""How many of the oldest unposted approvals ``next_unposted_due`` reads: enough that the earliest one
due is among them unless that many are being posted at once (then it answers later, never earlier)."""
MARK_RENDERED = (
    update(A)
    .where(A.c.id == bindparam("approval_id"), A.c.rendered_version < bindparam("shown"))
    .values(rendered_version=bindparam("shown"))
)


@dataclass(frozen=True)
class PostedPart:
    """One Slack message showing rows ``first_row`` to ``last_row`` (positions) of an approval."""

    channel: str
    ts: str
    first_row: int
    last_row: int


class SlackMessages:
    """The Slack messages of the approvals in ``store``'s database."""

    def __init__(self, store: Store) -> None:
        self._database = store.database

    async def record_posted(
        self,
        approval_id: str,
        parts: Iterable[PostedPart | tuple[str, str, int, int]],
        *,
        claimed_by: str | None = None,
    ) -> bool:
        """Record where the approval is shown: (channel, ts, first row, last row) per part, main first.

        With ``claimed_by`` (a process that posted under ``claim_post``), only while that process
        holds the claim and no message is recorded yet: ``False`` means another process's message
        is the approval's, and the parts given are duplicates."""
        posted = [part if isinstance(part, PostedPart) else PostedPart(*part) for part in parts]
        return await self._database.write(_record(approval_id, posted, claimed_by))

    async def claim_post(self, approval_id: str, owner: str, *, seconds: float, now: dt.datetime) -> int | None:
        """Take (or renew) the right to post the approval's message for ``seconds``: how many times a
        process set out to post it, this one included; ``None`` when it is posted or another process
        holds the claim."""
        until = now + dt.timedelta(seconds=seconds)
        return await self._database.write(_claim(approval_id, owner, until, now))

    async def renew_post_claim(self, approval_id: str, owner: str, *, seconds: float, now: dt.datetime) -> bool:
        """Hold ``owner``'s claim to post the approval ``seconds`` longer (a post may wait out rate
        limits); ``False`` when it no longer holds it."""
        params = {"approval_id": approval_id, "owner": owner, "until": now + dt.timedelta(seconds=seconds)}
        return await self._database.write(_changed(RENEW_POST_CLAIM, params))

    async def parts(self, approval_id: str) -> list[PostedPart]:
        """The parts that show the approval, main first; none before it is posted."""
        return await self._database.read(_parts_of(approval_id))

    async def approval_at(self, channel: str, ts: str) -> str | None:
        """The approval a message (any of its parts) shows."""
        return await self._database.read(_approval_at(channel, ts))

    async def out_of_date(
        self, *, limit: int = 100, now: dt.datetime | None = None, unposted_after: float = 30.0
    ) -> list[str]:
        """Approvals whose Slack message shows an older version than the store holds, and pending
        ones opened ``unposted_after`` seconds ago or more that have no message and no claim to post one."""
        now = now or dt.datetime.now(dt.UTC)
        return await self._database.read(_out_of_date(limit, now, now - dt.timedelta(seconds=unposted_after)))

    async def next_unposted_due(self, *, now: dt.datetime, unposted_after: float = 30.0) -> dt.datetime | None:
        """The first moment after ``now`` when an unposted approval becomes one of ``out_of_date``'s
        (``unposted_after`` seconds after it was opened, and not before its post claim runs out), so
        a sweeper can wake then; ``None`` when none will."""
        found = await self._database.read(_unposted(UNPOSTED_LOOKED_AT))
        return first_due_after(now, found, dt.timedelta(seconds=unposted_after))

    async def mark_rendered(self, approval_id: str, version: int) -> None:
        """The message now shows ``version`` (an older mark never overwrites a newer one)."""
        await self._database.write(_mark_rendered(approval_id, version))


def _record(approval_id: str, parts: list[PostedPart], claimed_by: str | None) -> Work[bool]:
    if not parts:
        return False
    where = {"approval_id": approval_id, "channel": parts[0].channel, "ts": parts[0].ts}
    if claimed_by is None:
        yield SHOW_IN, where
    elif (yield SHOW_IN_AS_CLAIMED, {**where, "owner": claimed_by}).rowcount != 1:
        return False
    rows = [
        {
            "approval_id": approval_id,
            "part": index,
            "channel": part.channel,
            "ts": part.ts,
            "first_row": part.first_row,
            "last_row": part.last_row,
        }
        for index, part in enumerate(parts)
    ]
    yield INSERT_MESSAGE, rows
    return True


def _changed(statement: Any, params: dict[str, Any]) -> Work[bool]:
    return (yield statement, params).rowcount == 1


def _claim(approval_id: str, owner: str, until: dt.datetime, now: dt.datetime) -> Work[int | None]:
    attempts: int | None = (
        yield (
            CLAIM_POST,
            {"approval_id": approval_id, "owner": owner, "until": until, "now": now},
        )
    ).scalar()
    return attempts


def _parts_of(approval_id: str) -> Work[list[PostedPart]]:
    found = yield MESSAGES_OF, {"approval_id": approval_id}
    return [_part(row) for row in found.mappings()]


def _part(row: dict[str, Any]) -> PostedPart:
    return PostedPart(row["channel"], row["ts"], row["first_row"], row["last_row"])


def _approval_at(channel: str, ts: str) -> Work[str | None]:
    found: str | None = (yield APPROVAL_AT, {"channel": channel, "ts": ts}).scalar()
    return found


def _out_of_date(limit: int, now: dt.datetime, opened_by: dt.datetime) -> Work[list[str]]:
    return (yield OUT_OF_DATE, {"limit": limit, "now": now, "opened_by": opened_by}).scalars()


def _unposted(limit: int) -> Work[list[tuple[dt.datetime, dt.datetime | None]]]:
    found = yield UNPOSTED, {"limit": limit}
    return [(aware(row["created_at"]), aware(row["post_claimed_until"])) for row in found.mappings()]


def first_due_after(
    now: dt.datetime, unposted: Iterable[tuple[dt.datetime, dt.datetime | None]], grace: dt.timedelta
) -> dt.datetime | None:
    """The first moment after ``now`` when one of ``unposted`` ((opened, post claim end), oldest first)
    is due: ``grace`` after it was opened, and not before its claim ends. What is due already was
    there for the sweep that just ran (or is being posted): waking for it again would spin."""
    first = None
    for opened, claimed_until in unposted:
        if first is not None and opened + grace >= first:
            break  # oldest first: none after this one falls due sooner
        due = max(opened + grace, claimed_until) if claimed_until is not None else opened + grace
        if due > now and (first is None or due < first):
            first = due
    return first


def _mark_rendered(approval_id: str, version: int) -> Work[None]:
    yield MARK_RENDERED, {"approval_id": approval_id, "shown": version}
