"""The modal that decides a row, and its submission read back into the core's DecisionInput.

What it proves: every field type gets its Block Kit element with initial values, bounds and
optional flags; questions, external results, choices and reasons get theirs; private_metadata
carries approval, row, version, choice and message and refuses anything else; a submission
made the way Slack makes it (the emulator's own ``view_state_values``) round-trips through
``parse_submission`` and the core's validation for every element shape; the core's errors land
on input blocks that exist in the modal; and Slack (the emulator) accepts the views.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from slack_hitl.decisions import DecisionInput, validate_decision
from slack_hitl.errors import DecisionInvalid
from slack_hitl.requirements import Choice, Confirmation, InputField, Question, Requirement
from slack_hitl.slack.ids import (
    MODAL_CALLBACK_ID,
    VALUE_ACTION_ID,
    MalformedAction,
    ModalRef,
    decode_metadata,
    encode_metadata,
)
from slack_hitl.slack.limits import SlackLimitError, validate_view, view_size
from slack_hitl.slack.modals import (
    build_modal,
    modal_input_block_ids,
    parse_submission,
    reason_required,
    submission_errors,
)
from slack_hitl.testing import SlackEmulator
from slack_hitl.testing.slack_user import view_state_values
from tests.slack.test_render import confirmation, make_approval

EVERY_FIELD = (
    InputField(name="title", label="Title", default="hello", max_length=20, description="Short, please."),
    InputField(name="notes", type="long_text", required=False),
    InputField(name="ratio", type="number", default=0.5, min_value=0, max_value=1),
    InputField(name="count", type="integer", default=3, min_value=1.5, max_value=9.5),
    InputField(name="urgent", type="boolean", default=True),
    InputField(name="env", type="single_choice", choices=("dev", "prod"), default="prod"),
    InputField(name="regions", type="multiple_choice", choices=("eu", "us", "ap"), default=["us"]),
    InputField(name="when", type="date", default="2025-04-01"),
)


def modal_for(requirement: Requirement, choice: str | None = None) -> dict[str, Any]:
    approval = make_approval(requirement)
    view = build_modal(approval, approval.rows[0], choice=choice, channel="C0APPROVE", message_ts="1700000000.000100")
    validate_view(view)
    return view


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def submit(requirement: Requirement, values: dict[str, Any], choice: str | None = None, **kwargs: Any) -> DecisionInput:
    """Fill the modal as a person would (Slack's state shapes), then read it back."""
    view = modal_for(requirement, choice)
    state = view_state_values(view["blocks"], values, **kwargs)
    return parse_submission(requirement, state, choice=choice)


@pytest.fixture(scope="module")
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as running:
        yield running


# -- building ---------------------------------------------------------------------------------------


def test_every_field_type_gets_its_element_with_initial_values() -> None:
    view = modal_for(Requirement(id="form", kind="user_input", title="Fill in", fields=EVERY_FIELD))
    assert (view["callback_id"], view["title"]["text"], view["submit"]["text"]) == (
        MODAL_CALLBACK_ID,
        "Provide input",
        "Submit",
    )
    blocks = inputs(view)
    assert list(blocks) == [f"f:{f.name}" for f in EVERY_FIELD]
    elements = {name.removeprefix("f:"): block["element"] for name, block in blocks.items()}
    assert all(e["action_id"] == VALUE_ACTION_ID for e in elements.values())
    assert elements["title"] == {
        "type": "plain_text_input",
        "action_id": VALUE_ACTION_ID,
        "initial_value": "hello",
        "max_length": 20,
        "multiline": False,
    }
    assert blocks["f:title"]["hint"]["text"] == "Short, please."
    assert blocks["f:title"]["label"]["text"] == "Title"
    assert elements["notes"]["multiline"] is True and blocks["f:notes"]["optional"] is True
    assert elements["ratio"] == {
        "type": "number_input",
        "action_id": VALUE_ACTION_ID,
        "is_decimal_allowed": True,
        "initial_value": "0.5",
        "min_value": "0",
        "max_value": "1",
    }
    assert (
        elements["count"]["is_decimal_allowed"],
        elements["count"]["min_value"],
        elements["count"]["max_value"],
    ) == (
        False,
        "2",
        "9",
    )
    assert elements["count"]["initial_value"] == "3"
    assert elements["urgent"]["type"] == "checkboxes"
    assert elements["urgent"]["initial_options"] == elements["urgent"]["options"]
    assert blocks["f:urgent"]["optional"] is True  # unticked means False
    assert elements["env"]["type"] == "radio_buttons"
    assert elements["env"]["initial_option"] == {"text": {"type": "plain_text", "text": "prod"}, "value": "1"}
    assert elements["regions"]["type"] == "checkboxes"
    assert elements["regions"]["initial_options"] == [{"text": {"type": "plain_text", "text": "us"}, "value": "1"}]
    assert elements["when"] == {"type": "datepicker", "action_id": VALUE_ACTION_ID, "initial_date": "2025-04-01"}
    assert all(blocks[f"f:{f.name}"]["optional"] is False for f in EVERY_FIELD if f.required and f.type != "boolean")


def test_defaults_slack_cannot_show_are_left_out() -> None:
    fields = (
        InputField(name="n", type="integer", default=2.5),
        InputField(name="m", type="number", default=50, max_value=10),
        InputField(name="d", type="date", default="next tuesday"),
        InputField(name="c", type="single_choice", choices=("a",), default="zzz"),
        InputField(name="t", default="x" * 50, max_length=10),
        InputField(name="b", type="integer", min_value=1.2, max_value=1.8),
    )
    elements = {
        b["block_id"]: b["element"]
        for b in inputs(modal_for(Requirement(id="r", kind="user_input", title="T", fields=fields))).values()
    }
    assert "initial_value" not in elements["f:n"]
    assert "initial_value" not in elements["f:m"]
    assert "initial_date" not in elements["f:d"]
    assert "initial_option" not in elements["f:c"]
    assert elements["f:t"]["initial_value"] == "x" * 10
    assert "min_value" not in elements["f:b"] and "max_value" not in elements["f:b"]  # no whole number fits


def test_many_options_become_dropdowns_grouped_past_a_hundred_with_positions_as_values() -> None:
    long_choice = "ü" * 200
    fields = (
        InputField(name="six", type="single_choice", choices=tuple(f"c{i}" for i in range(6))),
        InputField(name="eleven", type="multiple_choice", choices=tuple(f"c{i}" for i in range(11))),
        InputField(name="lots", type="single_choice", choices=(long_choice, *(f"c{i}" for i in range(249)))),
    )
    elements = {
        b["block_id"]: b["element"]
        for b in inputs(modal_for(Requirement(id="r", kind="user_input", title="T", fields=fields))).values()
    }
    assert elements["f:six"]["type"] == "static_select"
    assert elements["f:eleven"]["type"] == "multi_static_select"
    lots = elements["f:lots"]
    assert lots["type"] == "static_select" and "options" not in lots
    assert [g["label"]["text"] for g in lots["option_groups"]] == ["1-100", "101-200", "201-250"]
    first = lots["option_groups"][0]["options"][0]
    assert first["value"] == "0" and first["text"]["text"] == "ü" * 74 + "…"


def test_feedback_questions_get_options_and_a_free_text_box() -> None:
    requirement = Requirement(
        id="fb",
        kind="user_feedback",
        title="Review",
        questions=(
            Question(name="plan", question="Is the plan ok?", options=("yes", "no")),
            Question(name="risks", question="Which risks?", options=tuple(f"r{i}" for i in range(12)), multiple=True),
            Question(name="tone", question="Tone?", options=("a", "b", "c"), multiple=True, allow_free_text=True),
            Question(name="else", question="Anything else?", allow_free_text=True, required=False),
        ),
    )
    blocks = inputs(modal_for(requirement))
    assert list(blocks) == ["q:plan", "q:risks", "q:tone", "qt:tone", "qt:else"]
    assert [blocks[b]["element"]["type"] for b in blocks] == [
        "radio_buttons",
        "multi_static_select",
        "checkboxes",
        "plain_text_input",
        "plain_text_input",
    ]
    assert blocks["q:plan"]["label"]["text"] == "Is the plan ok?" and blocks["q:plan"]["optional"] is False
    # Free text can answer instead of the options, so neither alone is forced.
    assert blocks["q:tone"]["optional"] is True and blocks["qt:tone"]["optional"] is True
    assert blocks["qt:tone"]["label"]["text"] == "Or answer in your own words"
    assert blocks["qt:else"]["label"]["text"] == "Anything else?" and blocks["qt:else"]["optional"] is True


def test_external_execution_asks_for_the_result_and_says_when_it_must_be_json() -> None:
    blocks = inputs(modal_for(Requirement(id="x", kind="external_execution", title="Run", result_format="json")))
    assert list(blocks) == ["result"]
    assert blocks["result"]["element"]["multiline"] is True and blocks["result"]["optional"] is False
    assert blocks["result"]["hint"]["text"] == "Paste the result as JSON."
    plain = inputs(modal_for(Requirement(id="x", kind="external_execution", title="Run")))
    assert "hint" not in plain["result"]


def test_a_confirmation_opened_without_a_choice_offers_choice_fields_and_reason() -> None:
    requirement = confirmation(
        fields=(InputField(name="ticket"), InputField(name="note", required=False)),
        confirmation=Confirmation(reason="required_on_reject"),
    )
    view = modal_for(requirement)
    blocks = inputs(view)
    assert list(blocks) == ["choice", "f:ticket", "f:note", "reason"]
    assert blocks["choice"]["element"]["type"] == "radio_buttons"
    assert [o["text"]["text"] for o in blocks["choice"]["element"]["options"]] == ["Approve", "Reject"]
    # Slack must not force the ticket on someone who rejects; the core checks it on approval.
    assert blocks["f:ticket"]["optional"] is True
    assert blocks["f:ticket"]["hint"]["text"] == "Required unless you reject."
    assert blocks["reason"]["optional"] is True and blocks["reason"]["hint"]["text"] == "Required if you reject."


def test_a_reason_modal_for_a_clicked_choice_asks_only_what_that_choice_needs() -> None:
    requirement = confirmation(
        fields=(InputField(name="ticket"),), confirmation=Confirmation(reason="required_on_reject")
    )
    rejecting = modal_for(requirement, "reject")
    assert list(inputs(rejecting)) == ["reason"]
    assert inputs(rejecting)["reason"]["optional"] is False
    assert rejecting["submit"]["text"] == "Reject"
    assert "You chose *Reject*." in rejecting["blocks"][0]["text"]["text"]
    approving = modal_for(requirement, "approve")
    assert list(inputs(approving)) == ["f:ticket", "reason"]
    assert inputs(approving)["f:ticket"]["optional"] is False
    assert inputs(approving)["reason"]["optional"] is True


@pytest.mark.parametrize(
    ("policy", "choice", "has_box", "required"),
    [
        ("none", None, False, False),
        ("optional", None, True, False),
        ("optional", "reject", True, False),
        ("always", None, True, True),
        ("always", "approve", True, True),
        ("required_on_reject", "approve", True, False),
        ("required_on_reject", "reject", True, True),
    ],
)
def test_the_reason_box_follows_the_reason_policy(
    policy: str, choice: str | None, has_box: bool, required: bool
) -> None:
    requirement = confirmation(confirmation=Confirmation(reason=policy))
    blocks = inputs(modal_for(requirement, choice))
    assert ("reason" in blocks) is has_box
    if has_box:
        assert blocks["reason"]["optional"] is not required
    chosen = requirement.confirmation.choice(choice) if choice else None
    assert reason_required(requirement, chosen) is required


def test_a_choice_that_asks_gets_a_required_box_labelled_with_its_question() -> None:
    changes = Choice(value="changes", label="Request changes", asks="What should change?")
    requirement = confirmation(
        confirmation=Confirmation(choices=(Choice(value="approve", label="Approve"), changes), reason="none")
    )
    clicked = inputs(modal_for(requirement, "changes"))
    assert list(clicked) == ["reason"]
    assert clicked["reason"]["label"]["text"] == "What should change?" and clicked["reason"]["optional"] is False
    assert reason_required(requirement, changes)
    assert "reason" not in inputs(modal_for(requirement, "approve"))  # approving asks nothing (policy none)
    opened = inputs(modal_for(requirement))
    assert opened["reason"]["optional"] is True
    assert opened["reason"]["hint"]["text"] == "Required if you choose Request changes (What should change?)."
    # Slack lets blanks through a required box: the core refuses them, on that box.
    state = view_state_values(modal_for(requirement, "changes")["blocks"], {"What should change?": "   "})
    with pytest.raises(DecisionInvalid) as refused:
        validate_decision(requirement, parse_submission(requirement, state, choice="changes"))
    assert list(submission_errors(requirement, refused.value, choice="changes")) == ["reason"]


def test_a_confirmation_with_many_or_several_choices_uses_a_dropdown_or_checkboxes() -> None:
    many = confirmation(confirmation=Confirmation(choices=tuple(Choice(value=f"v{i}") for i in range(30))))
    assert inputs(modal_for(many))["choice"]["element"]["type"] == "static_select"
    several = confirmation(confirmation=Confirmation(choices=(Choice(value="a"), Choice(value="b")), multiple=True))
    assert inputs(modal_for(several))["choice"]["element"]["type"] == "checkboxes"


def test_private_metadata_names_approval_row_version_choice_and_message() -> None:
    requirement = confirmation("row-1", confirmation=Confirmation(reason="always"))
    approval = make_approval(requirement, version=12)
    view = build_modal(approval, approval.rows[0], choice="reject", channel="C0X", message_ts="1.000200")
    assert decode_metadata(view["private_metadata"]) == ModalRef(approval.id, "row-1", 12, "reject", "C0X", "1.000200")


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ("", "not JSON"),
        ("[]", "JSON object"),
        ('{"a":"x","r":"y","v":1,"c":null,"ch":"C"}', "exactly the keys"),
        ('{"a":"x","r":"y","v":-1,"c":null,"ch":"C","ts":"1.2"}', "non-negative integer"),
        ('{"a":"x","r":"y","v":true,"c":null,"ch":"C","ts":"1.2"}', "non-negative integer"),
        ('{"a":"x","r":"","v":1,"c":null,"ch":"C","ts":"1.2"}', "row id"),
        ('{"a":"x","r":"y","v":1,"c":7,"ch":"C","ts":"1.2"}', "choice"),
        ("x" * 3001, "longer than Slack allows"),
    ],
)
def test_metadata_slack_hitl_did_not_write_is_refused(metadata: str, problem: str) -> None:
    with pytest.raises(MalformedAction, match=problem):
        decode_metadata(metadata)


