"""The one protocol an integration implements to be resumed by slack_hitl."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from slack_hitl.approvals import Approval
from slack_hitl.decisions import Decision
from slack_hitl.events import ContinuationEvent
from slack_hitl.requirements import Requirement


@runtime_checkable
class Adapter(Protocol):
    """Resumes one framework's paused run with the decisions of an approval.

    ``name`` is stored with each approval, so after a restart the engine finds the adapter
    that opened it. ``resume`` is called once every row is decided and the resume CAS is won;
    what it needs to find the run (thread id, serialized run state...) is in
    ``approval.resume_state``, the decisions in ``approval.decisions`` keyed by requirement id.
    ``idempotency_key`` is the same on every attempt for one approval, so a resume that may
    have half-happened before a crash can be repeated safely.

    Adapters name their failures alike: turning a pause into an approval that cannot be made
    raises ``PauseNotUsable``; a resume that cannot go on raises ``ResumeNotPossible`` (any
    exception from ``resume`` leaves the approval retryable).
    """

    name: str

    def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncIterator[ContinuationEvent]: ...


@runtime_checkable
class ChecksDecisions(Protocol):
    """An adapter that knows more about valid answers than the requirement says (e.g. an Airflow
    param's JSON schema) implements this too: the engine calls it before a decision is written, so
    a bad value is refused where it was typed (the modal) instead of failing the resume later."""

    def check_decision(self, requirement: Requirement, decision: Decision) -> None:
        """Raise ``DecisionInvalid`` (errors keyed by field name) to refuse the decision."""
