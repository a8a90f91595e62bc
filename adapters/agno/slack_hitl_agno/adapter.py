"""The Agno adapter: a paused agent run becomes one approval; its decisions continue the run."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import AsyncGenerator
from typing import Any

import structlog
from agno.agent import Agent
from agno.run.agent import RunOutput

from slack_hitl import (
    Approval,
    Confirmation,
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
    Status,
    ToolProgress,
)
from slack_hitl_agno.answers import answer_run
from slack_hitl_agno.requirements import row_for
from slack_hitl_agno.stream import continuation_event

log = structlog.get_logger("slack_hitl_agno")

RUN_KEY = "run"
METADATA_KEY = "slack_hitl"
_TITLE_LENGTH = 150


class AgnoAdapter:
    """Shows a paused Agno agent run as one approval and continues the run with its decisions.

    ``agent`` is the agent whose runs pause; give a new process the same agent (same tools)
    and it continues runs paused in another. Each adapter needs its own ``name`` when one
    engine serves several agents. ``confirmation`` sets the buttons and reason policy of
    confirmation rows (default: Approve / Reject, a reason required to reject; a choice that
    ``rejects`` rejects the call); ``deciders`` limits who may decide this agent's rows.
    """

    def __init__(
        self,
        agent: Agent,
        *,
        name: str = "agno",
        confirmation: Confirmation | None = None,
        deciders: Deciders | None = None,
    ) -> None:
        self.agent = agent
        self.name = name
        # A reason for a rejection is what lets the model change course, so Slack asks for one.
        self.confirmation = confirmation or Confirmation(reason="required_on_reject")
        self.deciders = deciders or Deciders()

    async def pause_to_approval(
        self,
        engine: Engine,
        run: RunOutput,
        *,
        channel: str,
        title: str | None = None,
        thread_ts: str | None = None,
        expires_at: dt.datetime | None = None,
        expiry_policy: ExpiryPolicy = "reject",
        requested_by: str | None = None,
        reminders: Reminders | None = None,
    ) -> Approval:
        """Open the approval for a paused run (what ``agent.arun`` returned); one row per open requirement.

        Calling it again for the same pause returns the same approval.
        """
        requirements = self.rows_for(run)
        return await engine.open_approval(
            title=title or self._title(run, requirements),
            requirements=requirements,
            adapter=self,
            resume_state=resume_state_for(run),
            channel=channel,
            thread_ts=thread_ts,
            expires_at=expires_at,
            expiry_policy=expiry_policy,
            requested_by=requested_by,
            reminders=reminders,
            idempotency_key=self._pause_key(run, requirements),
        )

    def rows_for(self, run: RunOutput) -> list[Requirement]:
        """The rows a person must decide for a paused run."""
        if not isinstance(run, RunOutput):
            raise PauseNotUsable(
                f"expected the agno RunOutput of a paused run, got {type(run).__name__}; "
                "with arun(stream=True), pass yield_run_output=True and use the RunOutput that ends the stream"
            )
        open_requirements = run.active_requirements
        if not run.is_paused or not open_requirements:
            raise PauseNotUsable(f"Agno run {run.run_id} is {run.status.value}, with nothing for a person to decide")
        rows = [row_for(r, confirmation=self.confirmation) for r in open_requirements]
        return [row.model_copy(update={"deciders": self.deciders}) for row in rows]

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        """Answer every requirement by id, continue the run with ``acontinue_run(stream=True)``, stream it."""
        bound = log.bind(approval_id=approval.id, idempotency_key=idempotency_key)
        run = restore_run(approval)
        rejected = answer_run(run, approval)
        bound.info("agno_run_continuing", run_id=run.run_id, rows=len(approval.rows), rejected=len(rejected))
        yield Status(text="is thinking…")
        for call in rejected:
            yield ToolProgress(name=call.tool_name, state="skipped", detail=f"rejected: {call.note or 'no reason'}")
        final = None
        stream = self.agent.acontinue_run(
            run_response=run,
            stream=True,
            stream_events=True,
            yield_run_output=True,
            session_id=run.session_id,
            user_id=run.user_id,
            # Tools that take ``run_context`` find the key there: a retried resume continues from
            # the stored pause again, and the key lets a side effect recognise its repeat.
            metadata={
                **(run.metadata or {}),
                METADATA_KEY: {"approval_id": approval.id, "idempotency_key": idempotency_key},
            },
        )
        async for event in stream:
            if isinstance(event, RunOutput):
                final = event
            elif (converted := continuation_event(event)) is not None:
                yield converted
        if final is None:
            raise ResumeNotPossible(f"the Agno run {run.run_id} ended without its output")
        if final.is_paused:
            requirements = self.rows_for(final)
            bound.info("agno_run_paused_again", run_id=final.run_id, rows=len(requirements))
            yield NestedPause(
                title=self._title(final, requirements),
                requirements=tuple(requirements),
                resume_state=resume_state_for(final),
            )
            return
        bound.info("agno_run_finished", run_id=final.run_id, status=final.status.value)
        yield Done(output=_jsonable_output(final.content))

    def _title(self, run: RunOutput, requirements: list[Requirement]) -> str:
        # A noun phrase: Slack shows it as the header and in "The run paused again: <title> ...".
        who = self.agent.name or run.agent_name or "Agent"
        title = f"{who}: {', '.join(r.title for r in requirements)}"
        return title if len(title) <= _TITLE_LENGTH else title[: _TITLE_LENGTH - 1] + "…"

    def _pause_key(self, run: RunOutput, requirements: list[Requirement]) -> str:
        ids = "\n".join(sorted(r.id for r in requirements))
        return f"{self.name}:{run.run_id}:{hashlib.sha256(ids.encode()).hexdigest()[:32]}"


def resume_state_for(run: RunOutput) -> dict[str, Any]:
    """What continuing the run needs, as JSON: Agno's own serialization of the paused run."""
    state = {RUN_KEY: run.to_dict(), "run_id": run.run_id, "session_id": run.session_id}
    try:
        # Stored as JSON: anything that would not survive the round trip must fail here, loudly.
        return json.loads(json.dumps(state))
    except (TypeError, ValueError) as problem:
        raise PauseNotUsable(f"Agno run {run.run_id} cannot be stored as JSON: {problem}") from problem


def restore_run(approval: Approval) -> RunOutput:
    """The paused run as it was when the approval opened, from the approval's resume state."""
    stored = approval.resume_state.get(RUN_KEY)
    if not isinstance(stored, dict):
        raise ResumeNotPossible(f"approval {approval.id} has no stored Agno run to continue")
    run = RunOutput.from_dict(copy.deepcopy(stored))
    if not run.is_paused:
        raise ResumeNotPossible(f"the stored Agno run {run.run_id} is {run.status.value}, not paused")
    return run


def _jsonable_output(content: Any) -> Any:
    dump = getattr(content, "model_dump", None)
    return dump(mode="json") if callable(dump) else content