def test_metadata_too_long_for_slack_is_refused_when_written() -> None:
    with pytest.raises(SlackLimitError, match="private_metadata"):
        encode_metadata(ModalRef("a", "\x00" * 200, 1, "\x01" * 150, "\x02" * 300, "1" * 300))


def test_a_modal_too_large_for_slack_shows_shorter_texts_instead() -> None:
    fields = tuple(
        InputField(
            name=f"f{i}",
            label="ü" * 2000,
            description="ö" * 2000,
            type="single_choice",
            choices=tuple("ü" * 75 + str(j) for j in range(5)),
        )
        for i in range(60)
    )
    view = modal_for(Requirement(id="big", kind="user_input", title="Big", fields=fields))
    assert view_size(view) <= 250_000
    assert len(inputs(view)) == 60
    assert len(next(iter(inputs(view).values()))["label"]["text"]) < 2000


# -- reading submissions back -------------------------------------------------------------------------


def test_every_field_shape_round_trips_into_a_valid_decision() -> None:
    requirement = Requirement(id="form", kind="user_input", title="Fill in", fields=EVERY_FIELD)
    submitted = submit(
        requirement,
        {
            "Title": "shipping",
            "f:notes": "line one\nline two",
            "f:ratio": "0.25",
            "f:count": 7,
            "f:urgent": False,
            "f:env": "dev",
            "f:regions": ["eu", "ap"],
            "f:when": "2025-05-06",
        },
    )
    assert submitted.values == {
        "title": "shipping",
        "notes": "line one\nline two",
        "ratio": "0.25",
        "count": "7",
        "urgent": False,
        "env": "dev",
        "regions": ["eu", "ap"],
        "when": "2025-05-06",
    }
    decision = validate_decision(requirement, submitted)
    assert decision.values == {
        "title": "shipping",
        "notes": "line one\nline two",
        "ratio": 0.25,
        "count": 7,
        "urgent": False,
        "env": "dev",
        "regions": ["eu", "ap"],
        "when": "2025-05-06",
    }


