"""The LangGraph adapter: a paused graph run becomes one approval; its decisions resume the run.

What the resume needs is stored with the approval, never kept in memory: the run's
``configurable`` (thread id...) in ``resume_state`` and, per row, the interrupt it answers.
The graph's own checkpointer keeps the run; so a new process with the same database, the
same checkpointer and the same compiled graph resumes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel
from langgraph.types import Command, GraphOutput, Interrupt, StateSnapshot, StreamMode

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
    Row,
)
from slack_hitl_langgraph.answers import middleware_decision, resume_values
from slack_hitl_langgraph.continuation import ContinuationTranslator
from slack_hitl_langgraph.output import final_output
from slack_hitl_langgraph.pauses import (
    ARGS,
    INTERRUPT_ID,
    PLAIN,
    SOURCE,
    TOOL,
    TOOL_CALL_ID,
    requirements_from_interrupts,
)

log = structlog.get_logger("slack_hitl_langgraph")

CONFIGURABLE = "configurable"
INTERRUPT_IDS = "interrupt_ids"
OTHER_INTERRUPTS = "other_interrupts"
"""Interrupts pending at the pause that another approval answers."""
_STREAM_MODES: list[StreamMode] = ["messages", "updates"]

Paused = GraphOutput[Any] | StateSnapshot | Sequence[Interrupt]


class LangGraphAdapter:
    """Resume a compiled LangGraph graph (or a LangChain ``create_agent`` agent) from Slack decisions.

    Give each graph its own adapter; when one engine serves several graphs, give each a
    distinct ``name``. The graph needs a checkpointer, and one that outlives the process
    (``AsyncSqliteSaver``, ``AsyncPostgresSaver``) for a resume after a restart.
    """

    def __init__(self, graph: Pregel, *, name: str = "langgraph") -> None:
        self.graph = graph
        self.name = name

    async def pause_to_approval(
        self,
        engine: Engine,
        paused: Paused,
        *,
        config: RunnableConfig,
        channel: str | None,
        title: str,
        thread_ts: str | None = None,
        deciders: Deciders | None = None,
        expires_at: dt.datetime | None = None,
        expiry_policy: ExpiryPolicy = "reject",
        requested_by: str | None = None,
        reminders: Reminders | None = None,
    ) -> Approval:
        """Open one approval for every interrupt of a paused run.

        ``paused`` is what ``ainvoke(..., version="v2")`` returned, the graph's state snapshot, or
        its interrupts; ``config`` is the run's config (its ``configurable`` names the thread).
        Opening the same pause twice returns the same approval.
        """
        interrupts = _interrupts_of(paused)
        configurable = self._resumable_configurable(config)
        state = await self.graph.aget_state({"configurable": configurable})
        pending = {found.id for found in state.interrupts}
        stale = [found.id for found in interrupts if found.id not in pending]
        if stale:
            raise PauseNotUsable(
                f"interrupts {', '.join(stale)} are not pending on thread {configurable['thread_id']!r}; "
                "was the run resumed already?"
            )
        requirements = requirements_from_interrupts(interrupts, state, deciders)
        ids = sorted(found.id for found in interrupts)
        key = hashlib.sha256(f"{configurable['thread_id']}|{'|'.join(ids)}".encode()).hexdigest()[:32]
        return await engine.open_approval(
            title=title,
            requirements=requirements,
            adapter=self,
            resume_state=_resume_state(configurable, interrupts, pending - set(ids)),
            channel=channel,
            thread_ts=thread_ts,
            expires_at=expires_at,
            expiry_policy=expiry_policy,
            requested_by=requested_by,
            reminders=reminders,
            idempotency_key=f"{self.name}:{key}",
        )

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        """Answer the approval's interrupts by id and stream the run until it ends or pauses again."""
        configurable: dict[str, Any] = dict(approval.resume_state[CONFIGURABLE])
        config: RunnableConfig = {"configurable": configurable}
        bound = log.bind(approval_id=approval.id, thread_id=configurable.get("thread_id"))
        answers = resume_values(approval)
        state = await self.graph.aget_state(config)
        pending = {found.id for found in state.interrupts}
        # A resume that already happened (the process died after LangGraph saved it) must not
        # answer the interrupts again: only the ones still pending are sent.
        to_send = {interrupt_id: value for interrupt_id, value in answers.items() if interrupt_id in pending}
        bound.info("langgraph_resume", answering=sorted(to_send), already_answered=sorted(set(answers) - pending))

        translator = ContinuationTranslator(rejected_calls=_rejected_calls(approval))
        if to_send or (state.next and not state.interrupts):
            for row in _rows_that_run(approval, to_send):
                meta = row.requirement.metadata
                for event in translator.tool_started(meta[TOOL_CALL_ID], meta[TOOL], _executed_args(row)):
                    yield event
            run_input: Command[Any] | None = Command(resume=to_send) if to_send else None
            async for part in self.graph.astream(
                run_input, config, stream_mode=_STREAM_MODES, version="v2", subgraphs=True
            ):
                for event in translator.events(part):
                    yield event

        after = await self.graph.aget_state(config)
        # Interrupts another approval answers (the run was paused on more than this one covers) stay theirs.
        others = set(approval.resume_state.get(OTHER_INTERRUPTS, ())) & {found.id for found in after.interrupts}
        new = [found for found in after.interrupts if found.id not in others]
        if new:
            bound.info("langgraph_paused_again", interrupts=sorted(found.id for found in new))
            yield NestedPause(
                title=f"{approval.title} (continued)",
                requirements=tuple(requirements_from_interrupts(new, after)),
                resume_state=_resume_state(configurable, new, others),
            )
            return
        summary, output = final_output(after.values)
        bound.info("langgraph_finished", still_paused_elsewhere=sorted(others))
        yield Done(summary=summary, output=output)

    def _resumable_configurable(self, config: RunnableConfig) -> dict[str, Any]:
        """The run's configurable values that can be stored as JSON and mean the same later."""
        if self.graph.checkpointer in (None, False, True):
            raise PauseNotUsable(
                "the graph has no checkpointer of its own: compile it with one "
                "(e.g. AsyncSqliteSaver) so the run can be resumed later"
            )
        if isinstance(self.graph.checkpointer, InMemorySaver):
            log.warning("langgraph_checkpointer_in_memory", hint="a resume after a restart needs a durable saver")
        configurable: dict[str, Any] = dict((config or {}).get("configurable") or {})
        if not configurable.get("thread_id"):
            raise PauseNotUsable("config has no configurable.thread_id: pass the config the run was invoked with")
        return {
            key: value
            for key, value in configurable.items()
            # checkpoint_id pins a past checkpoint; a resume continues from the newest one.
            if not key.startswith("__") and key != "checkpoint_id" and isinstance(value, str | int | float | bool)
        }


