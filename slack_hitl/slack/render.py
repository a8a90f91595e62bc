"""An approval rendered as Slack messages: one main message plus continuation messages in its thread.

Every row stays decidable and no row is dropped: rows that do not fit Slack's 50-block and
~13k-character limits go to continuation messages ("rows 21-40 of 57"). Limits hold by
construction: every text is cut to a fixed budget, so one row never needs more than two blocks
and a part's text budget, and rows are packed into parts against those budgets. Each row is
weighed at its largest state (a decided row is cut to its weight), so the packing depends only
on the requirements, never on who decided what: a row stays in the same message on every update.
That is also why rows are measured once per approval, not on every re-render.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from slack_hitl.approvals import Approval, Row
from slack_hitl.decisions import Decision
from slack_hitl.requirements import Choice, Requirement
from slack_hitl.slack.documented_limits import (
    ACTIONS_ELEMENTS,
    BUTTON_TEXT,
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    SECTION_FIELDS,
    SECTION_TEXT,
    slack_length,
)
from slack_hitl.slack.ids import action_id, button_value
from slack_hitl.slack.limits import MESSAGE_BLOCKS_TEXT_BUDGET
from slack_hitl.slack.markdown import (
    clip_source,
    cut,
    cut_mrkdwn,
    escape_cut,
    escape_line,
    one_line,
    plain_line,
    to_mrkdwn,
)
from slack_hitl.slack.mentions import NAME_CAP, deciders_text, is_user_id, user_mention
from slack_hitl.times import aware

DEFAULT_ROWS_PER_PART = 20
INLINE_CHOICES = ACTIONS_ELEMENTS
"""Confirmations with more choices (or with input fields) are decided in a modal."""
CUT_MARK = "… (cut)"

TITLE_CAP = 300
FIELD_CAP = 450
ARGUMENT_NAME_CAP = 100
CHOICE_LABELS_CAP = 80
REASON_CAP = 250
SUMMARY_CAP = 200
ERROR_CAP = 1000
DECIDED_ROOM = 450
"""Characters a decided row may always use beside its title (outcome, who, when, then reason and summary)."""
LAYOUT_CACHE_SIZE = 256
"""Approvals whose measured rows are kept; a re-render of one of them skips measuring its rows."""

MAIN_OVERHEAD_BLOCKS = 5  # header, context, status, retry, divider
CONTINUATION_OVERHEAD_BLOCKS = 1  # context
MAIN_ROWS_TEXT = MESSAGE_BLOCKS_TEXT_BUDGET - 2000  # header, context, status with the error, retry
CONTINUATION_ROWS_TEXT = MESSAGE_BLOCKS_TEXT_BUDGET - 500  # context with the title
# A pending row at most: section text + 10 cut fields + 25 buttons. It must fit a part alone.
assert SECTION_TEXT + SECTION_FIELDS * FIELD_CAP + INLINE_CHOICES * BUTTON_TEXT <= MAIN_ROWS_TEXT

_OPEN_LABELS = {
    "confirmation": "Decide…",
    "user_input": "Provide input",
    "user_feedback": "Answer",
    "external_execution": "Submit result",
}
_OUTCOMES = {
    "approved": ":white_check_mark: *Approved*",
    "rejected": ":x: *Rejected*",
    "answered": ":speech_balloon: *Answered*",
}
_FINAL_STATUS = {
    "approved": ":white_check_mark: *Approved.* The run's continuation is in the thread.",
    "rejected": ":x: *Rejected.* The run's continuation is in the thread.",
    "completed": ":ballot_box_with_check: *Completed* (some rows were rejected). The run's continuation is in the thread.",
    "expired": ":alarm_clock: *Expired.* Undecided rows were settled by the expiry policy.",
    "cancelled": ":no_entry_sign: *Cancelled.* No more decisions are taken.",
}


@dataclass(frozen=True)
class MessagePart:
    """One Slack message of an approval: blocks (as dicts), fallback text, and which rows it shows.

    ``first_row``/``last_row`` are 0-based row positions, inclusive (``last_row`` is
    ``first_row - 1`` for an approval without rows). Part 0 is the main message; the others
    are posted in its thread.
    """

    blocks: list[dict[str, Any]]
    text: str
    first_row: int
    last_row: int


def render_approval(
    approval: Approval, *, now: dt.datetime | None = None, rows_per_part: int | None = None
) -> list[MessagePart]:
    """The messages that show ``approval``: the main message first, then continuations.

    ``now`` decides whether the expiry is shown as past; ``rows_per_part`` caps the rows of one
    message (default 20; fewer when the rows are too large to fit Slack's limits together).
    """
    per_part = DEFAULT_ROWS_PER_PART if rows_per_part is None else rows_per_part
    if per_part < 1:
        raise ValueError(f"rows_per_part must be at least 1, got {per_part}")
    now = aware(now or dt.datetime.now(dt.UTC))
    measured = _MEASURED.of(approval)
    layouts = measured.rows
    ranges = measured.ranges(per_part)
    parts = []
    for index, (first, last) in enumerate(ranges):
        row_blocks = [block for layout in layouts[first : last + 1] for block in layout.blocks_now(approval)]
        if index == 0:
            head = [block.to_dict() for block in _main_blocks(approval, now, ranges)]
            text = _main_text(approval)
        else:
            head = [_continuation_context(approval, first, last).to_dict()]
            text = f"{escape_cut(_plain_title(approval), 3000)}: {_rows_label(first, last, len(approval.rows))}"
        parts.append(MessagePart([*head, *row_blocks], text, first, last))
    return parts


def split_rows(approval: Approval, rows_per_part: int = DEFAULT_ROWS_PER_PART) -> list[tuple[int, int]]:
    """The (first, last) row positions of each message part.

    Depends only on the requirements (each row is weighed at its largest state), so the rows
    of a part never move to another part when rows are decided.
    """
    return _MEASURED.of(approval).ranges(rows_per_part)


class _RowLayout:
    """A row's size at its largest state (pending), and its pending blocks once they are needed.

    The size is counted on the row's texts, without building blocks: on a re-render most rows
    are decided, and building a pending row with slack_sdk's models only to weigh it cost more
    than the rest of the render (``benchmarks/bench_interactions.py`` measures re-renders under a
    burst of clicks: how long until every message shows its latest state). The pending blocks
    are built on first need and kept as JSON with block ids that leave out the approval's
    version, so one layout serves every version and each render hands out blocks nobody else
    holds.
    """

    def __init__(self, approval: Approval, position: int) -> None:
        self.position = position
        self._pending = _PendingRow.of(approval, position)
        self.block_count = self._pending.block_count
        room = min(
            SECTION_TEXT, slack_length(_title_line(approval.rows[position].requirement, position)) + DECIDED_ROOM
        )
        self.text_weight = max(self._pending.text_length, room)
        self._pending_json: str | None = None

    def pending_blocks(self, version: int) -> list[dict[str, Any]]:
        if self._pending_json is None:
            self._pending_json = json.dumps([block.to_dict() for block in self._pending.blocks(f"r{self.position}")])
        base = f"r{self.position}"
        blocks: list[dict[str, Any]] = json.loads(self._pending_json)
        for block in blocks:
            block["block_id"] = f"{base}.v{version}{block['block_id'][len(base) :]}"
        return blocks

    def blocks_now(self, approval: Approval) -> list[dict[str, Any]]:
        row = approval.rows[self.position]
        if approval.status == "pending" and not row.decided:
            return self.pending_blocks(approval.version)
        block_id = f"r{self.position}.v{approval.version}"
        if row.decision is not None:
            text = _decided_text(row, self.position, self.text_weight)
        else:
            text = f"{_title_line(row.requirement, self.position)}\n_Not decided_"
        return [text_section(block_id, text)]


@dataclass
class _MeasuredRows:
    """An approval's row layouts, the requirements they were measured from, and their packings."""

    requirements: tuple[Requirement, ...]
    rows: list[_RowLayout]
    packings: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def ranges(self, rows_per_part: int) -> list[tuple[int, int]]:
        packed = self.packings.get(rows_per_part)
        if packed is None:
            packed = self.packings[rows_per_part] = _pack(self.rows, rows_per_part)
        return list(packed)


class _MeasuredRowsCache:
    """Measured rows per (approval id, row count), least recently used dropped first.

    An entry is used only while the approval's requirements equal those it was measured from:
    comparing them costs far less than measuring, and a reused id can never get stale parts.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, int], _MeasuredRows] = OrderedDict()
        self._lock = threading.Lock()  # renders may run in worker threads

    def of(self, approval: Approval) -> _MeasuredRows:
        key = (approval.id, len(approval.rows))
        requirements = tuple(row.requirement for row in approval.rows)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached.requirements == requirements:
                self._entries.move_to_end(key)
                return cached
        measured = _MeasuredRows(requirements, [_RowLayout(approval, p) for p in range(len(approval.rows))])
        with self._lock:
            self._entries[key] = measured
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return measured


_MEASURED = _MeasuredRowsCache(LAYOUT_CACHE_SIZE)


def _pack(layouts: Sequence[_RowLayout], rows_per_part: int) -> list[tuple[int, int]]:
    if rows_per_part < 1:
        raise ValueError(f"rows_per_part must be at least 1, got {rows_per_part}")
    if not layouts:
        return [(0, -1)]
    ranges: list[tuple[int, int]] = []
    first, blocks, text = 0, 0, 0
    for layout in layouts:
        block_cap = MESSAGE_BLOCKS - (MAIN_OVERHEAD_BLOCKS if not ranges else CONTINUATION_OVERHEAD_BLOCKS)
        text_cap = MAIN_ROWS_TEXT if not ranges else CONTINUATION_ROWS_TEXT
        count = layout.position - first
        too_many = count >= rows_per_part or blocks + layout.block_count > block_cap
        if count and (too_many or text + layout.text_weight > text_cap):
            ranges.append((first, layout.position - 1))
            first, blocks, text = layout.position, 0, 0
        blocks += layout.block_count
        text += layout.text_weight
    ranges.append((first, len(layouts) - 1))
    return ranges


def render_final_text(approval: Approval) -> str:
    """A plain summary of the approval and each row's outcome (mrkdwn, at most 4000 characters)."""
    counts = {outcome: 0 for outcome in _OUTCOMES}
    for row in approval.rows:
        if row.decision is not None:
            counts[row.decision.outcome] += 1
    tally = ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count)
    head = f"Approval {approval.status}: {escape_line(_plain_title(approval), 500)}"
    lines = [f"{head} ({tally or 'nothing decided'})"]
    for position, row in enumerate(approval.rows):
        lines.append(f"• {position + 1}. {_title_text(row.requirement, 200)}: {_short_outcome(row)}")
    text = "\n".join(lines)
    if slack_length(text) <= MESSAGE_TEXT:
        return text
    shown: list[str] = []
    for line in lines:
        if slack_length("\n".join([*shown, line])) > MESSAGE_TEXT - 40:
            break
        shown.append(line)
    return "\n".join([*shown, f"…and {len(lines) - len(shown)} more rows"])