def test_untouched_inputs_submit_their_initial_values() -> None:
    requirement = Requirement(id="form", kind="user_input", title="Fill in", fields=EVERY_FIELD)
    decision = validate_decision(requirement, submit(requirement, {}))
    assert decision.values == {
        "title": "hello",
        "notes": None,
        "ratio": 0.5,
        "count": 3,
        "urgent": True,
        "env": "prod",
        "regions": ["us"],
        "when": "2025-04-01",
    }


def test_feedback_answers_round_trip_with_options_and_free_text() -> None:
    requirement = Requirement(
        id="fb",
        kind="user_feedback",
        title="Review",
        questions=(
            Question(name="plan", question="Is the plan ok?", options=tuple(f"o{i}" for i in range(20))),
            Question(name="tone", question="Tone?", options=("calm", "brisk"), multiple=True, allow_free_text=True),
            Question(name="else", question="Anything else?", allow_free_text=True, required=False),
        ),
    )
    submitted = submit(requirement, {"q:plan": "o13", "q:tone": ["brisk"], "qt:tone": "and kind"})
    assert validate_decision(requirement, submitted).values == {
        "plan": {"selected": ["o13"], "text": None},
        "tone": {"selected": ["brisk"], "text": "and kind"},
        "else": {"selected": [], "text": None},
    }


