"""Workers are woken, not polling: the web process's change wakes a worker at once, timed work wakes it
when due, and a wake-up that never came is caught by the slow safety sweep; on SQLite and PostgreSQL.

The serve tests set the safety sweep to ten minutes, so the only way the worker can act within the
test is the mechanism under test (a wake-up, or the worker's timer)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import pytest

from slack_hitl import Requirement
from slack_hitl.approvals import SYSTEM, Actor
from slack_hitl.decisions import Decision
from slack_hitl.slack.publisher import UNPOSTED_GRACE_SECONDS
from slack_hitl.store import DecideCommand, Store
from slack_hitl.store.wakeups import FIFO_SUFFIX, FifoWakeups, PostgresWakeups, Subscription
from slack_hitl.testing.emulator import SlackEmulator
from tests.service.support import (
    CHANNEL,
    SLACK_HITL,
    Answer,
    CallbackReceiver,
    ServeProcess,
    eventually,
    message_text,
    open_over_api,
    service_env,
    serving,
)
from tests.service.test_serve import user

pytestmark = pytest.mark.anyio

ROW = [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]
NEVER_SECONDS = "600"
"""A safety sweep no test waits for: what happens within the test came from a wake-up or a timer."""
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hitl.db'}"
    url = str(request.getfixturevalue("postgres_url"))
    upgraded = subprocess.run(
        [str(SLACK_HITL), "db", "upgrade", "--database-url", url], capture_output=True, text=True, timeout=60
    )
    assert upgraded.returncode == 0, upgraded.stderr
    return url


def worker_started(server: ServeProcess) -> bool:
    """Whether the worker's lifespan runs (its sweepers, and so its wake-up subscriptions, exist)."""
    return "background=True" in _ANSI.sub("", server.log())