def _interrupts_of(paused: Paused) -> list[Interrupt]:
    if isinstance(paused, GraphOutput | StateSnapshot):
        found = list(paused.interrupts)
    elif isinstance(paused, Sequence) and all(isinstance(item, Interrupt) for item in paused):
        found = [item for item in paused if isinstance(item, Interrupt)]
    else:
        raise PauseNotUsable(
            f"expected the result of ainvoke(..., version='v2'), a StateSnapshot or Interrupts, "
            f"got {type(paused).__name__}"
        )
    if not found:
        raise PauseNotUsable("the run is not paused: it has no interrupts")
    return found


def _resume_state(configurable: Mapping[str, Any], interrupts: Sequence[Interrupt], others: set[str]) -> dict[str, Any]:
    return {
        CONFIGURABLE: dict(configurable),
        INTERRUPT_IDS: sorted(found.id for found in interrupts),
        OTHER_INTERRUPTS: sorted(others),
    }


def _rows_that_run(approval: Approval, answering: Mapping[str, Any]) -> list[Row]:
    """The tool calls a person let run (approved, or edited), among the interrupts being answered now."""
    running = []
    for row in approval.rows:
        meta, decision, kind = row.requirement.metadata, row.decision, row.requirement.kind
        if meta[SOURCE] == PLAIN or not meta.get(TOOL_CALL_ID) or meta[INTERRUPT_ID] not in answering:
            continue
        if decision is not None and (
            (kind == "confirmation" and decision.outcome == "approved")
            or (kind == "user_input" and decision.outcome == "answered")
        ):
            running.append(row)
    return running


def _executed_args(row: Row) -> Mapping[str, Any]:
    decision = middleware_decision(row)
    return decision["edited_action"]["args"] if decision["type"] == "edit" else row.requirement.metadata[ARGS]


def _rejected_calls(approval: Approval) -> set[str]:
    return {
        row.requirement.metadata[TOOL_CALL_ID]
        for row in approval.rows
        if row.requirement.metadata.get(TOOL_CALL_ID) and row.decision and row.decision.outcome == "rejected"
    }
