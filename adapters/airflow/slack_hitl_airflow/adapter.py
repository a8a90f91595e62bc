"""Resume an Airflow DAG run with an approval's decisions, then follow the run into the thread.

Called once every row is decided. For each row it reads the request again, turns the decision
into an answer and validates it; when any answer is invalid nothing is written. It waits until
Airflow can take every answer without failing the task (``answer_gate``: on Airflow 3.3+ until
the scheduler has handled the report of the task's pause, on 3.1 until the request is a few
seconds old), PATCHes them all, and follows the tasks and the run. A request already answered
(409, or seen before writing) is reported with who answered what; a write that fails otherwise
raises, and the engine keeps the approval retryable (a retry finds the answers it already wrote
and does not write them twice). If Airflow fails a task after its answer anyway, the thread and
the trace say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import structlog

from slack_hitl import Approval, ContinuationEvent, Decision, Done, Requirement, Row, Status, TextDelta, ToolProgress
from slack_hitl_airflow.actors import is_airflow_actor
from slack_hitl_airflow.answer_gate import AnswerGate
from slack_hitl_airflow.client import AirflowClient
from slack_hitl_airflow.errors import AirflowConflict, AirflowNotFound, AirflowServerError, AnswerInvalid
from slack_hitl_airflow.follow import RunFollower
from slack_hitl_airflow.hitl_detail import HITLRequest
from slack_hitl_airflow.mapping import BRANCH_OPERATOR, Answer, answer_for, request_of
from slack_hitl_airflow.review_loop import ReviewLoop
from slack_hitl_airflow.review_session import is_review_row
from slack_hitl_airflow.validation import answer_problems, check_row_decision

log = structlog.get_logger("slack_hitl_airflow.adapter")

ADAPTER_NAME = "airflow"
CONCURRENT_WRITES = 2
WRITE_ATTEMPTS = 3

Outcome = Literal["written", "answered_elsewhere", "withdrawn"]


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


@dataclass
class RowPlan:
    """What resuming does for one row."""

    row: Row
    request: HITLRequest
    answer: Answer | None = None
    outcome: Outcome = "written"
    already_written: bool = False
    """An earlier attempt of this resume wrote the answer (the retry must not write it again)."""
    note: str = ""

    @property
    def to_write(self) -> bool:
        return self.outcome == "written" and not self.already_written and self.answer is not None

    def readings(self) -> list[HITLRequest]:
        """What was read of this request, oldest first: when the row was opened (same try), and now."""
        opened_for = request_of(self.row.requirement)
        return [opened_for, self.request] if opened_for.request_id == self.request.request_id else [self.request]

    def record(self, failure: dict[str, Any] | None = None) -> dict[str, Any]:
        ti = self.request.task_instance
        answer = self.answer
        return {
            "task": ti.label,
            "task_id": ti.task_id,
            "map_index": ti.map_index,
            "outcome": self.outcome,
            "chosen_options": list(answer.chosen_options) if answer else list(self.request.chosen_options or ()),
            "params_input": dict(answer.params_input) if answer else dict(self.request.params_input),
            "decided_by": self.row.decided_by,
            "decided_by_name": self.row.decided_by_name,
            "reason": self.row.decision.reason if self.row.decision else None,
            "answered_in_airflow_by": self.request.responded_by_user.name
            if self.outcome == "answered_elsewhere" and self.request.responded_by_user
            else None,
            "note": self.note,
            "failed_after_answer": failure,
        }


class AirflowAdapter:
    """The ``slack_hitl.Adapter`` of Airflow HITL requests."""

    name = ADAPTER_NAME

    def __init__(
        self,
        client: AirflowClient,
        *,
        min_request_age: float = 5.0,
        park_grace: float = 10.0,
        gate: AnswerGate | None = None,
        follow_timeout: float = 600.0,
        follow_interval: float = 1.0,
        ui_base_url: str | None = None,
    ) -> None:
        self.client = client
        self.gate = gate or AnswerGate(park_grace=park_grace, min_deferred_age=min_request_age)
        self.follow_timeout = follow_timeout
        self.follow_interval = follow_interval
        self.ui_base_url = ui_base_url
        self.reviews = ReviewLoop(client, follow_interval=follow_interval, follow_timeout=follow_timeout)

    def check_decision(self, requirement: Requirement, decision: Decision) -> None:
        """Refuse, where it is typed, a value the request's JSON schema would refuse at resume time
        (a pattern, a format, an object's shape): the modal shows the error next to its field."""
        check_row_decision(requirement, decision)

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        bound = log.bind(approval_id=approval.id, idempotency_key=idempotency_key)
        dag_id, run_id = approval.resume_state["dag_id"], approval.resume_state["run_id"]
        link = approval.resume_state.get("ui_url") or run_url(self.ui_base_url or self.client.base_url, dag_id, run_id)
        if approval.rows and is_review_row(approval.rows[0].requirement):
            async for event in self.reviews.resume(approval, link):
                yield event
            return
        plans = await self._plan(approval)
        readings = [p.readings() for p in plans if p.to_write]
        if not self.gate.ready(readings):
            yield Status(text="is waiting until Airflow can take the answers without failing a task…")
        await self.gate.wait(self.client, readings)
        follower = RunFollower(self.client, dag_id, run_id, interval=self.follow_interval, timeout=self.follow_timeout)
        earlier = [p.request.responded_at for p in plans if p.already_written and p.request.responded_at]
        baseline = await follower.snapshot(since=min(earlier, default=None))
        await self._write(plans, bound)
        for plan in plans:
            yield self._answer_event(plan)
        branches = {
            p.request.key.task_id: ", ".join(p.answer.chosen_options)
            for p in plans
            if p.answer and p.request.operator == BRANCH_OPERATOR
        }
        async for event in follower.follow(
            answered={p.request.task_instance.id for p in plans if p.outcome == "written"},
            branches=branches,
            baseline=baseline,
        ):
            yield event
        yield TextDelta(text=f"\n<{link}|Open the run in Airflow>\n")
        yield Done(
            summary=f"run {run_id} {follower.run_state or 'still running'}",
            output={
                "dag_id": dag_id,
                "run_id": run_id,
                "run_state": follower.run_state,
                "rows": {p.row.id: p.record(follower.failures.get(p.request.task_instance.id)) for p in plans},
            },
        )

    async def _plan(self, approval: Approval) -> list[RowPlan]:
        """Read every request again and decide what to write; nothing is written when any answer is invalid."""
        fresh = await asyncio.gather(*(self._current(row) for row in approval.rows))
        plans: list[RowPlan] = []
        problems: dict[str, str] = {}
        for row, request in zip(approval.rows, fresh, strict=True):
            plan = RowPlan(row=row, request=request)
            plans.append(plan)
            opened_for = request_of(row.requirement)
            if request.request_id != opened_for.request_id or (not request.waiting and not request.response_received):
                plan.outcome, plan.note = "withdrawn", f"the task is {request.task_instance.state} in Airflow"
            elif request.response_received:
                plan.answer = self._answer(row, request, {})
                if self._wrote(plan):
                    plan.already_written = True
                else:
                    plan.outcome, plan.answer = "answered_elsewhere", None
            else:
                plan.answer = self._answer(row, request, problems)
        if problems:
            raise AnswerInvalid(problems)
        return plans

    async def _current(self, row: Row) -> HITLRequest:
        opened_for = request_of(row.requirement)
        try:
            return await self.client.request(opened_for.key)
        except AirflowNotFound:
            # The task instance is gone (DAG changed, run deleted): nothing to answer.
            return opened_for.model_copy(
                update={"task_instance": opened_for.task_instance.model_copy(update={"state": "removed"})}
            )

    @staticmethod
    def _answer(row: Row, request: HITLRequest, problems: dict[str, str]) -> Answer | None:
        assert row.decision is not None  # the engine resumes only when every row is decided
        label = request.task_instance.label
        try:
            answer = answer_for(
                row.requirement,
                row.decision,
                slack_user=row.decided_by,
                slack_user_name=row.decided_by_name,
                request=request,
            )
        except AnswerInvalid as invalid:
            problems.update({f"{label}.{name}": problem for name, problem in invalid.errors.items()})
            return None
        for name, problem in answer_problems(request, answer).items():
            problems[f"{label}.{name}"] = problem
        return answer

    async def _write(self, plans: list[RowPlan], bound: Any) -> None:
        """PATCH every answer; report conflicts; raise the first other failure after trying all."""
        to_write = [p for p in plans if p.to_write]
        # A few at a time: Airflow on SQLite has one writer, and a burst of answers outwaits its lock.
        slots = asyncio.Semaphore(CONCURRENT_WRITES)

        async def write(plan: RowPlan) -> None:
            async with slots:
                await self._patch(plan)

        results = await asyncio.gather(*(write(p) for p in to_write), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for plan, result in zip(to_write, results, strict=True):
            if not isinstance(result, BaseException):
                bound.info(
                    "airflow_answer_written", row_id=plan.row.id, slack_user=plan.row.decided_by, outcome=plan.outcome
                )
        if failures:
            raise failures[0]

    async def _patch(self, plan: RowPlan) -> None:
        """One answer. A 5xx (Airflow on SQLite answers 500 when writes outwait its lock) is tried again,
        after reading the request: an answer that landed all the same is not written twice."""
        assert plan.answer is not None
        key = plan.request.key
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await self.client.respond(
                    key, chosen_options=plan.answer.chosen_options, params_input=plan.answer.params_input
                )
                return
            except AirflowConflict:
                plan.request = await self.client.request(key)
                break
            except AirflowServerError:
                if attempt == WRITE_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * attempt)
                plan.request = await self.client.request(key)
                if plan.request.response_received:
                    break
        if self._wrote(plan):
            plan.already_written = True
        else:
            plan.outcome, plan.answer = "answered_elsewhere", None

    def _wrote(self, plan: RowPlan) -> bool:
        """Whether the answer Airflow holds is this bridge's own (written by an earlier attempt)."""
        responder = plan.request.responded_by_user
        mine = responder is not None and responder.id == self.client.username
        slack_decided = not is_airflow_actor(plan.row.decided_by)
        same = plan.answer is not None and list(plan.request.chosen_options or ()) == plan.answer.chosen_options
        return mine and slack_decided and same

    @staticmethod
    def _answer_event(plan: RowPlan) -> ContinuationEvent:
        ti = plan.request.task_instance
        if plan.outcome == "withdrawn":
            return ToolProgress(name=ti.label, state="skipped", detail=f"not answered: {plan.note}")
        if plan.outcome == "answered_elsewhere":
            who = plan.request.responded_by_user
            by = f"{who.name} in Airflow" if who else "Airflow's timeout (defaults)"
            chosen = ", ".join(plan.request.chosen_options or ())
            return ToolProgress(name=ti.label, state="finished", detail=f"already answered by {by}: {chosen}")
        assert plan.answer is not None
        chosen = ", ".join(plan.answer.chosen_options)
        return ToolProgress(name=ti.label, state="started", detail=f"answer written: {chosen}")
