"""The service's worker processes: they keep Slack messages true and resume runs, beside the web process.

``slack-hitl serve`` acknowledges Slack's requests and serves the API in its own process, and
leaves the rest to ``SLACK_HITL_WORKERS`` worker processes (one by default) that it starts,
restarts when one dies and stops with itself. The processes meet in the store, never in memory:

- deciding a row bumps its approval's version; a worker re-renders every message whose shown
  version is older (``Store.stale_renders``);
- deciding the last row leaves the approval pending with every row decided; a worker claims its
  resume with the same compare-and-swap every resume goes through, so it runs once, whichever
  worker (or web process, for a Retry click) gets there first.

So a click is acknowledged by a process that does nothing else, on a core of its own, while
rendering, Slack's rate limits and the runs themselves are the workers' business. A worker that
dies mid-resume is covered by the resume's lease, as any process is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import structlog

from slack_hitl.background import BackgroundTasks

log = structlog.get_logger("slack_hitl.service.workers")

RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
STEADY_SECONDS = 60.0
"""A worker that ran this long before dying is restarted after the shortest delay again."""


class WorkerProcesses:
    """``count`` worker processes (``slack-hitl worker``, configured by the same environment), kept running."""

    def __init__(self, count: int, *, stop_grace_seconds: float = 10.0) -> None:
        self.count = count
        self.stop_grace_seconds = stop_grace_seconds
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._keepers = BackgroundTasks()
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes.values() if process.returncode is None]

    async def start(self) -> None:
        """Start every worker, each kept running (restarted when it exits) until ``stop``."""
        for index in range(self.count):
            await self._spawn(index)
            self._keepers.spawn(self._keep(index))

    async def stop(self) -> None:
        """SIGTERM every worker (each finishes or hands back its resumes), then wait; kill what lingers."""
        self._stopping = True
        await self._keepers.cancel()
        running = [process for process in self._processes.values() if process.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), self.stop_grace_seconds + 5.0)
            except TimeoutError:
                log.warning("worker_killed", pid=process.pid)
                process.kill()
                await process.wait()

    async def _spawn(self, index: int) -> None:
        # The same interpreter and environment (the settings); stdout and stderr are the web process's.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slack_hitl.cli", "worker", "--parent-pid", str(os.getpid()), env=os.environ.copy()
        )
        self._processes[index] = process
        log.info("worker_started", pid=process.pid)

    async def _keep(self, index: int) -> None:
        delay = RESTART_DELAY_SECONDS
        while True:
            started = time.monotonic()
            process = self._processes[index]
            status = await process.wait()
            if self._stopping:
                return
            if time.monotonic() - started >= STEADY_SECONDS:
                delay = RESTART_DELAY_SECONDS
            log.warning("worker_exited", pid=process.pid, status=status, restart_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)
            await self._spawn(index)


async def until_orphaned(parent_pid: int, interval_seconds: float = 1.0) -> None:
    """Return once ``parent_pid`` is no longer this process's parent: it died, so its worker stops too."""
    while os.getppid() == parent_pid:  # noqa: ASYNC110 - a parent's death sends its children no event
        await asyncio.sleep(interval_seconds)