# -- parts --------------------------------------------------------------------------------------


def _main_blocks(approval: Approval, now: dt.datetime, ranges: Sequence[tuple[int, int]]) -> list[Block]:
    version = approval.version
    blocks: list[Block] = [
        HeaderBlock(block_id=f"head.v{version}", text=PlainTextObject(text=cut(_plain_title(approval), HEADER_TEXT))),
        ContextBlock(block_id=f"ctx.v{version}", elements=_context_elements(approval, now, ranges)),
    ]
    status = _status_text(approval)
    if status:
        blocks.append(SectionBlock(block_id=f"status.v{version}", text=mrkdwn(status)))
    if _retryable(approval):
        retry = ButtonElement(
            text=PlainTextObject(text="Retry"),
            action_id=action_id("retry", 0),
            value=button_value(approval.id, None, None),
            style="primary",
        )
        blocks.append(ActionsBlock(block_id=f"retry.v{version}", elements=[retry]))
    if approval.rows:
        blocks.append(DividerBlock(block_id=f"div.v{version}"))
    return blocks


def _context_elements(
    approval: Approval, now: dt.datetime, ranges: Sequence[tuple[int, int]]
) -> list[MarkdownTextObject]:
    texts = [f"*{approval.decided_count} of {len(approval.rows)} decided*"]
    past = approval.expires_at is not None and aware(approval.expires_at) <= now
    if approval.expired or (past and approval.expiry_policy != "leave_open"):
        texts.append(":alarm_clock: Expired")
    elif past and approval.expires_at is not None:
        texts.append(f":hourglass: Expiry passed {_slack_date(approval.expires_at)}; still open")
    elif approval.expires_at is not None:
        texts.append(f":hourglass: Expires {_slack_date(approval.expires_at)}")
    if len(ranges) > 1:
        first, last = ranges[0]
        texts.append(f"{_rows_label(first, last, len(approval.rows))} here; the others are in the thread")
    return [mrkdwn(text) for text in texts]


