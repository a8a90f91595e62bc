"""Follow a DAG run after its answers were written, as continuation events for the thread.

Reports each task that resumes, runs, succeeds, fails or is skipped (and the branch a branch
task took), then the run's final state. It stops when the run ends, when the run waits for
another decision (the bridge posts that one in the same thread), or when the time bound passes.

A task that fails after its answer was written is looked up in Airflow's audit log: when
Airflow's scheduler failed it over a stale executor report ("state mismatch", the race
``answer_gate`` guards against), the thread and the trace say so (``failures``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

from slack_hitl import ContinuationEvent, TextDelta, ToolProgress
from slack_hitl_airflow.client import AirflowClient
from slack_hitl_airflow.errors import AirflowError
from slack_hitl_airflow.hitl_detail import WAITING_STATES, TaskInstance

STATE_MISMATCH = "state mismatch"
"""The audit log event of a task the scheduler failed because an executor report did not match its state."""
_FAILED = frozenset({"failed", "up_for_retry"})

_REPORTED: dict[str, tuple[str, str]] = {
    "running": ("started", ""),
    "success": ("finished", ""),
    "failed": ("failed", ""),
    "upstream_failed": ("failed", "not run: an upstream task failed"),
    "up_for_retry": ("failed", "will retry"),
    "skipped": ("skipped", ""),
}


class RunFollower:
    """Polls one run's task instances and state; ``run_state`` holds the last state seen."""

    def __init__(
        self,
        client: AirflowClient,
        dag_id: str,
        run_id: str,
        *,
        interval: float = 1.0,
        timeout: float = 600.0,
        resume_grace: float = 60.0,
    ) -> None:
        self.client = client
        self.dag_id = dag_id
        self.run_id = run_id
        self.interval = interval
        self.timeout = timeout
        self.resume_grace = resume_grace
        self.run_state: str | None = None
        self.failures: dict[str, dict[str, Any]] = {}
        """Answered task instances that failed: id -> their state and, when Airflow's log tells, why."""

    async def snapshot(self, *, since: dt.datetime | None = None) -> dict[tuple[str, int], str | None]:
        """The state of every task of the run now: take it before writing answers, so no change is missed.

        ``since``: when an earlier attempt of this resume wrote its first answer (Airflow's clock). Tasks
        that started or ended since then are left out, so following reports where they are now: what
        that attempt's answers set going reaches the thread although it happened between the attempts.
        """
        return {
            (ti.task_id, ti.map_index): ti.state
            for ti in await self.client.task_instances(self.dag_id, self.run_id)
            if since is None or not _moved_since(ti, since)
        }

    async def follow(
        self, *, answered: set[str], branches: dict[str, str], baseline: dict[tuple[str, int], str | None]
    ) -> AsyncIterator[ContinuationEvent]:
        """Events until the run ends, pauses again, or ``timeout`` passes.

        ``answered``: task instance ids whose answer was just written (they should resume);
        ``branches``: branch task id -> the option chosen, to say which branch was taken;
        ``baseline``: the states before the answers were written (``snapshot``).
        """
        started = time.monotonic()
        seen = dict(baseline)
        resumed: set[str] = set()
        warned = False
        while True:
            # The run's state first: tasks read after it hold every change made before it ended.
            run = await self.client.dag_run(self.dag_id, self.run_id)
            self.run_state = run.state
            instances = await self.client.task_instances(self.dag_id, self.run_id)
            for ti in instances:
                key = (ti.task_id, ti.map_index)
                before = seen.get(key)
                seen[key] = ti.state
                if ti.id in answered and ti.id not in resumed and ti.state not in WAITING_STATES:
                    resumed.add(ti.id)
                    yield ToolProgress(name=ti.label, state="started", detail="resumed")
                    # A retried resume may find a task that an earlier attempt's answer already took
                    # to its end: report where it is now, not only changes after the baseline.
                    before = None
                # A resumed HITL task was just reported as such: its "running" says nothing new.
                quiet = ti.id in answered and ti.state == "running"
                if ti.state != before and ti.state in _REPORTED and not quiet:
                    if ti.id in answered and ti.state in _FAILED:
                        yield await self._failed_after_answer(ti)
                    else:
                        yield self._progress(ti, branches)
            if run.finished:
                yield TextDelta(text=f"\nRun `{self.run_id}` finished: *{run.state}*.")
                return
            still_waiting = [ti for ti in instances if ti.id in answered and ti.id not in resumed]
            if still_waiting and not warned and time.monotonic() - started > self.resume_grace:
                warned = True
                names = ", ".join(ti.label for ti in still_waiting)
                yield TextDelta(
                    text=f"\n{names} did not resume {self.resume_grace:.0f} s after the answer; is the triggerer running?"
                )
            waiting_again = await self._new_requests(instances, answered)
            if waiting_again:
                yield TextDelta(
                    text=f"\nThe run waits for another decision ({', '.join(waiting_again)}); it will be posted in this thread."
                )
                return
            if time.monotonic() - started > self.timeout:
                yield TextDelta(text=f"\nStopped following after {self.timeout:.0f} s; the run is {run.state}.")
                return
            await asyncio.sleep(self.interval)

    @staticmethod
    def _progress(ti: TaskInstance, branches: dict[str, str]) -> ToolProgress:
        state, detail = _REPORTED[ti.state or ""]
        if ti.state == "success" and ti.task_id in branches:
            detail = f"branch taken: {branches[ti.task_id]}"
        return ToolProgress(name=ti.label, state=state, detail=detail)  # type: ignore[arg-type]

    async def _failed_after_answer(self, ti: TaskInstance) -> ToolProgress:
        """An answered task failed: say whether Airflow failed it over the stale report of its pause."""
        try:
            mismatches = await self.client.event_logs(ti.key, event=STATE_MISMATCH, limit=1)
        except AirflowError:
            mismatches = []  # the audit log may not be readable by the bridge's user
        cause = mismatches[0].extra if mismatches else None
        self.failures[ti.id] = {"state": ti.state, "state_mismatch": bool(mismatches), "airflow_says": cause}
        state, detail = _REPORTED[ti.state or ""]
        if mismatches:
            detail = (
                "Airflow failed it after the answer was written: its scheduler handled the executor's report of "
                "the task's pause after resuming it (\"state mismatch\" in Airflow's audit log)"
                + (f"; {detail}" if detail else "")
            )
        return ToolProgress(name=ti.label, state=state, detail=detail)  # type: ignore[arg-type]

    async def _new_requests(self, instances: list[TaskInstance], answered: set[str]) -> list[str]:
        """Labels of tasks of this run that wait for a HITL answer not given in this approval."""
        if not any(ti.state in WAITING_STATES and ti.id not in answered for ti in instances):
            return []  # cheap check first: deferred sensors are common, HITL requests less so
        requests = await self.client.run_requests(self.dag_id, self.run_id)
        return [r.task_instance.label for r in requests if r.waiting and r.task_instance.id not in answered]


def _moved_since(ti: TaskInstance, since: dt.datetime) -> bool:
    return any(at is not None and at >= since for at in (ti.start_date, ti.end_date))
