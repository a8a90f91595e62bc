"""The LangGraph adapter: a paused graph run becomes one approval; its decisions resume the run.

What the resume needs is stored with the approval, never kept in memory: the run's
``configurable`` (thread id...) in ``resume_state`` and, per row, the interrupt it answers.
The graph's own checkpointer keeps the run; so a new process with the same database, the
same checkpointer and the same compiled graph resumes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel
from langgraph.types import Command, GraphOutput, Interrupt, StateSnapshot

from slack_hitl import (
    Approval,
    ContinuationEvent,
    Deciders,
    Done,
    Engine,
    ExpiryPolicy,
    NestedPause,
    Row,
)
from slack_hitl_langgraph.answers import middleware_decision, resume_values
from slack_hitl_langgraph.continuation import ContinuationTranslator
from slack_hitl_langgraph.errors import PauseNotUsable
from slack_hitl_langgraph.output import final_output
from slack_hitl_langgraph.pauses import ARGS, PLAIN, SOURCE, TOOL, TOOL_CALL_ID, requirements_from_interrupts

log = structlog.get_logger("slack_hitl_langgraph")

CONFIGURABLE = "configurable"
INTERRUPT_IDS = "interrupt_ids"
_STREAM_MODES = ["messages", "updates"]

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
    ) -> Approval:
        """Open one approval for every interrupt of a paused run.

        ``paused`` is what ``ainvoke(..., version="v2")`` returned, the graph's state snapshot, or
        its interrupts; ``config`` is the run's config (its ``configurable`` names the thread).
        Opening the same pause twice returns the same approval.
        """
        interrupts = _interrupts_of(paused)
        configurable = self._resumable_configurable(config)
        state = await self.graph.aget_state({CONFIGURABLE: configurable})
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
            resume_state={CONFIGURABLE: configurable, INTERRUPT_IDS: ids},
            channel=channel,
            thread_ts=thread_ts,
            expires_at=expires_at,
            expiry_policy=expiry_policy,
            idempotency_key=f"{self.name}:{key}",
        )

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncIterator[ContinuationEvent]:
        """Answer the approval's interrupts by id and stream the run until it ends or pauses again."""
        config: RunnableConfig = {CONFIGURABLE: dict(approval.resume_state[CONFIGURABLE])}
        bound = log.bind(approval_id=approval.id, thread_id=config[CONFIGURABLE].get("thread_id"))
        answers = resume_values(approval)
        state = await self.graph.aget_state(config)
        pending = {found.id for found in state.interrupts}
        # A resume that already happened (the process died after LangGraph saved it) must not
        # answer the interrupts again: only the ones still pending are sent.
        to_send = {interrupt_id: value for interrupt_id, value in answers.items() if interrupt_id in pending}
        run_input: Command[Any] | None = Command(resume=to_send) if to_send else None
        runs = bool(to_send) or (bool(state.next) and not state.interrupts)
        bound.info("langgraph_resume", answering=sorted(to_send), already_answered=sorted(set(answers) - pending))

        translator = ContinuationTranslator(rejected_calls=_rejected_calls(approval))
        for row in approval.rows:
            meta = row.requirement.metadata
            if meta[SOURCE] != PLAIN and meta.get(TOOL_CALL_ID) and _runs_tool(row):
                for event in translator.tool_started(meta[TOOL_CALL_ID], meta[TOOL], _executed_args(row)):
                    yield event
        if runs:
            async for part in self.graph.astream(
                run_input, config, stream_mode=_STREAM_MODES, version="v2", subgraphs=True
            ):
                for event in translator.events(part):
                    yield event

        after = await self.graph.aget_state(config)
        if after.interrupts:
            requirements = requirements_from_interrupts(after.interrupts, after)
            ids = sorted(found.id for found in after.interrupts)
            bound.info("langgraph_paused_again", interrupts=ids)
            yield NestedPause(
                title=f"{approval.title} (continued)",
                requirements=tuple(requirements),
                resume_state={CONFIGURABLE: config[CONFIGURABLE], INTERRUPT_IDS: ids},
            )
            return
        summary, output = final_output(after.values)
        bound.info("langgraph_finished")
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
        configurable = dict((config or {}).get(CONFIGURABLE) or {})
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
        found = list(paused)
    else:
        raise PauseNotUsable(
            f"expected the result of ainvoke(..., version='v2'), a StateSnapshot or Interrupts, "
            f"got {type(paused).__name__}"
        )
    if not found:
        raise PauseNotUsable("the run is not paused: it has no interrupts")
    return found


def _runs_tool(row: Row) -> bool:
    """The person let this tool call run (approved it, or edited its arguments)."""
    decision, kind = row.decision, row.requirement.kind
    if decision is None:
        return False
    return (kind == "confirmation" and decision.outcome == "approved") or (
        kind == "user_input" and decision.outcome == "answered"
    )


def _executed_args(row: Row) -> Mapping[str, Any]:
    decision = middleware_decision(row)
    return decision["edited_action"]["args"] if decision["type"] == "edit" else row.requirement.metadata[ARGS]


def _rejected_calls(approval: Approval) -> set[str]:
    return {
        row.requirement.metadata[TOOL_CALL_ID]
        for row in approval.rows
        if row.requirement.metadata.get(TOOL_CALL_ID) and row.decision and row.decision.outcome == "rejected"
    }