def _continuation_context(approval: Approval, first: int, last: int) -> ContextBlock:
    label = _rows_label(first, last, len(approval.rows)).capitalize()
    text = f"*{escape_line(_plain_title(approval), 200)}* (continued): {label}"
    return ContextBlock(block_id=f"ctx.v{approval.version}", elements=[mrkdwn(text)])


def _status_text(approval: Approval) -> str | None:
    if _retryable(approval):
        error = escape_cut(approval.last_error or "", ERROR_CAP)
        return f":warning: *The run could not resume* (attempt {approval.attempts}). Retry when the cause is fixed.\n```{error}```"
    if approval.status == "resuming":
        return ":hourglass_flowing_sand: Every row is decided. Resuming the run…"
    final = _FINAL_STATUS.get(approval.status)
    if final and approval.finished_at is not None:
        return f"{final} ({_slack_date(approval.finished_at)})"
    return final


def _retryable(approval: Approval) -> bool:
    return approval.status == "pending" and approval.all_decided and bool(approval.last_error)


def _main_text(approval: Approval) -> str:
    title = escape_cut(_plain_title(approval), 3000)
    decided = f"{approval.decided_count} of {len(approval.rows)} decided"
    if _retryable(approval):
        text = f"Resume failed, retry needed: {title}"
    elif approval.status == "pending":
        text = f"Approval needed: {title} ({decided})"
    elif approval.status == "resuming":
        text = f"Resuming: {title} ({decided})"
    else:
        text = f"Approval {approval.status}: {title} ({decided})"
    return cut(text, MESSAGE_TEXT)


