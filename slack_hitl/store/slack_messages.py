"""Where each approval is shown in Slack, and which of its versions the message shows.

The Slack publisher's own records, apart from the core store: the messages (parts) that show an
approval, and its ``rendered_version``. The core store bumps an approval's ``version`` with every
change a viewer should see; the message is out of date while ``rendered_version < version``,
so an update that was due when a process died is found and done by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import UniqueConstraint, bindparam, insert, select, update
from sqlmodel import Field, SQLModel

from slack_hitl.store.core import Store
from slack_hitl.store.schema import APPROVALS, table
from slack_hitl.store.transactions import Work


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
MESSAGES_OF = select(MSG).where(MSG.c.approval_id == bindparam("approval_id")).order_by(MSG.c.part)
APPROVAL_AT = select(MSG.c.approval_id).where(MSG.c.channel == bindparam("channel"), MSG.c.ts == bindparam("ts"))
OUT_OF_DATE = (
    # The partial index ix_approvals_out_of_date serves this: workers ask several times a second.
    select(A.c.id).where(A.c.rendered_version < A.c.version, A.c.message_ts.is_not(None)).limit(bindparam("limit"))
)
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

    async def record_posted(self, approval_id: str, parts: Iterable[PostedPart | tuple[str, str, int, int]]) -> None:
        """Record where the approval is shown: (channel, ts, first row, last row) per part, main first."""
        posted = [part if isinstance(part, PostedPart) else PostedPart(*part) for part in parts]
        await self._database.write(_record(approval_id, posted))

    async def parts(self, approval_id: str) -> list[PostedPart]:
        """The parts that show the approval, main first; none before it is posted."""
        return await self._database.read(_parts_of(approval_id))

    async def approval_at(self, channel: str, ts: str) -> str | None:
        """The approval a message (any of its parts) shows."""
        return await self._database.read(_approval_at(channel, ts))

    async def out_of_date(self, *, limit: int = 100) -> list[str]:
        """Approvals whose Slack message shows an older version than the store holds."""
        return await self._database.read(_out_of_date(limit))

    async def mark_rendered(self, approval_id: str, version: int) -> None:
        """The message now shows ``version`` (an older mark never overwrites a newer one)."""
        await self._database.write(_mark_rendered(approval_id, version))


def _record(approval_id: str, parts: list[PostedPart]) -> Work[None]:
    if not parts:
        return
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
    yield SHOW_IN, {"approval_id": approval_id, "channel": parts[0].channel, "ts": parts[0].ts}


def _parts_of(approval_id: str) -> Work[list[PostedPart]]:
    found = yield MESSAGES_OF, {"approval_id": approval_id}
    return [_part(row) for row in found.mappings()]


def _part(row: dict[str, Any]) -> PostedPart:
    return PostedPart(row["channel"], row["ts"], row["first_row"], row["last_row"])


def _approval_at(channel: str, ts: str) -> Work[str | None]:
    found: str | None = (yield APPROVAL_AT, {"channel": channel, "ts": ts}).scalar()
    return found


def _out_of_date(limit: int) -> Work[list[str]]:
    return (yield OUT_OF_DATE, {"limit": limit}).scalars()


def _mark_rendered(approval_id: str, version: int) -> Work[None]:
    yield MARK_RENDERED, {"approval_id": approval_id, "shown": version}
