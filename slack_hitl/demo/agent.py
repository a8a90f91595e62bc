"""The demo's sample agent: an adapter whose resumed run tells, step by step, what it does with each decision.

``continuation_steps`` is pure: it reads the decided approval and returns the events to stream,
each after a short pause, so the thread shows the "thinking" status, text growing and tool
progress lines over a couple of seconds, as a real agent's continuation would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from slack_hitl.approvals import Approval, Row
from slack_hitl.events import ContinuationEvent, Done, Status, TextDelta, ToolProgress

DEMO_ADAPTER = "demo_agent"
LARGE_BATCH = 10
"""Rows of the large sample the clean-up agent handles per tool call."""


@dataclass(frozen=True)
class Step:
    """One event of a continuation and how long the agent works before it (in seconds at pace 1)."""

    delay: float
    event: ContinuationEvent


class DemoAgent:
    """Resumes the demo's sample pauses by streaming a scripted continuation; ``pace`` scales its pauses."""

    name = DEMO_ADAPTER

    def __init__(self, *, pace: float = 1.0) -> None:
        if pace < 0:
            raise ValueError(f"pace must not be negative, got {pace}")
        self.pace = pace

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        for step in continuation_steps(approval):
            if step.delay and self.pace:
                await asyncio.sleep(step.delay * self.pace)
            yield step.event


def continuation_steps(approval: Approval) -> list[Step]:
    """What the agent does once every row of ``approval`` is decided, as timed events ending in ``Done``."""
    sample = approval.resume_state.get("sample")
    if sample == "release":
        return _release_steps(approval)
    if sample == "large":
        return _large_steps(approval)
    if sample == "purchase":
        return _purchase_steps(approval)
    raise ValueError(f"approval {approval.id} was not opened by the demo (resume_state {approval.resume_state!r})")


def who(row: Row) -> str:
    """The name of whoever decided ``row``, as the continuation mentions them."""
    return row.decided_by_name or row.decided_by or "someone"


def _approved(row: Row | None) -> bool:
    return row is not None and row.decision is not None and row.decision.outcome != "rejected"


# -- the release sample ----------------------------------------------------------------------------


def _release_steps(approval: Approval) -> list[Step]:
    rows = {row.id: row for row in approval.rows}
    steps = [Step(1.2, TextDelta(text=f"Resuming **{approval.title}** with {len(rows)} decisions.\n"))]
    steps += _migration_steps(rows.get("migrate"))
    steps += _deploy_steps(rows.get("deploy"))
    steps += _smoke_steps(rows.get("smoke"))
    steps += _announce_steps(rows.get("announce"))
    steps += _notes_steps(rows.get("notes"), approval.title)
    done = [row.id for row in approval.rows if _approved(row)]
    summary = f"Finished: {len(done)} of {len(rows)} steps done, the others skipped as decided."
    steps.append(Step(0.3, TextDelta(text=f"\n{summary}\n")))
    steps.append(Step(0.1, Done(summary=summary, output={"sample": "release", "done": done})))
    return steps


def _migration_steps(row: Row | None) -> list[Step]:
    if row is None or row.decision is None:
        return []
    if not _approved(row):
        reason = row.decision.reason or "no reason given"
        return [
            Step(0.3, ToolProgress(name="run_migration", state="skipped", detail=f"rejected by {who(row)}: {reason}"))
        ]
    return [
        Step(0.3, ToolProgress(name="run_migration", detail="0042_add_invoices on billing-prod-eu")),
        Step(0.1, Status(text="is running the migration...")),
        Step(0.9, ToolProgress(name="run_migration", state="finished", detail="3 statements in 1.2 s")),
    ]


def _deploy_steps(row: Row | None) -> list[Step]:
    if row is None or row.decision is None:
        return []
    values = row.decision.values
    plan = (
        f"{values.get('replicas')} replicas of {values.get('cpu')} CPU in {values.get('region')}, "
        f"{str(values.get('strategy', '')).lower()}, window {values.get('window')}"
    )
    steps = [
        Step(0.3, TextDelta(text=f"\n{who(row)} chose the rollout: {plan}.\n")),
        Step(0.2, ToolProgress(name="deploy", detail=f"ticket {values.get('ticket')}")),
        Step(0.1, Status(text="is rolling out...")),
    ]
    if values.get("dry_run"):
        steps.append(Step(0.4, TextDelta(text="Dry run passed.\n")))
    checks = ", ".join(values.get("checks") or []) or "none"
    steps.append(Step(0.7, ToolProgress(name="deploy", state="finished", detail=f"healthy; checks: {checks}")))
    notify = values.get("notify") or []
    if notify:
        steps.append(Step(0.2, TextDelta(text=f"Notified {', '.join(notify)}.\n")))
    return steps


