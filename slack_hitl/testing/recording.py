"""A publisher that shows nothing and remembers everything: for tests of adapters and engines without Slack."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slack_hitl.approvals import Approval
from slack_hitl.engine import ContinuationSink, Publisher
from slack_hitl.events import ContinuationEvent


class _RecordingSink(ContinuationSink):
    def __init__(self, events: list[ContinuationEvent]) -> None:
        self._events = events

    async def send(self, event: ContinuationEvent) -> None:
        self._events.append(event)


class RecordingPublisher(Publisher):
    """Records, per approval id, what the engine would have shown: ``opened`` approvals (ids, in
    order), ``changed`` notices, each continuation's ``events`` in order, and ``failures``
    (``(approval_id, error)`` of each failed resume) and ``notes`` posted in threads."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.changed: list[str] = []
        self.events: defaultdict[str, list[ContinuationEvent]] = defaultdict(list)
        self.failures: list[tuple[str, str]] = []
        self.notes: defaultdict[str, list[str]] = defaultdict(list)

    async def approval_opened(self, approval: Approval) -> None:
        self.opened.append(approval.id)

    def approval_changed(self, approval_id: str) -> None:
        self.changed.append(approval_id)

    @asynccontextmanager
    async def continuation(self, approval: Approval) -> AsyncIterator[ContinuationSink]:
        yield _RecordingSink(self.events[approval.id])

    async def resume_failed(self, approval: Approval, error: str) -> None:
        self.failures.append((approval.id, error))

    async def post_note(self, approval: Approval, text: str) -> bool:
        self.notes[approval.id].append(text)
        return True
