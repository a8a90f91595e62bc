"""What the adapter suites share: an engine on a database of its own, and readers of what a resume did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from slack_hitl import Actor, Adapter, Approval, DecisionInput, Engine, Store, TextDelta
from slack_hitl.testing import RecordingPublisher
from tests.support import ALICE

AdapterT = TypeVar("AdapterT", bound=Adapter)


@asynccontextmanager
async def running_engine(url: str, adapter: AdapterT) -> AsyncIterator[tuple[Engine, AdapterT, RecordingPublisher]]:
    """One "process": a store at ``url`` and an engine that resumes with ``adapter`` and records what it shows.

    On exit the resumes the engine started finish (``drain``) before the store closes: a resume
    is never cut off by the test's end, and a "restart" that follows finds what it wrote.
    """
    store = await Store.open(url)
    publisher = RecordingPublisher()
    engine = Engine(store, adapters=[adapter], publisher=publisher)
    try:
        yield engine, adapter, publisher
    finally:
        await engine.drain()
        await store.close()


async def decide_all(
    engine: Engine, approval_id: str, decisions: Mapping[str, DecisionInput], *, by: Actor = ALICE
) -> None:
    """Decide the rows of ``decisions`` (row id -> what is submitted) in its order, all as ``by``."""
    for row_id, submitted in decisions.items():
        await engine.decide(approval_id, row_id, submitted, by)


def texts(events: list[Any]) -> list[str]:
    """The text a resume streamed, delta by delta."""
    return [event.text for event in events if isinstance(event, TextDelta)]


async def nested_approval(store: Store, parent_id: str) -> Approval:
    """The one approval a resume of ``parent_id`` opened when its run paused again."""
    children = [approval for approval in await store.list() if approval.parent_id == parent_id]
    assert len(children) == 1, f"expected one nested approval, got {[approval.id for approval in children]}"
    return children[0]
