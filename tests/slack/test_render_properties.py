"""Property: any approval of 1 to 200 rows renders to messages and modals Slack accepts, every row decidable.

Hypothesis builds approvals of random kinds, states and statuses whose titles, descriptions,
arguments, choices, labels, reasons and ids are long, unicode-heavy or full of Slack markup.
For each one: every part passes ``validate_message`` and is accepted by the emulator's
chat.postMessage (the main message, then the continuations in its thread); every row is in
exactly one part; in a pending approval every undecided row has a button that parses back to
it, and every one of its choices can be chosen (as a button, or in the modal the button opens);
every modal passes ``validate_view``, is opened by the emulator's views.open, and its untouched
state (as Slack would submit it) reads back through ``parse_submission``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from slack_hitl.approvals import Approval, Row
from slack_hitl.decisions import Decision
from slack_hitl.requirements import Choice, Confirmation, Deciders, InputField, Question, Requirement
from slack_hitl.slack.documented_limits import blocks_text_length
from slack_hitl.slack.ids import ActionRef, parse_action
from slack_hitl.slack.limits import validate_message, validate_view
from slack_hitl.slack.modals import build_modal, parse_submission, reason_required
from slack_hitl.slack.render import MessagePart, _PendingRow, may_change, opens_modal, render_approval
from slack_hitl.testing import SlackEmulator
from slack_hitl.testing.slack_user import view_state_values

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CHANNEL = "C0PROPS"
CLICKER = "U0CLICKER"

MARKUP = [
    "<!channel>",
    "<!here>",
    "<@U0BOSS>",
    "<#C0GENERAL>",
    "<!subteam^S0OPS>",
    "<https://evil.example|your bank>",
    "<!date^1^{date}|x>",
    "&amp;",
    "&",
    "<",
    ">",
    "*",
    "_",
    "~",
    "`",
    "```",
    "**bold**",
    "[x](https://e.com/?a=1&b=2)",
    "[y](javascript:alert(1))",
    "# heading\n",
    "- item\n",
    "\n",
    "|",
    ":smile:",
    "@here",
    "\u200b",
    "👩\u200d👩\u200d👧",
    "\U0001d54f",  # a letter outside the basic plane
    "\t",
    " ",
    '"',
    "\\",
]
LONG_UNITS = ["a", "ü", "€", "<!here>", "👍", "&", "x y ", "**b** "]

short_text = st.text(max_size=30)
markup_text = st.lists(st.one_of(st.sampled_from(MARKUP), st.text(max_size=6)), max_size=12).map("".join)
long_text = st.tuples(st.sampled_from(LONG_UNITS), st.integers(300, 6000)).map(lambda t: t[0] * (t[1] // len(t[0])))
any_text = st.one_of(short_text, markup_text, long_text)
some_text = any_text.map(lambda text: text or "x")


def clip(text: str, limit: int) -> str:
    return text[:limit] or "x"


@st.composite
def choices(draw: st.DrawFn) -> tuple[Choice, ...]:
    count = draw(st.one_of(st.integers(1, 4), st.integers(1, 40), st.sampled_from([25, 26])))
    label = st.one_of(st.none(), any_text.map(lambda t: t[:75]), long_text.map(lambda t: t[:75]))
    labels = draw(st.lists(label, min_size=count, max_size=count))
    values = draw(st.lists(any_text, min_size=count, max_size=count))
    rejects = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    return tuple(
        Choice(value=clip(f"{i}:{value}", 150), label=label, rejects=reject)
        for i, (value, label, reject) in enumerate(zip(values, labels, rejects, strict=True))
    )


@st.composite
def input_fields(draw: st.DrawFn, prefix: str) -> tuple[InputField, ...]:
    fields = []
    for index in range(draw(st.integers(1, 6))):
        kind = draw(
            st.sampled_from(
                ["text", "long_text", "number", "integer", "boolean", "single_choice", "multiple_choice", "date"]
            )
        )
        options: tuple[str, ...] = ()
        if kind in ("single_choice", "multiple_choice"):
            options = tuple(draw(st.lists(any_text, min_size=1, max_size=draw(st.sampled_from([3, 12, 120])))))
        default = draw(
            st.sampled_from(
                [None, "default", 5, 2.5, True, "2025-01-02", list(options[:2]), options[0] if options else "x"]
            )
        )
        fields.append(
            InputField(
                name=clip(f"{prefix}{index}:{draw(any_text)}", 100),
                type=kind,
                label=draw(st.one_of(st.none(), any_text)),
                description=draw(any_text),
                required=draw(st.booleans()),
                default=default,
                choices=options,
                min_value=draw(st.sampled_from([None, 0, 1.5])),
                max_value=draw(st.sampled_from([None, 10, 99.5])),
                max_length=draw(st.sampled_from([None, 1, 50, 3000])),
            )
        )
    return tuple(fields)


@st.composite
def questions(draw: st.DrawFn) -> tuple[Question, ...]:
    made = []
    for index in range(draw(st.integers(1, 5))):
        options = tuple(draw(st.lists(any_text, max_size=draw(st.sampled_from([3, 11, 120])))))
        made.append(
            Question(
                name=clip(f"q{index}:{draw(any_text)}", 100),
                question=draw(some_text),
                options=options,
                multiple=draw(st.booleans()),
                allow_free_text=draw(st.booleans()) or not options,
                required=draw(st.booleans()),
            )
        )
    return tuple(made)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    kind = draw(st.sampled_from(["confirmation", "user_input", "user_feedback", "external_execution"]))
    extra: dict[str, Any] = {}
    if kind == "confirmation":
        extra["confirmation"] = Confirmation(
            choices=draw(choices()),
            multiple=draw(st.booleans()),
            reason=draw(st.sampled_from(["none", "optional", "required_on_reject", "always"])),
        )
        if draw(st.booleans()):
            extra["fields"] = draw(input_fields("f"))
    elif kind == "user_input":
        extra["fields"] = draw(input_fields("f"))
    elif kind == "user_feedback":
        extra["questions"] = draw(questions())
    else:
        extra["result_format"] = draw(st.sampled_from(["text", "json"]))
    if draw(st.booleans()):
        # As large as a row gets: many long arguments (the most text a row can carry).
        arguments = {f"{i}:{draw(short_text)}": draw(long_text) for i in range(draw(st.integers(8, 14)))}
    else:
        values = st.one_of(any_text, st.integers(), st.lists(any_text, max_size=3))
        arguments = draw(st.dictionaries(any_text, values, max_size=14))
    deciders = Deciders(
        user_ids=tuple(draw(st.lists(st.one_of(st.sampled_from(["U0ALICE", "W0BOB"]), short_text), max_size=7))),
        group_ids=tuple(draw(st.lists(st.one_of(st.just("S0OPS"), short_text), max_size=2))),
    )
    return Requirement(
        id=clip(draw(any_text), 190),
        kind=kind,
        title=draw(st.one_of(some_text, long_text)),
        description=draw(st.one_of(any_text, long_text)),
        arguments=arguments,
        deciders=deciders,
        **extra,
    )


def decision_for(requirement: Requirement, rnd: random.Random, text: str) -> Decision:
    if requirement.confirmation is not None:
        choice = rnd.choice(requirement.confirmation.choices)
        return Decision(
            outcome="rejected" if choice.rejects else "approved",
            choices=(choice.value,),
            values={f.name: text for f in requirement.fields},
            reason=text or None,
        )
    if requirement.kind == "user_feedback":
        return Decision(
            outcome="answered",
            values={q.name: {"selected": list(q.options[:2]), "text": text} for q in requirement.questions},
        )
    if requirement.kind == "external_execution":
        return Decision(outcome="answered", result=rnd.choice([text, {"out": text, "n": [1, 2]}]), reason=text)
    return Decision(outcome="answered", values={f.name: text for f in requirement.fields}, reason=text)


@st.composite
def approvals(draw: st.DrawFn) -> tuple[Approval, list[int]]:
    """An approval, and for each distinct requirement the position of its first row."""
    templates = draw(st.lists(requirements(), min_size=1, max_size=6))
    count = draw(st.one_of(st.integers(1, 12), st.integers(1, 200)))
    rnd = draw(st.randoms(use_true_random=False))
    texts = draw(st.lists(any_text, min_size=1, max_size=4))
    status = draw(
        st.sampled_from(["pending", "pending", "pending", "resuming", "approved", "completed", "expired", "cancelled"])
    )
    rows = []
    for position in range(count):
        template = templates[position % len(templates)]
        requirement = template.model_copy(update={"id": clip(f"{position}:{template.id}", 200)})
        decided = (status != "pending" and rnd.random() < 0.8) or rnd.random() < 0.3
        rows.append(
            Row(
                requirement=requirement,
                position=position,
                decision=decision_for(requirement, rnd, rnd.choice(texts)) if decided else None,
                decided_by=rnd.choice(["U0ALICE", "system:expiry", rnd.choice(texts)]) if decided else None,
                decided_by_name=rnd.choice([None, rnd.choice(texts)]) if decided else None,
                decided_at=NOW - dt.timedelta(seconds=rnd.randrange(10**6)) if decided else None,
            )
        )
    approval = Approval(
        id=draw(st.sampled_from(["a" * 32, "b1"])),
        title=draw(some_text),
        status=status,
        adapter="property",
        rows=tuple(rows),
        channel=CHANNEL,
        expires_at=draw(
            st.one_of(st.none(), st.just(NOW + dt.timedelta(hours=3)), st.just(NOW - dt.timedelta(hours=3)))
        ),
        expired=status == "expired",
        version=draw(st.integers(0, 10**6)),
        attempts=draw(st.integers(0, 5)),
        last_error=draw(st.one_of(st.none(), any_text)),
        created_at=NOW - dt.timedelta(days=1),
        finished_at=NOW if status not in ("pending", "resuming") else None,
    )
    return approval, list(range(min(count, len(templates))))


@pytest.fixture(scope="module")
def slack() -> Iterator[tuple[SlackEmulator, WebClient]]:
    with SlackEmulator() as emulator:
        yield emulator, WebClient(token="xoxb-test", base_url=emulator.base_url)


def buttons_of(part: MessagePart) -> list[dict[str, Any]]:
    found = []
    for block in part.blocks:
        elements = block.get("elements", []) if block["type"] == "actions" else [block.get("accessory") or {}]
        found.extend(e for e in elements if e.get("type") == "button")
    return found


def assert_parts_accepted(approval: Approval, parts: list[MessagePart], client: WebClient) -> None:
    covered = [position for part in parts for position in range(part.first_row, part.last_row + 1)]
    assert covered == list(range(len(approval.rows)))
    thread_ts = None
    for part in parts:
        validate_message(part.blocks, part.text)
        answer = client.chat_postMessage(channel=CHANNEL, text=part.text, blocks=part.blocks, thread_ts=thread_ts)
        assert answer["ok"] is True
        thread_ts = thread_ts or answer["ts"]


def assert_every_row_decidable(approval: Approval, parts: list[MessagePart]) -> None:
    clicked: dict[str, set[str | None]] = {}
    changes: set[str] = set()
    for part in parts:
        for button in buttons_of(part):
            ref = parse_action(button["action_id"], button["value"])
            assert ref.approval_id == approval.id
            if isinstance(ref, ActionRef) and ref.verb == "withdraw":
                changes.add(ref.row_id)
            elif isinstance(ref, ActionRef):
                clicked.setdefault(ref.row_id, set()).add(ref.choice)
    # A decided row offers its decider a change exactly while the approval is open and another row is not.
    assert changes == {row.id for row in approval.rows if may_change(approval, row)}
    if approval.status != "pending":
        assert clicked == {}
        assert changes == set()
        return
    for row in approval.rows:
        if row.decided:
            assert row.id not in clicked
        elif opens_modal(row.requirement):
            assert clicked[row.id] == {None}
        else:
            assert clicked[row.id] == {c.value for c in row.requirement.confirmation.choices}


def assert_modals_accepted(
    approval: Approval, positions: list[int], emulator: SlackEmulator, client: WebClient
) -> None:
    for position in positions:
        row = approval.rows[position]
        presets: list[str | None] = [None]
        if row.requirement.confirmation is not None:
            needing = [c for c in row.requirement.confirmation.choices if reason_required(row.requirement, c)]
            presets += [c.value for c in needing[:1]]
        for choice in presets:
            view = build_modal(approval, row, choice=choice, channel=CHANNEL, message_ts="1700000000.000100")
            validate_view(view)
            if choice is None and row.requirement.confirmation is not None:
                offered = next(b for b in view["blocks"] if b.get("block_id") == "choice")["element"]
                options = offered.get("options") or [o for g in offered["option_groups"] for o in g["options"]]
                assert len(options) == len(row.requirement.confirmation.choices)
            answer = client.views_open(trigger_id=emulator.issue_trigger_id(CLICKER), view=view)
            assert answer["ok"] is True
            untouched = view_state_values(view["blocks"], {}, allow_missing_required=True)
            parse_submission(row.requirement, untouched, choice=choice)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(case=approvals())
def test_any_approval_renders_to_messages_and_modals_slack_accepts(
    slack: tuple[SlackEmulator, WebClient], case: tuple[Approval, list[int]]
) -> None:
    emulator, client = slack
    approval, template_positions = case
    parts = render_approval(approval, now=NOW)
    assert_parts_accepted(approval, parts, client)
    assert_every_row_decidable(approval, parts)
    assert_modals_accepted(approval, template_positions, emulator, client)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requirement=requirements())
def test_a_pending_row_is_weighed_as_slack_counts_its_blocks(requirement: Requirement) -> None:
    # Rows are packed into messages by weights counted on their texts, without building blocks:
    # the count must be the one Slack makes on the blocks, or a message could overflow.
    row = Row(requirement=requirement, position=0)
    approval = Approval(id="a" * 32, title="t", status="pending", adapter="p", rows=(row,), created_at=NOW)
    pending = _PendingRow.of(approval, 0)
    blocks = [block.to_dict() for block in pending.blocks("r0")]
    assert pending.text_length == blocks_text_length(blocks)
    assert pending.block_count == len(blocks)
