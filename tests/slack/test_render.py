"""The approval message: rows of every kind and state, Slack's limits, parts in the thread, safe text.

What it proves: each row kind renders the layout people decide from (buttons per choice, an
"open" button for modal rows, outcome/who/when/reason for decided rows); limits that slack_sdk
does not check hold (10 fields, 25 buttons, 50 blocks, text budgets) with long values cut
visibly; block_ids change with every version; rows beyond one message go to continuation
parts without loss or duplication and stay in their part when decided; user text cannot
mention, broadcast or link. Also the action ids and button values the endpoint parses back.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from slack_sdk.models.blocks import SectionBlock

from slack_hitl.approvals import Approval, Row
from slack_hitl.decisions import Decision
from slack_hitl.requirements import (
    Choice,
    Confirmation,
    Deciders,
    InputField,
    Question,
    Requirement,
)
from slack_hitl.slack.documented_limits import blocks_text_length
from slack_hitl.slack.ids import (
    ACTION_PREFIX,
    MalformedAction,
    RetryRef,
    action_id,
    button_value,
    parse_action,
)
from slack_hitl.slack.limits import SlackLimitError, validate_message
from slack_hitl.slack.markdown import (
    clip_source,
    cut,
    cut_mrkdwn,
    escape,
    escape_cut,
    escape_line,
    one_line,
    plain_line,
    split_mrkdwn,
    to_mrkdwn,
)
from slack_hitl.slack.render import (
    CUT_MARK,
    MessagePart,
    mrkdwn,
    render_approval,
    render_final_text,
    split_rows,
    text_section,
)

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


# -- builders (also used by the modal and property tests) ------------------------------------------


def confirmation(row_id: str = "deploy", **kwargs: Any) -> Requirement:
    return Requirement(id=row_id, kind="confirmation", title=kwargs.pop("title", f"Run {row_id}"), **kwargs)


def make_approval(*requirements: Requirement, decided: dict[int, Decision] | None = None, **kwargs: Any) -> Approval:
    decided = decided or {}
    rows = []
    for position, requirement in enumerate(requirements):
        decision = decided.get(position)
        rows.append(
            Row(
                requirement=requirement,
                position=position,
                decision=decision,
                decided_by="U0ALICE" if decision else None,
                decided_by_name="Alice" if decision else None,
                decided_at=NOW - dt.timedelta(minutes=5) if decision else None,
            )
        )
    fields: dict[str, Any] = {
        "id": "a" * 32,
        "title": "Release 42",
        "status": "pending",
        "adapter": "test",
        "created_at": NOW - dt.timedelta(hours=1),
        "version": 7,
    }
    fields.update(kwargs)
    return Approval(rows=tuple(rows), **fields)


def many_confirmations(count: int, **kwargs: Any) -> list[Requirement]:
    return [confirmation(f"row-{index}", **kwargs) for index in range(count)]


def row_blocks(part: MessagePart, position: int) -> list[dict[str, Any]]:
    """The blocks of one row in a part (their block_ids start with ``r<position>.``)."""
    return [b for b in part.blocks if b.get("block_id", "").startswith(f"r{position}.")]


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        if block["type"] == "actions":
            found.extend(e for e in block["elements"] if e["type"] == "button")
        elif block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"])
    return found


def mrkdwn_objects(value: Any) -> Any:
    """Every mrkdwn text object inside ``value``: the texts Slack parses for mentions and links."""
    if isinstance(value, list):
        for item in value:
            yield from mrkdwn_objects(item)
    elif isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value
        for item in value.values():
            yield from mrkdwn_objects(item)


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


# -- pending rows ----------------------------------------------------------------------------------


def test_a_pending_confirmation_shows_title_description_arguments_and_a_button_per_choice() -> None:
    requirement = confirmation(
        description="Ships **v42** to [prod](https://example.com/prod).",
        arguments={"env": "prod", "replicas": 3},
        confirmation=Confirmation(
            choices=(Choice(value="ship", label="Ship it"), Choice(value="later"), Choice(value="no", rejects=True))
        ),
    )
    approval = make_approval(requirement)
    (part,) = render_approval(approval, now=NOW)
    validate_message(part.blocks, part.text)
    section, actions = row_blocks(part, 0)
    assert section["text"]["text"] == "*1. Run deploy*\nShips *v42* to <https://example.com/prod|prod>."
    assert [f["text"] for f in section["fields"]] == ["*env*\nprod", "*replicas*\n3"]
    shown = [(b["text"]["text"], b.get("style")) for b in actions["elements"]]
    assert shown == [("Ship it", "primary"), ("later", None), ("no", "danger")]
    refs = [parse_action(b["action_id"], b["value"]) for b in actions["elements"]]
    assert [(r.verb, r.approval_id, r.row_id, r.choice) for r in refs] == [
        ("choose", approval.id, "deploy", "ship"),
        ("choose", approval.id, "deploy", "later"),
        ("choose", approval.id, "deploy", "no"),
    ]
    assert part.text == "Approval needed: Release 42 (0 of 1 decided)"


@pytest.mark.parametrize(
    ("requirement", "label"),
    [
        (
            Requirement(id="i", kind="user_input", title="Size", fields=(InputField(name="gb", type="integer"),)),
            "Provide input",
        ),
        (
            Requirement(
                id="f",
                kind="user_feedback",
                title="Plan?",
                questions=(Question(name="q", question="Ok?", allow_free_text=True),),
            ),
            "Answer",
        ),
        (Requirement(id="e", kind="external_execution", title="Run it"), "Submit result"),
        (confirmation("c", fields=(InputField(name="ticket"),)), "Decide…"),
    ],
)
def test_rows_decided_in_a_modal_get_one_open_button(requirement: Requirement, label: str) -> None:
    approval = make_approval(requirement)
    (part,) = render_approval(approval, now=NOW)
    validate_message(part.blocks, part.text)
    (button,) = buttons(row_blocks(part, 0))
    assert button["text"]["text"] == label
    ref = parse_action(button["action_id"], button["value"])
    assert (ref.verb, ref.row_id, ref.choice) == ("open", requirement.id, None)


def test_twenty_five_choices_are_buttons_and_more_open_a_modal_that_offers_all() -> None:
    many = tuple(Choice(value=f"choice-{i}") for i in range(25))
    approval = make_approval(
        confirmation("few", confirmation=Confirmation(choices=many)),
        confirmation("lots", confirmation=Confirmation(choices=(*many, Choice(value="one-more")))),
    )
    (part,) = render_approval(approval, now=NOW)
    validate_message(part.blocks, part.text)
    assert [parse_action(b["action_id"], b["value"]).choice for b in buttons(row_blocks(part, 0))] == [
        c.value for c in many
    ]
    (opener,) = buttons(row_blocks(part, 1))
    assert parse_action(opener["action_id"], opener["value"]).verb == "open"


def test_more_than_ten_arguments_show_nine_and_say_how_many_more() -> None:
    arguments = {f"arg{i}": i for i in range(14)}
    (part,) = render_approval(make_approval(confirmation(arguments=arguments)), now=NOW)
    fields = [f["text"] for f in row_blocks(part, 0)[0]["fields"]]
    assert len(fields) == 10
    assert fields[:9] == [f"*arg{i}*\n{i}" for i in range(9)]
    assert fields[9] == "_+5 more arguments_"


def test_long_argument_values_are_cut_with_a_visible_mark_and_fit_the_field_limit() -> None:
    arguments = {"script": "x" * 5000, "config": {"nested": ["y" * 3000]}, "short": "ok"}
    (part,) = render_approval(make_approval(confirmation(arguments=arguments)), now=NOW)
    validate_message(part.blocks, part.text)
    script, config, short = (f["text"] for f in row_blocks(part, 0)[0]["fields"])
    assert script.startswith("*script*\nxxx") and script.endswith(CUT_MARK)
    assert config.startswith('*config*\n{"nested": ["yyy') and config.endswith(CUT_MARK)
    assert len(script) <= 2000 and len(config) <= 2000
    assert short == "*short*\nok"


def test_who_may_decide_is_named_on_restricted_rows() -> None:
    requirement = confirmation(deciders=Deciders(user_ids=("U0BOB", "not an id <!here>"), group_ids=("S0OPS",)))
    (part,) = render_approval(make_approval(requirement), now=NOW)
    text = row_blocks(part, 0)[0]["text"]["text"]
    assert "_Only <@U0BOB>, not an id &lt;!here&gt;, <!subteam^S0OPS> may decide._" in text


# -- decided rows ----------------------------------------------------------------------------------


def test_decided_rows_show_outcome_who_when_reason_and_a_summary() -> None:
    approval = make_approval(
        confirmation(
            "c", confirmation=Confirmation(choices=(Choice(value="go", label="Go"), Choice(value="stop", rejects=True)))
        ),
        confirmation("r"),
        Requirement(
            id="i", kind="user_input", title="Size", fields=(InputField(name="gb", label="Disk GB", type="integer"),)
        ),
        Requirement(id="e", kind="external_execution", title="Run it", result_format="json"),
        decided={
            0: Decision(outcome="approved", choices=("go",)),
            1: Decision(outcome="rejected", choices=("reject",), reason="not <!here> on a Friday"),
            2: Decision(outcome="answered", values={"gb": 20}),
            3: Decision(outcome="answered", result={"exit": 0}),
        },
    )
    (part,) = render_approval(approval, now=NOW)
    validate_message(part.blocks, part.text)
    texts = [row_blocks(part, i)[0]["text"]["text"] for i in range(4)]
    stamp = int((NOW - dt.timedelta(minutes=5)).timestamp())
    when = f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|2025-03-01 11:55 UTC>"
    assert texts[0] == f"*1. Run c*\n:white_check_mark: *Approved* (Go) by <@U0ALICE> (Alice) · {when}"
    assert (
        texts[1]
        == f"*2. Run r*\n:x: *Rejected* (Reject) by <@U0ALICE> (Alice) · {when}\n>not &lt;!here&gt; on a Friday"
    )
    assert texts[2].endswith("\nDisk GB: 20")
    assert texts[3].endswith('\nResult: {"exit": 0}')
    assert all(not buttons(row_blocks(part, i)) for i in range(4))
    assert "4 of 4 decided" in all_text(part.blocks)


@pytest.mark.parametrize("text", ["*1. Run c*\n:x: *Rejected*", "ü &lt;!here&gt; " * 150, "x"])
def test_decided_rows_are_the_sections_slack_sdk_builds(text: str) -> None:
    assert text_section("r3.v7", text) == SectionBlock(block_id="r3.v7", text=mrkdwn(text)).to_dict()


def test_a_row_decided_by_the_system_names_it_without_a_mention() -> None:
    approval = make_approval(confirmation(), decided={0: Decision(outcome="rejected", reason="expired")})
    row = approval.rows[0].model_copy(update={"decided_by": "system:expiry", "decided_by_name": "expiry"})
    approval = approval.model_copy(update={"rows": (row,)})
    (part,) = render_approval(approval, now=NOW)
    assert ":x: *Rejected* by expiry ·" in row_blocks(part, 0)[0]["text"]["text"]


def test_long_reasons_and_summaries_are_cut() -> None:
    decision = Decision(outcome="answered", values={"notes": "n" * 5000}, reason="r" * 5000)
    requirement = Requirement(
        id="i", kind="user_input", title="Notes", fields=(InputField(name="notes", type="long_text"),)
    )
    (part,) = render_approval(make_approval(requirement, decided={0: decision}), now=NOW)
    text = row_blocks(part, 0)[0]["text"]["text"]
    reason_line, summary_line = text.split("\n")[2:]
    assert reason_line.endswith("…") and len(reason_line) < 300
    assert summary_line.endswith("…") and len(summary_line) < 250


# -- the main message ------------------------------------------------------------------------------


def test_block_ids_are_unique_and_change_with_every_version() -> None:
    approval = make_approval(*many_confirmations(5))
    first = render_approval(approval, now=NOW)[0].blocks
    again = render_approval(approval, now=NOW)[0].blocks
    later = render_approval(approval.model_copy(update={"version": 8}), now=NOW)[0].blocks
    ids = [b["block_id"] for b in first]
    assert len(set(ids)) == len(ids) == len(first)
    assert ids == [b["block_id"] for b in again]
    assert not set(ids) & {b["block_id"] for b in later}


def test_expiry_is_a_slack_date_until_it_passes() -> None:
    expires = NOW + dt.timedelta(hours=2)
    approval = make_approval(confirmation(), expires_at=expires)
    context = render_approval(approval, now=NOW)[0].blocks[1]
    texts = [e["text"] for e in context["elements"]]
    assert texts[0] == "*0 of 1 decided*"
    assert texts[1].startswith(f":hourglass: Expires <!date^{int(expires.timestamp())}^")
    later = render_approval(approval, now=expires + dt.timedelta(seconds=1))[0].blocks[1]
    assert [e["text"] for e in later["elements"]][1] == ":alarm_clock: Expired"
    left_open = approval.model_copy(update={"expiry_policy": "leave_open"})
    still = render_approval(left_open, now=expires + dt.timedelta(seconds=1))[0]
    assert [e["text"] for e in still.blocks[1]["elements"]][1].startswith(":hourglass: Expiry passed <!date^")
    assert len(buttons(still.blocks)) == 2  # still decidable


def test_a_failed_resume_shows_the_error_and_a_retry_button() -> None:
    approval = make_approval(
        confirmation(),
        decided={0: Decision(outcome="approved", choices=("approve",))},
        last_error="ConnectionError: <airflow> unreachable",
        attempts=2,
    )
    (part,) = render_approval(approval, now=NOW)
    validate_message(part.blocks, part.text)
    status = next(b for b in part.blocks if b["block_id"].startswith("status."))
    assert "could not resume* (attempt 2)" in status["text"]["text"]
    assert "ConnectionError: &lt;airflow&gt; unreachable" in status["text"]["text"]
    (retry,) = next(b for b in part.blocks if b["block_id"].startswith("retry."))["elements"]
    assert parse_action(retry["action_id"], retry["value"]) == RetryRef(approval_id=approval.id)
    assert part.text == "Resume failed, retry needed: Release 42"
    # An approval that is not waiting for a retry offers none.
    for status in ("resuming", "approved"):
        closed = render_approval(approval.model_copy(update={"status": status}), now=NOW)[0]
        assert not any(b["block_id"].startswith("retry.") for b in closed.blocks)


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("resuming", "Resuming the run"),
        ("approved", "*Approved.*"),
        ("rejected", "*Rejected.*"),
        ("completed", "*Completed*"),
        ("expired", "*Expired.*"),
        ("cancelled", "*Cancelled.*"),
    ],
)
def test_closed_approvals_say_so_and_offer_no_buttons(status: str, says: str) -> None:
    approval = make_approval(
        confirmation("a"), confirmation("b"), decided={0: Decision(outcome="approved")}, status=status, finished_at=NOW
    )
    (part,) = render_approval(approval, now=NOW)
    validate_message(part.blocks, part.text)
    assert says in all_text(part.blocks)
    assert buttons(part.blocks) == []
    assert row_blocks(part, 1)[0]["text"]["text"] == "*2. Run b*\n_Not decided_"


# -- parts -----------------------------------------------------------------------------------------


def assert_rows_once(approval: Approval, parts: list[MessagePart]) -> None:
    covered = [p for part in parts for p in range(part.first_row, part.last_row + 1)]
    assert covered == list(range(len(approval.rows)))
    for part in parts:
        validate_message(part.blocks, part.text)
        shown = {b["block_id"].split(".")[0] for b in part.blocks if b["block_id"].startswith("r")}
        assert shown == {f"r{p}" for p in range(part.first_row, part.last_row + 1)}


def test_rows_beyond_one_message_go_to_continuation_parts_once_each() -> None:
    approval = make_approval(*many_confirmations(57))
    parts = render_approval(approval, now=NOW, rows_per_part=10)
    assert [(p.first_row, p.last_row) for p in parts] == [(i, min(i + 9, 56)) for i in range(0, 57, 10)]
    assert_rows_once(approval, parts)
    assert parts[5].text == "Release 42: rows 51-57 of 57"
    assert parts[5].blocks[0]["elements"][0]["text"] == "*Release 42* (continued): Rows 51-57 of 57"
    assert "rows 1-10 of 57 here; the others are in the thread" in all_text(parts[0].blocks)
    decidable = {parse_action(b["action_id"], b["value"]).row_id for p in parts for b in buttons(p.blocks)}
    assert decidable == {f"row-{i}" for i in range(57)}


def test_default_parts_hold_twenty_rows() -> None:
    parts = render_approval(make_approval(*many_confirmations(57)), now=NOW)
    assert [(p.first_row, p.last_row) for p in parts] == [(0, 19), (20, 39), (40, 56)]
    assert parts[1].text == "Release 42: rows 21-40 of 57"


def test_large_rows_are_packed_by_size_and_each_still_fits_alone() -> None:
    huge = {f"k{i}": "€" * 3000 for i in range(12)}
    requirements = many_confirmations(
        8,
        description="d" * 5000,
        arguments=huge,
        confirmation=Confirmation(choices=tuple(Choice(value=f"c{i}", label="L" * 75) for i in range(25))),
    )
    approval = make_approval(*requirements)
    parts = render_approval(approval, now=NOW)
    assert len(parts) == 8  # each row is close to a whole message's text budget
    assert_rows_once(approval, parts)
    assert max(blocks_text_length(p.blocks) for p in parts) <= 12_000


def test_deciding_rows_never_moves_them_to_another_part() -> None:
    requirements = [
        confirmation(f"r{i}", description="words " * (i * 40), arguments={"a": "v" * (i * 30)}) for i in range(60)
    ]
    pending = make_approval(*requirements)
    decided = make_approval(
        *requirements,
        decided={i: Decision(outcome="rejected", reason="x" * 1000, values={}) for i in range(0, 60, 2)},
        status="pending",
    )
    before = [(p.first_row, p.last_row) for p in render_approval(pending, now=NOW)]
    after = [(p.first_row, p.last_row) for p in render_approval(decided, now=NOW)]
    assert before == after == split_rows(pending)
    assert len(before) > 3
    assert_rows_once(decided, render_approval(decided, now=NOW))


def test_rows_per_part_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rows_per_part must be at least 1"):
        render_approval(make_approval(confirmation()), rows_per_part=0)


# -- safe text -------------------------------------------------------------------------------------


def test_user_text_cannot_mention_broadcast_or_link() -> None:
    nasty = "<!channel> <@U0BOSS> <https://evil.example|your bank> & more"
    approval = make_approval(confirmation(title=nasty, description=nasty, arguments={nasty: nasty}), title=nasty)
    (part,) = render_approval(approval, now=NOW)
    mrkdwn = list(mrkdwn_objects(part.blocks))
    assert len(mrkdwn) == 3  # context, row text, argument field
    for token in ("<!channel>", "<@U0BOSS>", "<https://evil"):
        assert all(token not in obj["text"] for obj in mrkdwn)
        assert token not in part.text
    assert "&lt;!channel&gt;" in part.text
    assert all(obj["verbatim"] is True for obj in mrkdwn)
    header = part.blocks[0]["text"]
    assert header["type"] == "plain_text" and header["text"] == nasty  # plain text is never parsed
    continued = render_approval(approval, now=NOW, rows_per_part=1)
    many = make_approval(*many_confirmations(3), title=nasty)
    for part in [*continued, *render_approval(many, now=NOW, rows_per_part=1)]:
        assert "<!channel>" not in part.text and "&lt;!channel&gt;" in part.text
        assert all("<!channel>" not in obj["text"] for obj in mrkdwn_objects(part.blocks))


def test_to_mrkdwn_converts_markdown_and_escapes_the_rest() -> None:
    markdown = (
        "## Plan\n"
        "**bold**, __bold__, *italic*, ~~gone~~\n"
        "- one\n* two\n"
        "[docs](https://example.com/a?b=1&c=2) [js](javascript:alert(1)) ![img](http://x.io/i.png)\n"
        "`a <b> & c` <!here>\n"
        "```python\nif a < b:\n    pass\n```"
    )
    assert to_mrkdwn(markdown) == (
        "*Plan*\n"
        "*bold*, *bold*, _italic_, ~gone~\n"
        "• one\n• two\n"
        "<https://example.com/a?b=1&amp;c=2|docs> [js](javascript:alert(1)) <http://x.io/i.png|img>\n"
        "`a &lt;b&gt; &amp; c` &lt;!here&gt;\n"
        "```if a &lt; b:\n    pass```"
    )


def test_escape_cut_and_one_line() -> None:
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert cut("hello", 5) == "hello"
    assert cut("hello world", 8) == "hello w…"
    assert cut("hello world", 10, " (cut)") == "hell (cut)"
    with pytest.raises(ValueError, match="no room for the mark"):
        cut("hello", 2, "...")
    # Cutting mrkdwn never leaves half an entity or half a mention behind.
    assert cut_mrkdwn("ab &amp; cd", 6) == "ab …"
    assert cut_mrkdwn("hi <@U0ALICE> there", 10) == "hi …"
    assert one_line("  a\n\tb  c ") == "a b c"
    # Long user text is clipped before it is converted, and the clip is always marked.
    assert escape_cut("<" * 10_000, 9) == "&lt;&lt;…"
    assert escape_cut("<" * 10_000, 8) == "&lt;…"
    assert escape_cut("a" * 10_000, 9, " (cut)") == "aaa (cut)"
    assert clip_source("x" * 10, 5) == "x" * 10
    assert clip_source("x" * 11, 5) == "x" * 10 + "…"
    assert escape_line("a\n" + " " * 50_000 + "b", 20) == "a …"
    assert plain_line("<b>\n" * 100, 12) == "<b> <b> <b>…"


def test_split_mrkdwn_keeps_every_character_and_every_code_block_whole() -> None:
    prose = "\n".join(f"line {i}: see <https://example.com/{i}|link {i}> &amp; more" for i in range(200))
    code = "```\n" + "\n".join(f"row = {i}" for i in range(300)) + "\n```"
    text = f"{prose}\n{code}\n" + "x" * 5000 + "\ndone"
    pieces = split_mrkdwn(text, 1000)
    assert len(pieces) > 10 and all(len(piece) <= 1000 for piece in pieces)
    for piece in pieces:
        assert piece.count("```") % 2 == 0  # each piece shows its code as code
        assert piece.rfind("<") <= piece.rfind(">") and not piece.rstrip().endswith(("&amp", "&am", "&a", "&"))
    rebuilt = "\n".join(pieces).replace("\n```\n```\n", "\n")  # drop the fences added at the seams
    assert rebuilt.replace("\n", "") == text.replace("\n", "")
    assert split_mrkdwn("short", 1000) == ["short"]
    with pytest.raises(ValueError, match="too small"):
        split_mrkdwn("x", 10)


def test_final_text_sums_up_within_slacks_text_limit() -> None:
    approval = make_approval(
        confirmation("a"),
        confirmation("b"),
        decided={0: Decision(outcome="approved"), 1: Decision(outcome="rejected")},
        status="completed",
        title="Release <!here>",
    )
    assert render_final_text(approval) == (
        "Approval completed: Release &lt;!here&gt; (1 approved, 1 rejected)\n"
        "• 1. Run a: approved by Alice\n"
        "• 2. Run b: rejected by Alice"
    )
    big = make_approval(*many_confirmations(200, title="t" * 500), status="cancelled")
    text = render_final_text(big)
    assert len(text) <= 4000
    assert text.endswith("more rows")


# -- action ids and button values ------------------------------------------------------------------


def test_action_ids_are_namespaced_and_checked() -> None:
    assert action_id("choose", 3) == f"{ACTION_PREFIX}:choose:3"
    with pytest.raises(ValueError, match="unknown action verb"):
        action_id("delete", 0)
    with pytest.raises(ValueError, match="must not be negative"):
        action_id("open", -1)


def test_button_values_round_trip_with_unicode_and_quotes() -> None:
    value = button_value("a1", 'row "ü" \\ 名前', 'c"1')
    ref = parse_action(action_id("choose", 0), value)
    assert (ref.approval_id, ref.row_id, ref.choice) == ("a1", 'row "ü" \\ 名前', 'c"1')
    with pytest.raises(SlackLimitError, match="button value"):
        button_value("a1", "\x00" * 200, "\x01" * 150)


@pytest.mark.parametrize(
    ("action", "value", "problem"),
    [
        ("other_app:choose:0", '{"a":"x","r":"y","c":"z"}', "not a slack_hitl action id"),
        ("slack_hitl:delete:0", '{"a":"x","r":"y","c":"z"}', "not a slack_hitl action id"),
        ("slack_hitl:choose:x", '{"a":"x","r":"y","c":"z"}', "not a slack_hitl action id"),
        ("slack_hitl:choose:0", "not json", "not JSON"),
        ("slack_hitl:choose:0", "[1, 2]", "must be a JSON object"),
        ("slack_hitl:choose:0", '{"a":"x","r":"y"}', "exactly the keys"),
        ("slack_hitl:choose:0", '{"a":"x","r":"y","c":"z","d":1}', "exactly the keys"),
        ("slack_hitl:choose:0", '{"a":"","r":"y","c":"z"}', "approval id"),
        ("slack_hitl:choose:0", '{"a":"x","r":5,"c":"z"}', "row id"),
        ("slack_hitl:choose:0", '{"a":"x","r":"y","c":null}', "needs a choice"),
        ("slack_hitl:open:0", '{"a":"x","r":null,"c":null}', "needs a row id"),
        ("slack_hitl:retry:0", '{"a":"x","r":null,"c":"z"}', "carries no choice"),
    ],
)
def test_parse_action_refuses_what_slack_hitl_did_not_render(action: str, value: str, problem: str) -> None:
    with pytest.raises(MalformedAction, match=problem):
        parse_action(action, value)