def test_confirmation_choice_fields_and_reason_round_trip() -> None:
    requirement = confirmation(
        fields=(InputField(name="ticket"),),
        confirmation=Confirmation(
            choices=tuple(Choice(value=f"v{i}", label=f"Option {i}") for i in range(40)), reason="always"
        ),
    )
    submitted = submit(requirement, {"choice": "Option 33", "f:ticket": "OPS-1", "reason": "fine"})
    assert submitted == DecisionInput(choices=("v33",), values={"ticket": "OPS-1"}, reason="fine")
    decision = validate_decision(requirement, submitted)
    assert (decision.outcome, decision.choices, decision.reason) == ("approved", ("v33",), "fine")


def test_a_clicked_choice_comes_from_the_metadata_not_the_form() -> None:
    requirement = confirmation(confirmation=Confirmation(reason="required_on_reject"))
    submitted = submit(requirement, {"reason": "too risky"}, choice="reject")
    assert submitted == DecisionInput(choices=("reject",), values={}, reason="too risky")
    assert validate_decision(requirement, submitted).outcome == "rejected"


def test_external_results_round_trip() -> None:
    requirement = Requirement(id="x", kind="external_execution", title="Run", result_format="json")
    submitted = submit(requirement, {"result": '{"rows": 3}'})
    assert validate_decision(requirement, submitted).result == {"rows": 3}


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"f:other": {VALUE_ACTION_ID: {"type": "plain_text_input", "value": "x"}}}, "does not have"),
        ({"f:env": {VALUE_ACTION_ID: {"type": "plain_text_input", "value": "dev"}}}, "cannot hold a plain_text_input"),
        ({"f:env": {VALUE_ACTION_ID: {"type": "static_select", "selected_option": {"value": "9"}}}}, "no option '9'"),
        (
            {"f:env": {VALUE_ACTION_ID: {"type": "static_select", "selected_option": {"value": "dev"}}}},
            "no option 'dev'",
        ),
        ({"f:regions": {VALUE_ACTION_ID: {"type": "checkboxes", "selected_options": "eu"}}}, "must be a list"),
        ({"f:title": {VALUE_ACTION_ID: {"type": "plain_text_input", "value": 5}}}, "must be a string"),
        ({"f:title": {"a": {"value": "x"}, "b": {"value": "y"}}}, "exactly one element"),
        ({"f:title": "x"}, "exactly one element"),
        ([], "must be an object"),
    ],
)
def test_submissions_our_modal_cannot_have_sent_are_refused(state: Any, problem: str) -> None:
    requirement = Requirement(id="form", kind="user_input", title="Fill in", fields=EVERY_FIELD)
    with pytest.raises(MalformedAction, match=problem):
        parse_submission(requirement, state, choice=None)