# -- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PendingRow:
    """What a pending row shows, as texts: its section, its argument fields and its buttons."""

    approval_id: str
    row_id: str
    kind: str
    text: str
    fields: tuple[str, ...]
    choices: tuple[Choice, ...] | None
    """The choices shown as buttons; None when one button opens the row's modal."""

    @classmethod
    def of(cls, approval: Approval, position: int) -> _PendingRow:
        row = approval.rows[position]
        requirement = row.requirement
        return cls(
            approval_id=approval.id,
            row_id=row.id,
            kind=requirement.kind,
            text=_pending_text(requirement, position),
            fields=tuple(argument_texts(requirement.arguments)),
            choices=_inline_choices(requirement),
        )

    @property
    def block_count(self) -> int:
        return 1 if self.choices is None else 2

    @property
    def button_labels(self) -> list[str]:
        if self.choices is None:
            return [_OPEN_LABELS[self.kind]]
        return [button_label(choice, index) for index, choice in enumerate(self.choices)]

    @property
    def text_length(self) -> int:
        """The characters Slack counts for the row's blocks (every ``text``), as ``blocks_text_length`` would."""
        return (
            slack_length(self.text) + sum(map(slack_length, self.fields)) + sum(map(slack_length, self.button_labels))
        )

    def blocks(self, block_id: str) -> list[Block]:
        text = mrkdwn(self.text)
        fields = [mrkdwn(field) for field in self.fields] or None
        if self.choices is None:
            opener = ButtonElement(
                text=PlainTextObject(text=_OPEN_LABELS[self.kind]),
                action_id=action_id("open", 0),
                value=button_value(self.approval_id, self.row_id, None),
                style="primary",
            )
            return [SectionBlock(block_id=block_id, text=text, fields=fields, accessory=opener)]
        buttons = _choice_buttons(self.approval_id, self.row_id, self.choices)
        return [
            SectionBlock(block_id=block_id, text=text, fields=fields),
            ActionsBlock(block_id=f"{block_id}.a", elements=buttons),
        ]