def _smoke_steps(row: Row | None) -> list[Step]:
    if row is None or row.decision is None:
        return []
    report = json.dumps(row.decision.result, ensure_ascii=False)
    return [Step(0.3, TextDelta(text=f"Smoke test report from {who(row)}: `{report}`\n"))]


def _announce_steps(row: Row | None) -> list[Step]:
    if row is None or row.decision is None:
        return []
    if not _approved(row):
        detail = f"kept back by {who(row)}"
        return [Step(0.2, ToolProgress(name="post_release_note", state="skipped", detail=detail))]
    return [
        Step(0.2, ToolProgress(name="post_release_note", detail="#releases")),
        Step(0.5, ToolProgress(name="post_release_note", state="finished", detail=f"approved by {who(row)}")),
    ]


def _notes_steps(row: Row | None, title: str) -> list[Step]:
    if row is None or row.decision is None:
        return []
    answers: dict[str, Any] = row.decision.values
    tone = _answer_text(answers.get("tone"))
    highlights = (answers.get("highlights") or {}).get("selected") or []
    notes = release_notes(title, tone, highlights)
    steps = [Step(0.3, TextDelta(text=f"\n**Release notes** ({tone}):\n"))]
    steps += [Step(0.25, TextDelta(text=piece)) for piece in _pieces(notes, words=6)]
    return steps


def _answer_text(answer: Any) -> str:
    if not isinstance(answer, dict):
        return "plain"
    parts = [*answer.get("selected", []), *([answer["text"]] if answer.get("text") else [])]
    return ", ".join(str(part) for part in parts) or "plain"


def release_notes(title: str, tone: str, highlights: Sequence[str]) -> str:
    """The release notes the agent writes in the chosen ``tone`` about the chosen ``highlights``."""
    product = title.split("ship ", 1)[-1]
    items = list(highlights) or ["small fixes"]
    if tone.startswith("Friendly"):
        return f"Hi all! {product} is out :tada: It brings {_and(items)}. Thanks for your patience!\n"
    if tone.startswith("Detailed"):
        lines = "".join(f"- {item}: shipped, behind no flag, covered by the smoke suite\n" for item in items)
        return f"{product}\n{lines}Rollback: redeploy the previous image; the migration is forward-only.\n"
    return f"{product}: {_and(items)}.\n"


def _and(items: Sequence[str]) -> str:
    items = [item[0].lower() + item[1:] if item else item for item in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _pieces(text: str, *, words: int) -> list[str]:
    """``text`` in pieces of about ``words`` words, as a model streams it (the pieces join back to ``text``)."""
    tokens = text.split(" ")
    return [
        " ".join(tokens[i : i + words]) + (" " if i + words < len(tokens) else "") for i in range(0, len(tokens), words)
    ]


# -- the large sample ------------------------------------------------------------------------------


def _large_steps(approval: Approval) -> list[Step]:
    rows = approval.rows
    steps = [Step(1.0, TextDelta(text=f"Cleaning up: **{approval.title}**.\n"))]
    for first in range(0, len(rows), LARGE_BATCH):
        batch = rows[first : first + LARGE_BATCH]
        removed = sum(_approved(row) and row.requirement.kind == "confirmation" for row in batch)
        label = f"rows {first + 1}-{first + len(batch)}"
        steps.append(Step(0.15, ToolProgress(name="git_push_delete", detail=label)))
        steps.append(Step(0.25, ToolProgress(name="git_push_delete", state="finished", detail=f"{removed} deleted")))
    deleted = sum(_approved(row) and row.requirement.kind == "confirmation" for row in rows)
    summary = f"Deleted {deleted} branches; the other {len(rows) - deleted} rows were kept or answered."
    steps.append(Step(0.2, TextDelta(text=f"\n{summary}\n")))
    steps.append(Step(0.1, Done(summary=summary, output={"sample": "large", "deleted": deleted})))
    return steps


# -- the purchase sample ---------------------------------------------------------------------------


def _purchase_steps(approval: Approval) -> list[Step]:
    finance = approval.row("finance")
    if not _approved(approval.row("manager")) or not _approved(finance):
        summary = "Not ordered: the purchase was rejected."
        return [Step(0.5, TextDelta(text=f"{summary}\n")), Step(0.1, Done(summary=summary, output={"ordered": False}))]
    approvers = ", ".join(vote.voter_name or vote.voter for vote in finance.votes_for("approved")) if finance else ""
    summary = f"Ordered: {approval.title.split('order ', 1)[-1]}, budget released by {approvers}."
    return [
        Step(0.6, ToolProgress(name="place_order", detail="CDW")),
        Step(0.4, ToolProgress(name="place_order", state="finished", detail="PO-7731")),
        Step(0.2, TextDelta(text=f"{summary}\n")),
        Step(0.1, Done(summary=summary, output={"ordered": True})),
    ]
