"""The Pydantic AI adapter: a paused agent run becomes an approval; its decisions resume the run.

A run pauses when it ends with a ``DeferredToolRequests`` output. Everything the resume needs is
stored with the approval (the message history as JSON, and per row the tool call id and what
the call waits for), so a new process resumes from the database and the same ``Agent`` alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import structlog
from pydantic_ai import AgentRunResult, AgentRunResultEvent, DeferredToolRequests
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from pydantic_core import to_jsonable_python

from slack_hitl import (
    Approval,
    ContinuationEvent,
    Deciders,
    Done,
    Engine,
    ExpiryPolicy,
    NestedPause,
    PauseNotUsable,
    Reminders,
    Requirement,
    ResumeNotPossible,
)
from slack_hitl_pydantic_ai.progress import continuation_events
from slack_hitl_pydantic_ai.requirements import ANYONE, ReasonPolicy, deferred_requirements
from slack_hitl_pydantic_ai.results import deferred_results

log = structlog.get_logger("slack_hitl.adapters.pydantic_ai")

STATE_FORMAT = 1


class PydanticAIAdapter:
    """Resumes paused runs of one Pydantic AI agent with the decisions made in Slack.

    ``agent`` must list ``DeferredToolRequests`` in its ``output_type`` (that is how Pydantic AI
    pauses). ``deps`` are passed to every resumed run. ``reject_reason`` says when rejecting a
    tool call asks for a reason (the model reads it; by default a reject always asks). Give each
    agent its own ``name`` when one engine resumes several agents.
    """

    def __init__(
        self,
        agent: AbstractAgent[Any, Any],
        *,
        deps: Any = None,
        reject_reason: ReasonPolicy = "required_on_reject",
        name: str = "pydantic_ai",
    ) -> None:
        self.agent = agent
        self.deps = deps
        self.reject_reason: ReasonPolicy = reject_reason
        self.name = name

    async def pause_to_approval(
        self,
        engine: Engine,
        result: AgentRunResult[Any],
        *,
        channel: str,
        title: str,
        thread_ts: str | None = None,
        deciders: Deciders = ANYONE,
        expires_at: dt.datetime | None = None,
        expiry_policy: ExpiryPolicy = "reject",
        requested_by: str | None = None,
        reminders: Reminders | None = None,
    ) -> Approval:
        """Open one approval for the deferred tool calls of a paused run, one row per call.

        Opening the same paused run twice returns the same approval (it is keyed on the run id).
        Raises ``PauseNotUsable`` when the run finished instead of pausing.
        """
        requests = result.output
        if not isinstance(requests, DeferredToolRequests):
            raise PauseNotUsable(
                f"the run did not pause: its output is a {type(requests).__name__}, not DeferredToolRequests; "
                "list DeferredToolRequests in the agent's output_type"
            )
        history = result.all_messages()
        approval = await engine.open_approval(
            title=title,
            requirements=self._requirements(requests, deciders, history),
            adapter=self,
            resume_state=resume_state(history, deciders=deciders, run_id=result.run_id),
            channel=channel,
            thread_ts=thread_ts,
            expires_at=expires_at,
            expiry_policy=expiry_policy,
            requested_by=requested_by,
            reminders=reminders,
            idempotency_key=f"{self.name}:{result.run_id}",
        )
        log.info("run_paused", approval_id=approval.id, run_id=result.run_id, rows=len(approval.rows))
        return approval

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        """Continue the run with every row's decision; stream its text and tool calls; pause again or finish."""
        history = load_history(approval)
        deciders = Deciders.model_validate(approval.resume_state.get("deciders") or {})
        results = deferred_results(approval, idempotency_key=idempotency_key)
        bound = log.bind(approval_id=approval.id, adapter=self.name)
        bound.info("run_resuming", approvals=len(results.approvals), calls=len(results.calls))
        finished: AgentRunResult[Any] | None = None
        async with self.agent.run_stream_events(
            message_history=history, deferred_tool_results=results, deps=self.deps
        ) as events:
            async for event in events:
                if isinstance(event, AgentRunResultEvent):
                    finished = event.result
                    continue
                for continuation in continuation_events(event):
                    yield continuation
        if finished is None:  # the stream always ends with the run's result; guard the contract anyway
            raise ResumeNotPossible(f"the resumed run of approval {approval.id} ended without a result")
        if isinstance(finished.output, DeferredToolRequests):
            history = finished.all_messages()
            requirements = self._requirements(finished.output, deciders, history)
            bound.info("run_paused_again", rows=len(requirements))
            yield NestedPause(
                title=approval.title,
                requirements=tuple(requirements),
                resume_state=resume_state(history, deciders=deciders, run_id=finished.run_id),
            )
            return
        bound.info("run_finished")
        yield Done(output=to_jsonable_python(finished.output, fallback=repr))

    def _requirements(
        self, requests: DeferredToolRequests, deciders: Deciders, history: Sequence[ModelMessage]
    ) -> list[Requirement]:
        return deferred_requirements(requests, deciders=deciders, history=history, reject_reason=self.reject_reason)


def resume_state(messages: Sequence[ModelMessage], *, deciders: Deciders, run_id: str) -> dict[str, Any]:
    """What a resume needs, as JSON: the whole message history, who may decide, and the paused run's id."""
    return {
        "format": STATE_FORMAT,
        "run_id": run_id,
        "deciders": deciders.model_dump(mode="json"),
        "messages": ModelMessagesTypeAdapter.dump_python(list(messages), mode="json"),
    }


def load_history(approval: Approval) -> list[ModelMessage]:
    state = approval.resume_state
    if state.get("format") != STATE_FORMAT or not isinstance(state.get("messages"), list):
        raise ResumeNotPossible(
            f"approval {approval.id} has no Pydantic AI message history in its resume state "
            f"(format {state.get('format')!r}); was it opened by this adapter?"
        )
    return ModelMessagesTypeAdapter.validate_python(state["messages"])