# -- errors back into the modal -----------------------------------------------------------------------


def _errors_for(requirement: Requirement, values: dict[str, Any], choice: str | None = None) -> dict[str, str]:
    submitted = submit(requirement, values, choice, allow_missing_required=True)
    with pytest.raises(DecisionInvalid) as invalid:
        validate_decision(requirement, submitted)
    errors = submission_errors(requirement, invalid.value, choice=choice)
    view_inputs = set(inputs(modal_for(requirement, choice)))
    assert set(errors) <= view_inputs
    assert set(errors) <= set(modal_input_block_ids(requirement, choice))
    assert all(0 < len(message) <= 150 for message in errors.values())
    return errors


def test_field_errors_land_on_their_inputs() -> None:
    fields = (
        InputField(name="title"),
        InputField(name="env", type="single_choice", choices=("dev", "prod")),
        InputField(name="when", type="date"),
        InputField(name="fine", required=False),
    )
    requirement = Requirement(id="form", kind="user_input", title="Fill in", fields=fields)
    errors = _errors_for(requirement, {"f:fine": "ok"})
    assert errors == {
        "f:title": "this field is required",
        "f:env": "this field is required",
        "f:when": "this field is required",
    }


def test_choice_reason_and_result_errors_land_on_their_inputs() -> None:
    approving = confirmation(fields=(InputField(name="ticket"),), confirmation=Confirmation(reason="always"))
    assert set(_errors_for(approving, {"choice": "Approve"})) == {"f:ticket", "reason"}
    assert set(_errors_for(approving, {})) == {"choice", "f:ticket", "reason"}
    external = Requirement(id="x", kind="external_execution", title="Run", result_format="json")
    assert _errors_for(external, {"result": "{not json"})["result"].startswith("not valid JSON")