def _inline_choices(requirement: Requirement) -> tuple[Choice, ...] | None:
    """The choices shown as buttons, or None when the row is decided in a modal."""
    confirmation = requirement.confirmation
    if confirmation is None or requirement.fields or confirmation.multiple:
        return None
    if len(confirmation.choices) > INLINE_CHOICES:
        return None
    return confirmation.choices


def opens_modal(requirement: Requirement) -> bool:
    """Whether the row's button opens a modal (``open``) instead of offering one button per choice."""
    return _inline_choices(requirement) is None


def _choice_buttons(approval_id: str, row_id: str, choices: Iterable[Choice]) -> list[ButtonElement]:
    buttons = []
    primary_given = False
    for index, choice in enumerate(choices):
        style = None
        if choice.rejects:
            style = "danger"
        elif not primary_given:
            style, primary_given = "primary", True
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=button_label(choice, index)),
                action_id=action_id("choose", index),
                value=button_value(approval_id, row_id, choice.value),
                style=style,
            )
        )
    return buttons


def button_label(choice: Choice, index: int) -> str:
    """A choice's label as Slack can show it on a button or an option (one line, at most 75 characters)."""
    return plain_line(choice.text, BUTTON_TEXT) or f"Choice {index + 1}"


def _pending_text(requirement: Requirement, position: int) -> str:
    pieces = [_title_line(requirement, position)]
    if requirement.description.strip():
        pieces.append(to_mrkdwn(clip_source(requirement.description.strip(), SECTION_TEXT)))
    if not requirement.deciders.anyone:
        # Who may decide goes first so a long description cannot cut it off.
        pieces.insert(1, f"_Only {deciders_text(requirement.deciders)} may decide._")
    return cut_mrkdwn("\n".join(pieces), SECTION_TEXT)


def argument_fields(arguments: dict[str, Any]) -> list[MarkdownTextObject]:
    """A row's arguments as section fields: at most 10, long values cut with a clear mark."""
    return [mrkdwn(text) for text in argument_texts(arguments)]


def argument_texts(arguments: dict[str, Any]) -> list[str]:
    """The mrkdwn of ``argument_fields``."""
    items = list(arguments.items())
    shown = items if len(items) <= SECTION_FIELDS else items[: SECTION_FIELDS - 1]
    texts = [_argument_field(str(name), value) for name, value in shown]
    if len(items) > len(shown):
        texts.append(f"_+{len(items) - len(shown)} more arguments_")
    return texts


def _argument_field(name: str, value: Any) -> str:
    head = f"*{escape_line(name, ARGUMENT_NAME_CAP) or '(unnamed)'}*\n"
    shown = escape_cut(show_value(value), FIELD_CAP - slack_length(head), CUT_MARK)
    return head + (shown or "_(empty)_")


def show_value(value: Any) -> str:
    """A value as a person reads it: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _decided_text(row: Row, position: int, room: int) -> str:
    """Title, outcome, who and when; then reason and summary as far as the row's ``room`` allows."""
    decision = row.decision
    assert decision is not None  # only decided rows get here
    title_line = _title_line(row.requirement, position)
    outcome = _OUTCOMES[decision.outcome]
    labels = _choice_labels(row.requirement, decision)
    if labels:
        outcome += f" ({labels})"
    outcome += f" by {_who(row)}"
    if row.decided_at is not None:
        outcome += f" · {_slack_date(row.decided_at)}"
    pieces = [title_line, outcome]
    if decision.reason:
        pieces.append(">" + escape_line(decision.reason, REASON_CAP))
    summary = _decision_summary(row.requirement, decision)
    if summary:
        pieces.append(escape_line(summary, SUMMARY_CAP))
    return cut_mrkdwn("\n".join(pieces), min(SECTION_TEXT, room))


