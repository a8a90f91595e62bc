"""The demo's samples and its agent, without a server: what the pauses ask for and what the resume streams."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from slack_hitl import Approval, DecisionInput, Done, Row, Status, TextDelta, ToolProgress, validate_decision
from slack_hitl.demo import LARGE_ROWS, DemoAgent, build_sample, continuation_steps
from slack_hitl.demo.agent import release_notes
from slack_hitl.demo.samples import KEEP, large_sample, release_sample
from slack_hitl.slack.limits import validate_message
from slack_hitl.slack.modals import build_modal
from slack_hitl.slack.render import render_approval

TODAY = dt.date(2025, 3, 14)
NOW = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)


def decided(kind: str, answers: dict[str, DecisionInput], **options: Any) -> Approval:
    """A sample approval whose rows are decided with ``answers`` (validated as the service validates them)."""
    sample = build_sample(kind, announcer="U0BOB", today=TODAY, **options)  # type: ignore[arg-type]
    rows = []
    for position, requirement in enumerate(sample.requirements):
        answer = answers.get(requirement.id, DecisionInput(choices=("delete",)))
        decision = validate_decision(requirement, answer)
        rows.append(
            Row(
                requirement=requirement,
                position=position,
                decision=decision,
                decided_by="U0BOB",
                decided_by_name="bob",
                decided_at=NOW,
            )
        )
    return Approval(
        id="a1", title=sample.title, status="resuming", adapter="demo_agent", resume_state={"sample": kind},
        rows=tuple(rows), created_at=NOW,
    )  # fmt: skip


RELEASE_ANSWERS = {
    "migrate": DecisionInput(choices=("approve",)),
    "announce": DecisionInput(choices=("reject",)),
    "deploy": DecisionInput(
        values={
            "replicas": "4",
            "cpu": "2.5",
            "region": "us-east-1",
            "strategy": "Blue/green",
            "notify": ["#sre"],
            "checks": ["Error budget"],
            "window": "2025-03-15",
            "ticket": "CHG-7",
            "dry_run": True,
        }
    ),
    "notes": DecisionInput(
        values={"tone": {"selected": ["Detailed, for engineers"]}, "highlights": ["The invoices API"]}
    ),
    "smoke": DecisionInput(result='{"passed": 42, "failed": 0}'),
}


def unopened(kind: str) -> Approval:
    sample = build_sample(kind, announcer="U0BOB", today=TODAY)  # type: ignore[arg-type]
    rows = tuple(Row(requirement=r, position=i) for i, r in enumerate(sample.requirements))
    return Approval(id="a1", title=sample.title, status="pending", adapter="demo_agent", rows=rows, created_at=NOW)


def test_the_release_sample_has_rows_of_all_four_kinds_and_only_bob_may_approve_the_announcement() -> None:
    sample = release_sample(announcer="U0BOB", today=TODAY)
    assert [r.kind for r in sample.requirements] == [
        "confirmation",
        "confirmation",
        "user_input",
        "user_feedback",
        "external_execution",
    ]
    assert sample.requirements[1].deciders.user_ids == ("U0BOB",)
    assert sample.title == "Release agent: ship billing-api v2.4"
    assert release_sample(number=2, announcer="U0BOB").title.endswith("v2.5")


def test_the_release_sample_asks_for_every_input_a_modal_can_show() -> None:
    approval = unopened("release")
    elements = []
    for row in approval.rows:
        view = build_modal(approval, row, choice=None, channel="C1", message_ts="1.0")
        elements += [block["element"] for block in view["blocks"] if block["type"] == "input"]
    types = {element["type"] for element in elements}
    assert types == {
        "plain_text_input",
        "number_input",
        "static_select",
        "multi_static_select",
        "checkboxes",
        "radio_buttons",
        "datepicker",
    }
    texts = [e for e in elements if e["type"] == "plain_text_input"]
    assert {bool(e.get("multiline")) for e in texts} == {True, False}
    numbers = [e for e in elements if e["type"] == "number_input"]
    assert {e["is_decimal_allowed"] for e in numbers} == {True, False}
    dates = [e for e in elements if e["type"] == "datepicker"]
    assert dates[0]["initial_date"] == "2025-03-15"  # tomorrow, from the sample's today


def test_the_large_sample_needs_continuation_messages_and_shows_every_row_once() -> None:
    approval = unopened("large")
    assert len(approval.rows) == LARGE_ROWS == 57
    assert {r.requirement.kind for r in approval.rows} == {"confirmation", "user_input", "user_feedback"}
    parts = render_approval(approval, now=NOW)
    assert len(parts) >= 3
    shown = [position for part in parts for position in range(part.first_row, part.last_row + 1)]
    assert shown == list(range(57))
    for part in parts:
        validate_message(part.blocks, part.text)
    assert large_sample(rows=3).requirements[0].confirmation.choices[1] == KEEP


def test_an_unknown_sample_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown sample 'huge'; choose one of release, large"):
        build_sample("huge", announcer="U0BOB")  # type: ignore[arg-type]


def test_the_release_continuation_acts_on_each_decision_with_status_text_and_tool_progress() -> None:
    approval = decided("release", RELEASE_ANSWERS)
    steps = continuation_steps(approval)
    events = [step.event for step in steps]
    tools = [(e.name, e.state) for e in events if isinstance(e, ToolProgress)]
    assert tools == [
        ("run_migration", "started"),
        ("run_migration", "finished"),
        ("deploy", "started"),
        ("deploy", "finished"),
        ("post_release_note", "skipped"),
    ]
    assert any(isinstance(e, Status) for e in events)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "4 replicas of 2.5 CPU in us-east-1, blue/green, window 2025-03-15" in text
    assert "Dry run passed." in text and "Notified #sre." in text
    assert '`{"passed": 42, "failed": 0}`' in text
    assert release_notes(approval.title, "Detailed, for engineers", ["The invoices API"]) in text
    assert isinstance(events[-1], Done) and events[-1].output == {
        "sample": "release",
        "done": ["migrate", "deploy", "notes", "smoke"],
    }
    # Streamed over a couple of seconds, in many events, not at once.
    assert 2.0 <= sum(step.delay for step in steps) <= 10.0
    assert sum(isinstance(e, TextDelta) for e in events) >= 6


def test_a_rejected_migration_is_skipped_with_who_rejected_it_and_why() -> None:
    answers = {**RELEASE_ANSWERS, "migrate": DecisionInput(choices=("reject",), reason="backup first")}
    events = [step.event for step in continuation_steps(decided("release", answers))]
    migration = [e for e in events if isinstance(e, ToolProgress) and e.name == "run_migration"]
    assert migration == [ToolProgress(name="run_migration", state="skipped", detail="rejected by bob: backup first")]


def test_the_large_continuation_reports_each_batch_and_counts_the_deleted_branches() -> None:
    by_kind = {
        "user_input": DecisionInput(values={"new_name": "archive/x"}),
        "user_feedback": DecisionInput(values={"what": "Keep it"}),
    }
    answers = {
        r.id: by_kind.get(r.kind, DecisionInput(choices=("keep" if i % 2 else "delete",)))
        for i, r in enumerate(large_sample().requirements)
    }
    approval = decided("large", answers)
    events = [step.event for step in continuation_steps(approval)]
    finished = [e.detail for e in events if isinstance(e, ToolProgress) and e.state == "finished"]
    assert len(finished) == 6  # 57 rows in batches of 10
    deleted = sum(1 for r in approval.rows if r.requirement.kind == "confirmation" and r.decision.outcome == "approved")
    assert sum(int(detail.split()[0]) for detail in finished) == deleted
    assert events[-1] == Done(summary=events[-1].summary, output={"sample": "large", "deleted": deleted})


def test_only_the_demos_own_approvals_can_be_continued() -> None:
    approval = decided("release", RELEASE_ANSWERS).model_copy(update={"resume_state": {}})
    with pytest.raises(ValueError, match="was not opened by the demo"):
        continuation_steps(approval)
    with pytest.raises(ValueError, match="pace must not be negative"):
        DemoAgent(pace=-1)


@pytest.mark.anyio
async def test_the_agent_yields_the_steps_events_in_order() -> None:
    approval = decided("release", RELEASE_ANSWERS)
    events = [event async for event in DemoAgent(pace=0).resume(approval, idempotency_key=approval.id)]
    assert events == [step.event for step in continuation_steps(approval)]
