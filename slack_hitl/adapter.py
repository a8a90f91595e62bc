"""The one protocol an integration implements to be resumed by slack_hitl."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from slack_hitl.approvals import Approval
from slack_hitl.events import ContinuationEvent


@runtime_checkable
class Adapter(Protocol):
    """Resumes one framework's paused run with the decisions of an approval.

    ``name`` is stored with each approval, so after a restart the engine finds the adapter
    that opened it. ``resume`` is called once every row is decided and the resume CAS is won;
    what it needs to find the run (thread id, serialized run state...) is in
    ``approval.resume_state``, the decisions in ``approval.decisions`` keyed by requirement id.
    ``idempotency_key`` is the same on every attempt for one approval, so a resume that may
    have half-happened before a crash can be repeated safely.
    """

    name: str

    def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncIterator[ContinuationEvent]: ...