def _choice_labels(requirement: Requirement, decision: Decision) -> str:
    confirmation = requirement.confirmation
    if confirmation is None or not decision.choices:
        return ""
    labels = []
    for value in decision.choices:
        choice = confirmation.choice(value)
        labels.append(one_line(choice.text if choice else value))
    return escape_line(", ".join(labels), CHOICE_LABELS_CAP)


def _who(row: Row) -> str:
    name = escape_line(row.decided_by_name or "", NAME_CAP)
    if row.decided_by and is_user_id(row.decided_by):
        return user_mention(row.decided_by) + (f" ({name})" if name else "")
    return name or escape_line(row.decided_by or "someone", NAME_CAP)


def _decision_summary(requirement: Requirement, decision: Decision) -> str:
    if decision.result is not None:
        return f"Result: {one_line(show_value(decision.result))}"
    titles = {f.name: f.title for f in requirement.fields} | {q.name: q.question for q in requirement.questions}
    parts = []
    for name, value in decision.values.items():
        if isinstance(value, dict) and set(value) <= {"selected", "text"}:
            answer = [*value.get("selected", []), *([value["text"]] if value.get("text") else [])]
            value = ", ".join(str(item) for item in answer)
        parts.append(f"{one_line(cut(titles.get(name, name), 60))}: {one_line(show_value(value))}")
    return "; ".join(parts)


def _short_outcome(row: Row) -> str:
    if row.decision is None:
        return "not decided"
    who = row.decided_by_name or row.decided_by or "someone"
    return f"{row.decision.outcome} by {escape_line(who, NAME_CAP)}"


# -- small pieces ---------------------------------------------------------------------------------


def _title_line(requirement: Requirement, position: int) -> str:
    return f"*{position + 1}. {_title_text(requirement, TITLE_CAP)}*"


def _title_text(requirement: Requirement, limit: int) -> str:
    return escape_line(requirement.title, limit) or "(untitled)"


def _plain_title(approval: Approval) -> str:
    return plain_line(approval.title, MESSAGE_TEXT) or "Approval needed"


def _rows_label(first: int, last: int, total: int) -> str:
    return f"rows {first + 1}-{last + 1} of {total}"


def text_section(block_id: str, text: str) -> dict[str, Any]:
    """``SectionBlock(block_id=block_id, text=mrkdwn(text)).to_dict()``, built directly.

    Every re-render shows each decided row as one such section. slack_sdk's ``to_dict``
    re-validates through reflection on every call, most of a re-render's work, while the text is
    already cut to its budget and ``validate_message`` checks every block against Slack's limits
    before each post and update. A test holds this to slack_sdk's output;
    ``benchmarks/bench_interactions.py`` measures re-renders (how long until every message shows
    its latest state).
    """
    return {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def mrkdwn(text: str) -> MarkdownTextObject:
    """A verbatim mrkdwn text object for already-escaped ``text``."""
    # verbatim: Slack must not turn user text like "@here" or "#channel" into mentions.
    return MarkdownTextObject(text=text, verbatim=True)


def _slack_date(moment: dt.datetime) -> str:
    """A Slack date token: shown in each reader's time zone, with a UTC fallback."""
    moment = aware(moment)
    fallback = moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def choice_buttons(approval: Approval, row: Row) -> list[ButtonElement] | None:
    """The row's choice buttons exactly as its message shows them (None when its button opens a modal).

    The App Home shows them too: a click there is the same action, decided by the same handler.
    """
    choices = _inline_choices(row.requirement)
    return None if choices is None else _choice_buttons(approval.id, row.id, choices)
