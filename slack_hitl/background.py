"""Work an object starts and does not await itself: resumes, replies to a clicker, re-renders, sweepers.

asyncio keeps only a weak reference to a task, so a task nobody holds may vanish mid-run; and a
process that stops must be able to wait for (or cancel) what it started. ``BackgroundTasks``
holds each task until it ends and waits for all of them, so that pattern is written once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine, Hashable
from typing import Any


class BackgroundTasks:
    """The tasks one owner started, each held until it ends; ``drain`` waits for them, ``cancel`` stops them.

    A task may be started under a ``key`` (an approval id, say) so the owner can ask whether
    one is already running for it (``running``) instead of starting a second.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._by_key: dict[Hashable, asyncio.Task[Any]] = {}

    def spawn(self, work: Coroutine[Any, Any, Any], *, key: Hashable | None = None) -> asyncio.Task[Any]:
        """Run ``work`` in a task of the running loop, held until it ends (under ``key``, if given)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key is not None:
            self._by_key[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        return task

    def running(self, key: Hashable) -> bool:
        """Whether a task started under ``key`` has not ended yet."""
        task = self._by_key.get(key)
        return task is not None and not task.done()

    @property
    def busy(self) -> bool:
        """Whether any task is still held (running, or ended a moment ago and not yet let go)."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait until every task has ended, also those that the ones waited for started meanwhile.

        Cancelling the wait (a shutdown's grace running out) cancels the tasks waited for.
        """
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every task and wait until each has ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._by_key.get(key) is task:
            del self._by_key[key]