async def test_a_click_wakes_the_worker_which_resumes_and_re_renders_without_waiting_for_the_sweep(
    emulator: SlackEmulator, receiver: CallbackReceiver, service_database: str, tmp_path: Path
) -> None:
    receiver.answers = [Answer(chunks=["done"])]
    env = service_env(emulator.base_url, service_database, SLACK_HITL_SWEEP_INTERVAL_SECONDS=NEVER_SECONDS)
    async with serving(env, tmp_path / "serve.log") as server:
        await eventually(lambda: worker_started(server))
        created = await open_over_api(server.url, receiver, ROW)
        ts = str(created["message_ts"])
        clicked = await user(emulator, server, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve")
        assert clicked.status_code == 200
        await eventually(lambda: len(receiver.received()) == 1, timeout=20)
        await eventually(lambda: "Approved." in message_text(emulator.message(CHANNEL, ts)), timeout=20)
        assert await server.stop() == 0
    assert len(receiver.received()) == 1


async def test_an_approval_its_opener_never_posted_is_posted_when_due_by_the_workers_timer(
    emulator: SlackEmulator, service_database: str, tmp_path: Path
) -> None:
    # An opener that stored it, woke the workers (as a web process's engine does) and died before
    # posting: a worker may post it only once it is old enough that its opener would have (the grace),
    # and no wake-up comes then.
    env = service_env(emulator.base_url, service_database, SLACK_HITL_SWEEP_INTERVAL_SECONDS=NEVER_SECONDS)
    async with serving(env, tmp_path / "serve.log") as server:
        await eventually(lambda: worker_started(server))
        store = await Store.open(service_database, claims_resumes=False)  # a web process's
        try:
            await store.insert_approval(
                title="Release billing 2.3",
                requirements=[Requirement(id="deploy", kind="confirmation", title="deploy billing")],
                adapter="webhook",
                resume_state={},
                channel=CHANNEL,
                thread_ts=None,
                parent_id=None,
                expires_at=None,
                expiry_policy="reject",
                idempotency_key=None,
                actor=SYSTEM,
            )
            opened = time.monotonic()
            store.wake_workers()
            await asyncio.sleep(0.5)  # the wake-up is sent
        finally:
            await store.close()
        await eventually(lambda: len(emulator.messages(CHANNEL)) == 1, timeout=UNPOSTED_GRACE_SECONDS + 20)
        assert time.monotonic() - opened > UNPOSTED_GRACE_SECONDS - 1  # not while its opener might still post it
        assert "deploy billing" in message_text(emulator.messages(CHANNEL)[0])
        assert await server.stop() == 0


async def test_a_failed_callback_is_retried_when_due_by_the_workers_timer(
    emulator: SlackEmulator, receiver: CallbackReceiver, service_database: str, tmp_path: Path
) -> None:
    receiver.answers = [Answer(status=503), Answer(chunks=["done on the second try"])]
    env = service_env(
        emulator.base_url,
        service_database,
        SLACK_HITL_SWEEP_INTERVAL_SECONDS=NEVER_SECONDS,
        SLACK_HITL_RETRY_BACKOFF_SECONDS="0.5",
    )
    async with serving(env, tmp_path / "serve.log") as server:
        await eventually(lambda: worker_started(server))
        created = await open_over_api(server.url, receiver, ROW)
        ts = str(created["message_ts"])
        assert (
            await user(emulator, server, "U0BOB", "bob").click(CHANNEL, ts, button_text="Approve")
        ).status_code == 200
        # Nothing wakes the worker for the retry: it sleeps until the retry is due, not until the sweep.
        await eventually(lambda: len(receiver.received()) == 2, timeout=20)
        await eventually(lambda: "Approved." in message_text(emulator.message(CHANNEL, ts)), timeout=20)


async def test_a_decision_nobody_announced_is_found_by_the_safety_sweep(
    emulator: SlackEmulator, receiver: CallbackReceiver, service_database: str, tmp_path: Path
) -> None:
    receiver.answers = [Answer(chunks=["done"])]
    env = service_env(emulator.base_url, service_database, SLACK_HITL_SWEEP_INTERVAL_SECONDS="0.5")
    async with serving(env, tmp_path / "serve.log") as server:
        await eventually(lambda: worker_started(server))
        created = await open_over_api(server.url, receiver, ROW)
        # Decided in the store by a process that leaves resuming to others and sends no wake-up:
        # as if the web process's wake-up was lost.
        store = await Store.open(service_database, create=False, claims_resumes=False)
        try:
            alice = Actor(id="U0ALICE", name="alice")
            result = await store.decide(
                DecideCommand(str(created["id"]), "deploy", Decision(outcome="approved"), alice)
            )
            assert result.decided and not result.resume
            assert store.wakeups.sent == 0
        finally:
            await store.close()
        await eventually(lambda: len(receiver.received()) == 1, timeout=20)
        ts = str(created["message_ts"])
        await eventually(lambda: "Approved." in message_text(emulator.message(CHANNEL, ts)), timeout=20)


# -- the two ways a wake-up travels, on their own ------------------------------------------------


async def woken(subscription: Subscription, timeout: float = 10.0) -> bool:
    return await subscription.wait(timeout)


async def test_a_fifo_wake_up_reaches_a_listener_and_none_is_sent_into_the_void(tmp_path: Path) -> None:
    fifo = tmp_path / f"hitl.db{FIFO_SUFFIX}"
    sender = FifoWakeups(fifo)
    sender.wake()  # nobody has ever listened: no FIFO, nothing blocks, nothing raises
    await asyncio.sleep(0)
    assert sender.sent == 1 and not fifo.exists()

    listener = FifoWakeups(fifo)
    subscription = listener.subscribe()
    assert fifo.is_fifo()
    for _ in range(3):  # coalesced: one turn of the loop sends one wake-up
        sender.wake()
    assert await woken(subscription)
    assert sender.sent == 2 and listener.received >= 1

    await listener.close()  # the listener goes away: the next wake-up finds no reader and is dropped
    sender.wake()
    await asyncio.sleep(0)
    restarted = FifoWakeups(fifo)
    again = restarted.subscribe()
    sender.wake()  # the sender opens the FIFO again and reaches the new listener
    assert await woken(again)
    await restarted.close()
    await sender.close()


async def test_a_fifo_in_the_way_of_a_file_is_refused_and_the_sweep_still_works(tmp_path: Path) -> None:
    fifo = tmp_path / f"hitl.db{FIFO_SUFFIX}"
    fifo.write_text("not a fifo")
    listener = FifoWakeups(fifo)
    subscription = listener.subscribe()  # logged, not raised: the sweep finds the work
    assert not await subscription.wait(0.05)
    assert fifo.read_text() == "not a fifo"
    await listener.close()


@pytest.mark.postgres
async def test_a_postgres_listener_is_woken_and_listens_again_after_its_connection_is_cut(postgres_url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    listener, sender = PostgresWakeups(dsn), PostgresWakeups(dsn)
    subscription = listener.subscribe()
    assert await woken(subscription)  # listening: it looks once for what it may have missed
    sender.wake()
    assert await woken(subscription)
    assert sender.sent == 1

    admin = await asyncpg.connect(dsn)
    try:
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
        )
    finally:
        await admin.close()
    assert cut == 1
    assert await woken(subscription)  # listening again, it looks once more
    sender.wake()
    assert await woken(subscription)
    await listener.close()
    await sender.close()
