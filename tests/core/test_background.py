"""BackgroundTasks: what the engine, the interaction handler and the publisher start and do not await."""

from __future__ import annotations

import asyncio

import pytest

from slack_hitl.background import BackgroundTasks

pytestmark = pytest.mark.anyio


async def test_drain_waits_for_every_task_also_those_started_while_waiting() -> None:
    tasks = BackgroundTasks()
    done: list[str] = []
    gate, first_done = asyncio.Event(), asyncio.Event()

    async def second() -> None:
        await gate.wait()
        done.append("second")

    async def first() -> None:
        tasks.spawn(second())
        done.append("first")
        first_done.set()

    tasks.spawn(first())
    assert tasks.busy
    draining = asyncio.create_task(tasks.drain())
    await first_done.wait()
    await asyncio.sleep(0)
    assert not draining.done() and tasks.busy
    gate.set()
    await asyncio.wait_for(draining, 10)
    assert done == ["first", "second"] and not tasks.busy


async def test_a_failed_task_is_let_go_and_does_not_fail_the_drain() -> None:
    tasks = BackgroundTasks()

    async def fails() -> None:
        raise RuntimeError("the work failed")

    task = tasks.spawn(fails())
    await tasks.drain()
    assert not tasks.busy
    assert isinstance(task.exception(), RuntimeError)


async def test_running_tells_whether_the_task_of_a_key_is_still_at_work() -> None:
    tasks = BackgroundTasks()
    gate = asyncio.Event()
    assert not tasks.running("a1")
    tasks.spawn(gate.wait(), key="a1")
    assert tasks.running("a1") and not tasks.running("a2")
    gate.set()
    await tasks.drain()
    assert not tasks.running("a1")


async def test_a_later_task_under_the_same_key_is_not_forgotten_when_the_earlier_one_ends() -> None:
    tasks = BackgroundTasks()
    first_gate, second_gate = asyncio.Event(), asyncio.Event()
    first = tasks.spawn(first_gate.wait(), key="a1")
    tasks.spawn(second_gate.wait(), key="a1")
    first_gate.set()
    await first
    await asyncio.sleep(0)  # the ended task's callbacks run
    assert tasks.running("a1")
    second_gate.set()
    await tasks.drain()


async def test_cancel_stops_every_task_and_waits_for_it() -> None:
    tasks = BackgroundTasks()
    cleaned: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(name)

    started = [tasks.spawn(forever("a")), tasks.spawn(forever("b"), key="b")]
    await asyncio.sleep(0)
    await tasks.cancel()
    assert sorted(cleaned) == ["a", "b"]
    assert all(task.cancelled() for task in started)
    await asyncio.sleep(0)
    assert not tasks.busy and not tasks.running("b")


async def test_a_drain_cut_short_cancels_what_it_waited_for() -> None:
    """A shutdown's grace running out: the wait is cancelled, and with it the work."""
    tasks = BackgroundTasks()
    task = tasks.spawn(asyncio.Event().wait())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(tasks.drain(), 0.05)
    assert task.cancelled()
