"""When a waiting HITL request can be answered without Airflow failing its task.

**Airflow 3.3+ (a task waits in ``awaiting_input``).** The worker that ran the task up to its
pause reports, once it has finished, that the workload succeeded; the scheduler handles that
report in a later loop (``process_executor_events``). An answer resumes the task at once
(``scheduled``, then ``queued``, then ``running``, same try). If the scheduler handles the old
report only after it has queued the resumed try, it sees "finished with state success, but
the task instance is queued" and marks the task FAILED (3.3.2's ``scheduler_job_runner.py``
lets such a report pass only while the task is still ``scheduled``). Airflow's API does not
say when that report was handled: nothing is written when it is. So the gate proves it with
what the API does show:

1. the task had parked by ``parked_by``: Airflow's clock (its ``Date``) on an answer that showed
   the request waiting;
2. the worker reports within ``park_grace`` seconds of the park (it notices the task process's
   exit at its next wake-up, every ``[workers] min_heartbeat_interval``, 5 s by default);
3. the run's ``last_scheduling_decision`` is when a scheduler loop started looking at the run;
   every loop reads the executor's reports *after* that. Once one value at or after
   ``parked_by + park_grace`` has been followed by a later one, that loop has finished, and the
   report was handled while the task was still waiting: an answer is then safe.

A scheduler that does not look at the run (stopped, the DAG paused) holds the answer back;
after ``timeout`` the resume fails and is retried, never written unsafely. With several
schedulers the proof assumes that the loops seen on the run are those of the scheduler that
ran the task (one scheduler is the common case).

**Airflow 3.1 and 3.2 (``deferred``).** The trigger answers; a request younger than
``min_deferred_age`` is not answered (the same race, seen about 2 s after deferring).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from slack_hitl_airflow.client import AirflowClient
from slack_hitl_airflow.errors import AirflowError
from slack_hitl_airflow.hitl_detail import HITLRequest

log = structlog.get_logger("slack_hitl_airflow.answer_gate")

PARKED = "awaiting_input"
DATE_RESOLUTION = dt.timedelta(seconds=1)
"""An HTTP ``Date`` is whole seconds: the moment it stands for may be up to a second later."""
_RUNS_REMEMBERED = 4096

RunKey = tuple[str, str]


class SchedulerNotLooking(AirflowError):
    """The scheduler did not show, in time, that it has handled the paused task's last executor report."""


def parked_by(requests: Iterable[HITLRequest]) -> dt.datetime:
    """The latest moment the task can have parked: the earliest reading that showed it waiting.

    ``requests`` are readings of one request (same try); a reading without Airflow's clock counts
    as read now, by this process's clock.
    """
    seen = [r.observed_at + DATE_RESOLUTION for r in requests if r.waiting and r.observed_at is not None]
    return min(seen) if seen else dt.datetime.now(dt.UTC)


@dataclass
class AnswerGate:
    """Holds answers back until Airflow can take them without failing the task (see the module)."""

    park_grace: float = 10.0
    min_deferred_age: float = 5.0
    timeout: float = 180.0
    poll_interval: float = 0.25
    _last_seen: OrderedDict[RunKey, dt.datetime] = field(default_factory=OrderedDict)
    _finished: OrderedDict[RunKey, dt.datetime] = field(default_factory=OrderedDict)
    """Per run, the latest scheduling decision known to be finished (a later one was seen)."""

    def ready_after(self, readings: Iterable[HITLRequest]) -> dt.datetime:
        """On Airflow's clock: once a scheduler loop that started after this has finished, answering is safe."""
        return parked_by(readings) + dt.timedelta(seconds=self.park_grace)

    def proven(self, run: RunKey, ready_after: dt.datetime) -> bool:
        finished = self._finished.get(run)
        return finished is not None and finished >= ready_after

    def ready(self, readings: list[list[HITLRequest]]) -> bool:
        """Whether ``wait`` would return at once (no Airflow call is made)."""
        for reading in readings:
            latest = reading[-1]
            if latest.task_instance.state == PARKED:
                if not self.proven((latest.key.dag_id, latest.key.run_id), self.ready_after(reading)):
                    return False
            elif latest.age() < self.min_deferred_age:
                return False
        return True

    async def observe(self, client: AirflowClient, run: RunKey) -> None:
        """One look at the run's last scheduling decision (the bridge looks ahead, so answers wait less)."""
        decided = (await client.dag_run(*run)).last_scheduling_decision
        if decided is None:
            return
        before = self._last_seen.get(run)
        if before is not None and decided > before:
            self._remember(self._finished, run, max(before, self._finished.get(run, before)))
        self._remember(self._last_seen, run, decided)

    async def wait(self, client: AirflowClient, readings: list[list[HITLRequest]]) -> float:
        """Wait until each request (given as its readings, newest last) can be answered; return the seconds waited.

        Raises ``SchedulerNotLooking`` after ``timeout``: nothing may be written then.
        """
        started = time.monotonic()
        deferred = [r[-1] for r in readings if r[-1].task_instance.state != PARKED]
        youngest = min((r.age() for r in deferred), default=self.min_deferred_age)
        if youngest < self.min_deferred_age:
            await asyncio.sleep(self.min_deferred_age - youngest)
        due: dict[RunKey, dt.datetime] = {}
        for reading in readings:
            if reading[-1].task_instance.state == PARKED:
                run = (reading[-1].key.dag_id, reading[-1].key.run_id)
                due[run] = max(due.get(run, dt.datetime.min.replace(tzinfo=dt.UTC)), self.ready_after(reading))
        for run, ready_after in due.items():
            while not self.proven(run, ready_after):
                if time.monotonic() - started > self.timeout:
                    raise SchedulerNotLooking(
                        f"Airflow's scheduler has not shown, within {self.timeout:.0f} s, a loop over run {run[1]} of "
                        f"{run[0]} that started after {ready_after.isoformat()} (is it running, is the DAG paused?); "
                        "the answers are held back, since Airflow could fail a task answered before that"
                    )
                await self.observe(client, run)
                if not self.proven(run, ready_after):
                    await asyncio.sleep(self.poll_interval)
        waited = time.monotonic() - started
        if waited > 1.0:
            log.info("answers_held_until_safe", seconds=round(waited, 2), runs=len(due))
        return waited

    @staticmethod
    def _remember(memory: OrderedDict[RunKey, dt.datetime], run: RunKey, value: dt.datetime) -> None:
        memory[run] = value
        memory.move_to_end(run)
        while len(memory) > _RUNS_REMEMBERED:
            memory.popitem(last=False)
