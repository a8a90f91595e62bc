"""The demo's world on loopback: the Slack emulator, the store, the slack_hitl service and the sample agent.

``DemoSession`` is a ``HitlHarness`` (the emulator, and slack_hitl wired by the composition root
as ``slack-hitl serve`` wires it, its app under uvicorn) with the demo agent registered, three
people who may click, and ``open_sample``.
Every click of the console or of the scripted session goes through ``SlackTestUser``: a signed
Slack request to the service's real ``/slack/interactions``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import structlog

from slack_hitl.approvals import SYSTEM, Approval
from slack_hitl.demo.agent import DEMO_ADAPTER, DemoAgent
from slack_hitl.demo.samples import SAMPLE_KINDS, SampleKind, build_sample
from slack_hitl.errors import SlackHitlError
from slack_hitl.store import Store
from slack_hitl.testing.harness import HitlHarness
from slack_hitl.testing.slack_user import SlackTestUser

log = structlog.get_logger("slack_hitl.demo")

EXPIRES_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class Person:
    """Someone in the demo workspace who can click."""

    id: str
    name: str
    real_name: str


ALICE = Person("U0ALICE", "alice", "Alice Chen")
BOB = Person("U0BOB", "bob", "Bob Okafor")
CAROL = Person("U0CAROL", "carol", "Carol Diaz")
PEOPLE = (ALICE, BOB, CAROL)
ANNOUNCER = BOB
"""The only person who may approve the release sample's announcement row."""


class DemoDatabaseInUse(SlackHitlError, ValueError):
    """The database holds open approvals of other adapters: the demo would act on someone's real work."""


class UnknownPerson(SlackHitlError, LookupError):
    """The console asked to act as someone who is not in the demo workspace."""


class DemoSession:
    """Everything the demo runs, started with ``async with DemoSession(url) as session``.

    ``pace`` scales the sample agent's pauses (0 makes its continuation instant);
    ``update_window_seconds`` is how long the publisher gathers changes before re-rendering.
    """

    def __init__(self, database_url: str, *, pace: float = 1.0, update_window_seconds: float = 0.4) -> None:
        self.database_url = database_url
        self.agent = DemoAgent(pace=pace)
        self.signing_secret = secrets.token_hex(16)
        self.hitl = HitlHarness(
            adapters=[self.agent],
            database_url=database_url,
            channel=run_channel_id(),
            signing_secret=self.signing_secret,
            update_window_seconds=update_window_seconds,
        )
        self.retired = 0
        """Approvals of an earlier demo run that were cancelled on start (their Slack was another emulator)."""
        self._people: dict[str, SlackTestUser] = {}
        self._numbers = {kind: itertools.count(1) for kind in SAMPLE_KINDS}

    @property
    def channel(self) -> str:
        return self.hitl.channel

    async def __aenter__(self) -> Self:
        self.retired = await retire_earlier_runs(self.database_url)
        await self.hitl.__aenter__()
        for person in PEOPLE:
            self._people[person.id] = self.hitl.user(person.id, person.name)
            # After the test user, which registers the person under their short name only.
            self.hitl.emulator.add_user(person.id, person.name, real_name=person.real_name)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.hitl.__aexit__(exc_type, exc, tb)

    def person(self, user_id: str) -> SlackTestUser:
        """The person who clicks as ``user_id``; ``UnknownPerson`` for anyone else."""
        try:
            return self._people[user_id]
        except KeyError:
            known = ", ".join(self._people) or "nobody (the session is not started)"
            raise UnknownPerson(f"{user_id!r} is not in the demo workspace; it has {known}") from None

    async def open_sample(self, kind: SampleKind) -> Approval:
        """Pause the sample agent once more: open a sample approval and return it once its message is posted."""
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"unknown sample {kind!r}; choose one of {', '.join(SAMPLE_KINDS)}")
        sample = build_sample(kind, number=next(self._numbers[kind]), announcer=ANNOUNCER.id)
        opened = await self.hitl.engine.open_approval(
            title=sample.title,
            requirements=sample.requirements,
            adapter=DEMO_ADAPTER,
            resume_state={"sample": kind},
            expires_at=dt.datetime.now(dt.UTC) + EXPIRES_AFTER,
        )
        log.info("sample_opened", approval_id=opened.id, sample=kind, rows=len(sample.requirements))
        return await self.hitl.posted(opened.id)


def run_channel_id() -> str:
    """A channel id of this run's own: each run starts a fresh emulator, whose message ts values start
    over, and the store keeps one approval per (channel, ts), so an earlier run's messages must not share it."""
    return f"C0DEMO{secrets.token_hex(4).upper()}"


async def retire_earlier_runs(database_url: str) -> int:
    """Cancel the demo approvals an earlier run left open; their messages lived in that run's emulator.

    Raises ``DemoDatabaseInUse``, changing nothing, when open approvals of other adapters are there.
    """
    store = await Store.open(database_url)
    try:
        open_ones = [a for status in ("pending", "resuming") for a in await store.list(status=status, limit=100_000)]
        foreign = sorted({a.adapter for a in open_ones if a.adapter != DEMO_ADAPTER})
        if foreign:
            raise DemoDatabaseInUse(
                f"{database_url} holds open approvals of {', '.join(foreign)}; the demo would resume them. "
                "Give the demo a database of its own with --database-url."
            )
        retired = 0
        for approval in open_ones:
            if approval.status == "pending" and await store.cancel(approval.id, SYSTEM, "an earlier demo run ended"):
                retired += 1
            # Nothing to re-render: that run's Slack messages went away with its emulator.
            await store.mark_rendered(approval.id, (await store.get(approval.id)).version)
        return retired
    finally:
        await store.close()
