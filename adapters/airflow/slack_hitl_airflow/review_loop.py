"""Resuming a review iteration: the reviewer's action goes to the plugin, and the loop goes on in the thread.

Approve or Reject: the action is sent and the run is followed to its end. Request changes: the
feedback is sent, the worker regenerates, and the next iteration is posted in the same thread
(a nested approval: the engine opens it, once, even when this resume is retried). An iteration
answered in Airflow's own review chat first is not answered again: the thread says so and the
loop goes on from what was chosen there. Every step's output, action and feedback is in the
``Done`` output, and the final step carries the whole conversation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from slack_hitl import Approval, ContinuationEvent, Done, NestedPause, TextDelta, ToolProgress
from slack_hitl_airflow.actors import WITHDRAWN_ID, is_airflow_actor
from slack_hitl_airflow.client import AirflowClient
from slack_hitl_airflow.errors import AirflowConflict, AirflowNotFound
from slack_hitl_airflow.follow import RunFollower
from slack_hitl_airflow.long_text import row_text
from slack_hitl_airflow.review_session import (
    APPROVE,
    CHANGES,
    REJECT,
    ReviewSession,
    ReviewTarget,
    action_for,
    choice_for_status,
    requirement_for_review,
    review_of,
)

log = structlog.get_logger("slack_hitl_airflow.review_loop")

Outcome = Literal["written", "answered_elsewhere", "withdrawn"]
_SAID = {APPROVE: "Approve", CHANGES: "Request changes", REJECT: "Reject"}


def review_title(dag: str, target: ReviewTarget, iteration: int) -> str:
    label = target.task_id if target.map_index < 0 else f"{target.task_id}[{target.map_index}]"
    return f"{dag}: review `{label}`, iteration {iteration}"


@dataclass
class ReviewStep:
    """What resuming one iteration did, for the thread and the trace."""

    target: ReviewTarget
    iteration: int
    output: str
    outcome: Outcome = "written"
    choice: str | None = None
    feedback: str | None = None
    note: str = ""

    def record(self, row: Any, session: ReviewSession | None) -> dict[str, Any]:
        return {
            "kind": "review",
            "task": self.target.task_id,
            "map_index": self.target.map_index,
            "iteration": self.iteration,
            "output": self.output,
            "outcome": self.outcome,
            "action": _SAID.get(self.choice or ""),
            "feedback": self.feedback,
            "decided_by": row.decided_by,
            "decided_by_name": row.decided_by_name,
            "session_status": session.status if session else None,
            "note": self.note,
        }


class ReviewLoop:
    """Resumes the approvals of review iterations (one row each)."""

    def __init__(self, client: AirflowClient, *, follow_interval: float, follow_timeout: float) -> None:
        self.client = client
        self.follow_interval = follow_interval
        self.follow_timeout = follow_timeout

    async def resume(self, approval: Approval, link: str) -> AsyncIterator[ContinuationEvent]:
        row = approval.rows[0]
        assert row.decision is not None  # the engine resumes only once the row is decided
        target, iteration, output = review_of(row.requirement)
        step = ReviewStep(target=target, iteration=iteration, output=output)
        follower = RunFollower(
            self.client,
            target.dag_id,
            target.run_id,
            interval=self.follow_interval,
            timeout=self.follow_timeout,
        )
        baseline = await follower.snapshot()
        session = await self._answer(step, row)
        yield self._answer_event(step)
        if step.outcome == "withdrawn":
            # Nothing was sent: the run goes on without this iteration (a timeout, a retry's new session).
            yield Done(summary=f"iteration {iteration}: not answered", output={"review": step.record(row, session)})
            return
        if step.choice == CHANGES:
            following = await self._next_iteration(target, iteration)
            if following is not None and following.pending:
                async for event in self._post_next(approval, step, following):
                    yield event
                yield Done(
                    summary=f"iteration {iteration}: changes requested",
                    output={"review": step.record(row, following)},
                )
                return
            session = following or session
            if session is not None:
                yield TextDelta(text=f"\nNo next iteration: the review session is {session.status}.")
        async for event in follower.follow(answered=set(), branches={}, baseline=baseline):
            yield event
        latest = await self._session(target) or session
        yield TextDelta(text=f"\n<{link}|Open the run in Airflow>\n")
        yield Done(
            summary=f"iteration {iteration}: {_SAID.get(step.choice or '', step.outcome)}",
            output={
                "review": step.record(row, latest),
                "history": latest.history() if latest else [],
                "run_state": follower.run_state,
            },
        )

    async def _session(self, target: ReviewTarget) -> ReviewSession | None:
        try:
            return await self.client.review_session(target.key)
        except AirflowNotFound:
            return None

    async def _answer(self, step: ReviewStep, row: Any) -> ReviewSession | None:
        """Send the row's decision unless the iteration was answered (or ended) in Airflow first."""
        bound = log.bind(row_id=row.id, slack_user=row.decided_by)
        session = await self._session(step.target)
        if row.decided_by == WITHDRAWN_ID:
            step.outcome, step.note = "withdrawn", row.decision.reason or ""
            return session
        if is_airflow_actor(row.decided_by):
            step.outcome = "answered_elsewhere"
            step.choice, step.feedback = row.decision.choices[0], row.decision.reason
            return session
        if session is None or not (session.iteration == step.iteration and session.pending):
            return self._not_answerable(step, session)
        action, feedback = action_for(row.decision)
        try:
            session = await self.client.answer_review(step.target.key, action, feedback)
        except AirflowConflict:
            return self._not_answerable(step, await self._session(step.target))
        except AirflowNotFound:
            return self._not_answerable(step, None)
        step.choice, step.feedback = row.decision.choices[0], row.decision.reason
        bound.info("airflow_review_answered", action=action, iteration=step.iteration)
        return session

    @staticmethod
    def _not_answerable(step: ReviewStep, session: ReviewSession | None) -> ReviewSession | None:
        elsewhere = choice_for_status(session, step.iteration) if session is not None else None
        if elsewhere is not None:
            step.outcome = "answered_elsewhere"
            step.choice, step.feedback = elsewhere
        else:
            step.outcome = "withdrawn"
            step.note = f"the review session is {session.status}" if session else "the task has no review session"
        return session

    @staticmethod
    def _answer_event(step: ReviewStep) -> ToolProgress:
        name = f"review of {step.target.task_id}"
        said = _SAID.get(step.choice or "", "")
        if step.feedback:
            said += f": “{step.feedback}”"
        if step.outcome == "withdrawn":
            return ToolProgress(name=name, state="skipped", detail=f"not answered: {step.note}")
        if step.outcome == "answered_elsewhere":
            return ToolProgress(name=name, state="finished", detail=f"already answered in Airflow: {said}")
        return ToolProgress(name=name, state="started", detail=f"iteration {step.iteration}, answer sent: {said}")

    async def _next_iteration(self, target: ReviewTarget, iteration: int) -> ReviewSession | None:
        """Wait until the worker has regenerated (the next iteration waits), or the session has ended."""
        deadline = time.monotonic() + self.follow_timeout
        session = await self._session(target)
        while session is not None and time.monotonic() < deadline:
            if session.iteration > iteration and session.pending:
                return session
            if session.task_completed or session.status in ("max_iterations_exceeded", "timeout_exceeded"):
                return session
            await asyncio.sleep(self.follow_interval)
            session = await self._session(target)
        return session

    async def _post_next(
        self, approval: Approval, step: ReviewStep, following: ReviewSession
    ) -> AsyncIterator[ContinuationEvent]:
        """The next iteration in this thread: its whole output when the row can only show its start, then its row."""
        whole = row_text(following.current_output).whole
        if whole:
            yield TextDelta(text=f"\n*Iteration {following.iteration}*, in full:\n\n{whole}\n")
        dag = approval.title.split(":", 1)[0] if ":" in approval.title else step.target.dag_id
        yield NestedPause(
            title=review_title(dag, step.target, following.iteration),
            requirements=(requirement_for_review(step.target, following),),
            resume_state=approval.resume_state,
        )
