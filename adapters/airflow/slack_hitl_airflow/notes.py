"""Long texts posted whole in an approval's thread, once, even across restarts.

A row shows only the start of a long body (an LLM's output); the whole of it goes to the thread
(``Publisher.post_note``) once the message is there. What is still to post is kept in the
bridge's own table, so a restart, or Slack being down when the approval was opened, loses no
note; a note is marked posted once Slack took all of it.
"""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from slack_hitl import Approval, Engine, Requirement, UnknownApproval
from slack_hitl_airflow.mapping import thread_note
from slack_hitl_airflow.review_session import is_review_row, review_note

log = structlog.get_logger("slack_hitl_airflow.notes")

metadata = MetaData()

notes_table = Table(
    "slack_hitl_airflow_notes",
    metadata,
    Column("approval_id", String(64), primary_key=True),
    Column("row_id", String(200), primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("posted_at", DateTime(timezone=True), nullable=True),
)

MAX_TRIES = 60
"""Attempts per note (one per poll cycle) before it is given up, with a warning."""


def note_for(requirement: Requirement) -> str | None:
    """The whole text of a row that shows only its start, or None."""
    return review_note(requirement) if is_review_row(requirement) else thread_note(requirement)


class ThreadNotes:
    """The notes of the approvals the bridge opened, in the store's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._due: dict[tuple[str, str], int] = {}
        """(approval id, row id) -> attempts so far."""

    async def start(self) -> None:
        """Create the table and pick up the notes a previous process left unposted."""
        async with self.engine.store.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            rows = await conn.execute(
                select(notes_table.c.approval_id, notes_table.c.row_id).where(notes_table.c.posted_at.is_(None))
            )
            self._due.update({(row.approval_id, row.row_id): 0 for row in rows})

    async def add(self, approval: Approval) -> None:
        """Note which rows of a newly opened approval have a text to post, and post them if the message is there."""
        due = [(approval.id, row.id) for row in approval.rows if note_for(row.requirement)]
        if not due:
            return
        now = dt.datetime.now(dt.UTC)
        try:
            async with self.engine.store.write() as conn:
                await conn.execute(
                    insert(notes_table), [{"approval_id": a, "row_id": r, "due_at": now} for a, r in due]
                )
        except IntegrityError:
            pass  # the same approval opened again (its idempotency key): its notes are known already
        self._due.update(dict.fromkeys(due, 0))
        await self.post_due()

    async def post_due(self) -> int:
        """Post every due note whose message is posted; returns how many were posted."""
        posted = 0
        for approval_id in sorted({a for a, _ in self._due}):
            try:
                approval = await self.engine.store.get(approval_id)
            except UnknownApproval:
                self._forget(approval_id)
                continue
            if approval.message_ts is None:
                continue  # not posted yet: next time
            for row in approval.rows:
                key = (approval_id, row.id)
                if key not in self._due:
                    continue
                text = note_for(row.requirement)
                if text and not await self.engine.publisher.post_note(approval, text):
                    self._due[key] += 1
                    if self._due[key] >= MAX_TRIES:
                        log.warning("note_given_up", approval_id=approval_id, row_id=row.id)
                        del self._due[key]
                    continue
                await self._mark_posted(approval_id, row.id)
                del self._due[key]
                posted += 1
        return posted

    async def _mark_posted(self, approval_id: str, row_id: str) -> None:
        async with self.engine.store.write() as conn:
            await conn.execute(
                update(notes_table)
                .where(notes_table.c.approval_id == approval_id, notes_table.c.row_id == row_id)
                .values(posted_at=dt.datetime.now(dt.UTC))
            )

    def _forget(self, approval_id: str) -> None:
        self._due = {key: tries for key, tries in self._due.items() if key[0] != approval_id}