def test_feedback_errors_land_on_the_question_or_its_text_box() -> None:
    requirement = Requirement(
        id="fb",
        kind="user_feedback",
        title="Review",
        questions=(
            Question(name="plan", question="Ok?", options=("yes", "no")),
            Question(name="why", question="Why?", allow_free_text=True),
        ),
    )
    assert set(_errors_for(requirement, {})) == {"q:plan", "qt:why"}


def test_an_error_without_an_input_of_its_own_goes_to_the_first_input() -> None:
    requirement = confirmation(confirmation=Confirmation(reason="always"))
    errors = submission_errors(
        requirement, DecisionInvalid({"choice": "unknown choice 'x'", "reason": "long " * 60}), choice="reject"
    )
    assert list(errors) == ["reason"]
    assert errors["reason"].startswith("choice: unknown choice 'x'; long long")
    assert errors["reason"].endswith("…") and len(errors["reason"]) == 150
    only_choice = submission_errors(requirement, DecisionInvalid({"choice": "unknown choice 'x'"}), choice="reject")
    assert only_choice == {"reason": "choice: unknown choice 'x'"}


# -- Slack accepts them -------------------------------------------------------------------------------


def test_slack_opens_every_kind_of_modal(emulator: SlackEmulator) -> None:
    client = WebClient(token="xoxb-test", base_url=emulator.base_url)
    requirements = [
        Requirement(id="form", kind="user_input", title="Fill in", fields=EVERY_FIELD),
        Requirement(
            id="fb",
            kind="user_feedback",
            title="Review",
            questions=(Question(name="q", question="?", options=("a",), allow_free_text=True),),
        ),
        Requirement(id="x", kind="external_execution", title="Run", result_format="json"),
        confirmation(fields=(InputField(name="ticket"),), confirmation=Confirmation(reason="required_on_reject")),
    ]
    for requirement in requirements:
        view = modal_for(requirement)
        answer = client.views_open(trigger_id=emulator.issue_trigger_id("U0ALICE"), view=view)
        assert answer["ok"] is True
        assert emulator.view(answer["view"]["id"]).private_metadata == view["private_metadata"]
    reason_view = modal_for(requirements[-1], "reject")
    assert client.views_open(trigger_id=emulator.issue_trigger_id("U0ALICE"), view=reason_view)["ok"] is True
