"""Resume OpenAI Agents SDK runs paused on tool approvals, with the decisions made in Slack."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import structlog
from agents import Agent, RunConfig, RunResult, RunResultStreaming, RunState
from agents.run_state import ContextDeserializer, ContextSerializer

from slack_hitl import (
    Approval,
    Confirmation,
    ContinuationEvent,
    Deciders,
    Decision,
    Done,
    Engine,
    NestedPause,
    PauseNotUsable,
    Reminders,
    Requirement,
    ResumeNotPossible,
    Row,
)
from slack_hitl_openai_agents.continuation import continuation_events, jsonable_output
from slack_hitl_openai_agents.human_tools import answer_text
from slack_hitl_openai_agents.interruptions import requirements_for
from slack_hitl_openai_agents.resumed import ResumedCall, run_resumed

log = structlog.get_logger("slack_hitl_openai_agents")

RUN_STATE = "run_state"
ROW_SETTINGS = "row_settings"
FOLLOW_UP = "(follow-up)"
EXPIRY_ACTOR = "system:expiry"  # who the engine records as deciding the rows an expiry settled


class OpenAIAgentsAdapter:
    """The slack_hitl adapter for the OpenAI Agents SDK.

    Give it the run's starting agent (the same agent, with the same names and tools, after a
    restart). ``pause_to_approval`` turns a paused result into an approval; the engine calls
    ``resume`` once every row is decided. A dict run context is stored with the run state as it
    is; for another type pass the SDK's ``context_serializer`` and ``context_deserializer``.
    """

    name = "openai_agents"

    def __init__(
        self,
        agent: Agent[Any],
        *,
        run_config: RunConfig | None = None,
        max_turns: int = 10,
        context_serializer: ContextSerializer | None = None,
        context_deserializer: ContextDeserializer | None = None,
    ) -> None:
        self.agent = agent
        self.run_config = run_config
        self.max_turns = max_turns
        self.context_serializer = context_serializer
        self.context_deserializer = context_deserializer

    async def pause_to_approval(
        self,
        engine: Engine,
        result: RunResult | RunResultStreaming,
        *,
        channel: str,
        title: str,
        thread_ts: str | None = None,
        deciders: Deciders | None = None,
        confirmation: Confirmation | None = None,
        idempotency_key: str | None = None,
        requested_by: str | None = None,
        reminders: Reminders | None = None,
    ) -> Approval:
        """Open an approval with one row per ``result.interruptions`` and the run state to resume.

        Plain ``needs_approval`` tools become confirmations (``confirmation`` sets their choices
        and reason policy); tools made by ``input_tool``, ``ask_user_tool`` and ``external_tool``
        become user_input, user_feedback and external_execution rows.
        """
        if not result.interruptions:
            raise PauseNotUsable("the run is not paused: result.interruptions is empty")
        settings = _RowSettings(deciders or Deciders(), confirmation or Confirmation())
        requirements = settings.requirements(result.interruptions)
        return await engine.open_approval(
            title=title,
            requirements=requirements,
            adapter=self,
            resume_state=settings.resume_state(result.to_state(), self.context_serializer),
            channel=channel,
            thread_ts=thread_ts,
            idempotency_key=idempotency_key,
            requested_by=requested_by,
            reminders=reminders,
        )

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        """Answer each interruption by its call id, run on streamed, and report what the run does."""
        bound = log.bind(approval_id=approval.id, idempotency_key=idempotency_key)
        state = await RunState.from_json(
            self.agent, _stored_run_state(approval), context_deserializer=self.context_deserializer
        )
        calls, rejected = _apply_decisions(state, approval, idempotency_key)
        bound.info("run_resuming", approved=len(calls), rejected=len(rejected))
        run = run_resumed(calls, self.agent, state, max_turns=self.max_turns, run_config=self.run_config)
        tool_names = {
            row.id: str(row.requirement.metadata.get("tool_name", row.requirement.title)) for row in approval.rows
        }
        async for event in continuation_events(run, tool_names=tool_names, rejected=rejected):
            yield event
        if run.interruptions:
            settings = _RowSettings.from_resume_state(approval.resume_state)
            bound.info("run_paused_again", rows=len(run.interruptions))
            yield NestedPause(
                title=_follow_up_title(approval.title),
                requirements=tuple(settings.requirements(run.interruptions)),
                resume_state=settings.resume_state(run.to_state(), self.context_serializer),
            )
            return
        bound.info("run_finished")
        yield Done(summary="The run finished.", output=jsonable_output(run.final_output))


class _RowSettings:
    """Who decides and how confirmations look; kept in resume_state so follow-up approvals inherit them."""

    def __init__(self, deciders: Deciders, confirmation: Confirmation) -> None:
        self.deciders = deciders
        self.confirmation = confirmation

    @classmethod
    def from_resume_state(cls, resume_state: dict[str, Any]) -> _RowSettings:
        stored = resume_state.get(ROW_SETTINGS) or {}
        return cls(
            Deciders.model_validate(stored.get("deciders") or {}),
            Confirmation.model_validate(stored.get("confirmation") or {}),
        )

    def requirements(self, interruptions: Any) -> list[Requirement]:
        return requirements_for(interruptions, confirmation=self.confirmation, deciders=self.deciders)

    def resume_state(self, state: RunState[Any], context_serializer: ContextSerializer | None) -> dict[str, Any]:
        return {
            RUN_STATE: state.to_json(context_serializer=context_serializer),
            ROW_SETTINGS: {
                "deciders": self.deciders.model_dump(mode="json"),
                "confirmation": self.confirmation.model_dump(mode="json"),
            },
        }


def _follow_up_title(title: str) -> str:
    return title if title.endswith(FOLLOW_UP) else f"{title} {FOLLOW_UP}"


def _stored_run_state(approval: Approval) -> dict[str, Any]:
    stored = approval.resume_state.get(RUN_STATE)
    if not isinstance(stored, dict):
        raise ResumeNotPossible(f"approval {approval.id} has no stored run state; it was not opened by this adapter")
    return stored


def _apply_decisions(
    state: RunState[Any], approval: Approval, idempotency_key: str
) -> tuple[dict[str, ResumedCall], dict[str, str | None]]:
    """Approve or reject every interruption by its call id. Returns what each approved call may
    know of its decision, and the rejected call ids with the text the model reads instead."""
    interruptions = state.get_interruptions()
    pending = {item.call_id: item for item in interruptions if item.call_id is not None}
    rows = {row.id: row for row in approval.rows}
    if len(pending) != len(interruptions) or set(pending) != set(rows):
        raise ResumeNotPossible(
            f"approval {approval.id} has rows {sorted(rows)} but the run waits on tool calls {sorted(pending)}"
        )
    calls: dict[str, ResumedCall] = {}
    rejected: dict[str, str | None] = {}
    for call_id, item in pending.items():
        row = rows[call_id]
        decision = _decision(approval, row)
        if decision.outcome == "rejected":
            # The message is the exact text the model reads as the tool's result; None keeps
            # the run's own tool-error formatter (or the SDK's default) for a reject without reason.
            message = _rejection_message(row, decision)
            state.reject(item, rejection_message=message)
            rejected[call_id] = message
            continue
        state.approve(item)
        answer = answer_text(row.requirement, decision) if row.requirement.kind != "confirmation" else None
        calls[call_id] = ResumedCall(approval.id, idempotency_key, row.decided_by, row.decided_by_name, answer)
    return calls, rejected


def _rejection_message(row: Row, decision: Decision) -> str | None:
    if row.decided_by == EXPIRY_ACTOR:
        return "No one decided this tool call in time: the approval expired, so the call did not run."
    return decision.reason


def _decision(approval: Approval, row: Row) -> Decision:
    if row.decision is None:
        raise ResumeNotPossible(f"approval {approval.id} row {row.id!r} is undecided; a run resumes only when all are")
    return row.decision
