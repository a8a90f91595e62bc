"""common-ai's review loop (``enable_hitl_review=True``): a session's iteration as a row.

An agentic operator with ``enable_hitl_review=True`` keeps its task running and a review session
in XCom (``airflow_hitl_review_agent_session``: status, iteration, output). The provider's plugin
on Airflow's API server reads it (``GET /hitl-review/sessions/find``) and takes the reviewer's
action (``POST /hitl-review/sessions/approve``, ``/reject``, or ``/feedback`` with
``{"feedback": ...}``), each only while the session is ``pending_review`` (409 otherwise). The
worker polls for the action: on feedback it regenerates and asks again (the next iteration); at
``max_hitl_iterations`` a request for changes fails the task, so the last iteration offers only
Approve and Reject.

Each iteration is one row: Approve, Request changes (what should change: required, sent as the
feedback) and Reject. The output is the row's text (a long one whole in the thread); the
feedback is the decision's reason, so the trace holds every iteration's output and feedback.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from slack_hitl import Choice, Confirmation, Decision, Requirement
from slack_hitl_airflow.hitl_detail import RequestKey
from slack_hitl_airflow.long_text import row_text

SESSION_XCOM_KEY = "airflow_hitl_review_agent_session"
"""The XCom the worker writes the session to, and the plugin its status."""
REVIEW_METADATA = "airflow_review"
"""``Requirement.metadata`` key of the session iteration a row was made from."""
PENDING = "pending_review"
APPROVE, CHANGES, REJECT = "approve", "changes", "reject"
WHAT_SHOULD_CHANGE = "What should change?"

ReviewAction = Literal["approve", "reject", "feedback"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReviewTurn(_Model):
    role: Literal["assistant", "human"]
    content: str
    iteration: int


class ReviewSession(_Model):
    """What ``GET /hitl-review/sessions/find`` answers (the provider's ``HITLReviewResponse``)."""

    dag_id: str
    run_id: str
    task_id: str
    status: str
    iteration: int
    max_iterations: int = 5
    prompt: str = ""
    current_output: str = ""
    conversation: tuple[ReviewTurn, ...] = ()
    task_completed: bool = False

    @property
    def pending(self) -> bool:
        """Waiting for a reviewer's action on ``iteration``."""
        return self.status == PENDING and not self.task_completed

    def output(self, iteration: int) -> str | None:
        return next((t.content for t in self.conversation if t.role == "assistant" and t.iteration == iteration), None)

    def feedback(self, iteration: int) -> str | None:
        return next((t.content for t in self.conversation if t.role == "human" and t.iteration == iteration), None)

    def history(self) -> list[dict[str, Any]]:
        """Every iteration's output and the feedback it got, for the trace."""
        iterations = sorted({t.iteration for t in self.conversation})
        return [{"iteration": n, "output": self.output(n), "feedback": self.feedback(n)} for n in iterations]


class ReviewTarget(_Model):
    """The task instance try a session belongs to."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    ti_id: str
    try_number: int

    @property
    def key(self) -> RequestKey:
        return RequestKey(dag_id=self.dag_id, run_id=self.run_id, task_id=self.task_id, map_index=self.map_index)

    @property
    def claim_id(self) -> str:
        """Claimed once per try: the first iteration the bridge sees opens a message, the rest follow it."""
        return f"{self.ti_id}:{self.try_number}:review"

    def row_id(self, iteration: int) -> str:
        return f"{self.claim_id}:{iteration}"


def requirement_for_review(target: ReviewTarget, session: ReviewSession) -> Requirement:
    """The row for the session's current iteration."""
    last = session.iteration >= session.max_iterations
    choices = [Choice(value=APPROVE, label="Approve")]
    if not last:
        choices.append(Choice(value=CHANGES, label="Request changes", asks=WHAT_SHOULD_CHANGE))
    choices.append(Choice(value=REJECT, label="Reject", rejects=True))
    label = target.task_id if target.map_index < 0 else f"{target.task_id}[{target.map_index}]"
    context = [f"task `{label}`", f"iteration {session.iteration} of at most {session.max_iterations}"]
    if last:
        context.append("the last one: it can only be approved or rejected")
    output = row_text(session.current_output).shown or "_(the agent returned nothing)_"
    return Requirement(
        id=target.row_id(session.iteration),
        kind="confirmation",
        title=f"Review the output of `{label}`",
        description=f"{output}\n_{' · '.join(context)}_",
        confirmation=Confirmation(choices=tuple(choices), reason="optional"),
        metadata={
            REVIEW_METADATA: {
                "target": target.model_dump(mode="json"),
                "iteration": session.iteration,
                "max_iterations": session.max_iterations,
                "prompt": session.prompt,
                "output": session.current_output,
            }
        },
    )


def is_review_row(requirement: Requirement) -> bool:
    return REVIEW_METADATA in requirement.metadata


def review_of(requirement: Requirement) -> tuple[ReviewTarget, int, str]:
    """The target, the iteration and the output a review row was made from."""
    data = requirement.metadata[REVIEW_METADATA]
    return ReviewTarget.model_validate(data["target"]), int(data["iteration"]), str(data["output"])


def review_note(requirement: Requirement) -> str | None:
    """The whole output of a review row that shows only its start (posted in the thread), else None."""
    _, iteration, output = review_of(requirement)
    whole = row_text(output).whole
    return f"*{requirement.title}*, iteration {iteration}, in full:\n\n{whole}" if whole else None


def action_for(decision: Decision) -> tuple[ReviewAction, str | None]:
    """The plugin call a row's decision makes, and the feedback it sends."""
    if CHANGES in decision.choices:
        return "feedback", decision.reason
    if REJECT in decision.choices:
        return "reject", None
    return "approve", None


def choice_for_status(session: ReviewSession, iteration: int) -> tuple[str, str | None] | None:
    """What a session's status says was chosen for ``iteration`` elsewhere (in Airflow's review chat)."""
    if session.iteration > iteration or session.status == "changes_requested":
        return CHANGES, session.feedback(iteration)
    if session.iteration == iteration and session.status == "approved":
        return APPROVE, None
    if session.iteration == iteration and session.status == "rejected":
        return REJECT, None
    return None
