"""Requests as rows, decisions as answers, and the checks that keep bad answers away from Airflow."""

from __future__ import annotations

import pytest
from slack_hitl_airflow import (
    Answer,
    AnswerInvalid,
    MappingPolicy,
    UserMap,
    answer_for,
    requirement_for,
    validate_answer,
)
from slack_hitl_airflow.hitl_detail import HITLRequest
from slack_hitl_airflow.mapping import decision_input_for, thread_note
from slack_hitl_airflow.users import AIRFLOW_ASSIGNEES

from slack_hitl import DecisionInput, DecisionInvalid, validate_decision
from tests.airflow.support import (
    approval_request,
    branch_request,
    entry_request,
    hitl_request,
    llm_approval_request,
    param,
    tool_approval_request,
)


def request(payload: dict) -> HITLRequest:
    return HITLRequest.model_validate(payload)


def decide(requirement, **submitted):
    return validate_decision(requirement, DecisionInput(**submitted))


def test_an_approval_operator_is_an_approve_reject_confirmation_whose_reject_needs_a_reason() -> None:
    row = requirement_for(request(approval_request(body="**Ship** it? See [notes](https://x.test/n)")))
    assert row.kind == "confirmation"
    assert [(c.value, c.label, c.rejects) for c in row.confirmation.choices] == [
        ("Approve", "Approve", False),
        ("Reject", "Reject", True),
    ]
    assert row.confirmation.reason == "required_on_reject"
    assert row.description.startswith(
        "**Ship** it? See [notes](https://x.test/n)"
    )  # Markdown: the Slack layer renders it
    assert "task `approve`" in row.description
    with pytest.raises(DecisionInvalid, match="reason"):
        decide(row, choices=("Reject",))
    answer = answer_for(row, decide(row, choices=("Reject",), reason="too risky"))
    assert answer == Answer(chosen_options=["Reject"], params_input={})


def test_the_reason_policy_is_the_adapters_to_choose() -> None:
    policy = MappingPolicy(approval_reason="none", options_reason="always")
    assert requirement_for(request(approval_request()), policy).confirmation.reason == "none"
    assert requirement_for(request(hitl_request()), policy).confirmation.reason == "always"


def test_hitl_operator_options_become_choices_single_or_multiple_with_defaults_shown() -> None:
    single = requirement_for(request(hitl_request(options=["keep", "drop"], defaults=["keep"])))
    assert [c.value for c in single.confirmation.choices] == ["keep", "drop"]
    assert not single.confirmation.multiple and single.confirmation.reason == "optional"
    assert "on timeout Airflow picks `keep`" in single.description
    assert single.default == {"choices": ["keep"], "values": {}}
    multiple = requirement_for(request(hitl_request(options=["a", "b", "c"], multiple=True)))
    assert multiple.confirmation.multiple
    decision = decide(multiple, choices=("a", "c"))
    assert answer_for(multiple, decision).chosen_options == ["a", "c"]


def test_a_branch_operator_is_a_confirmation_whose_choices_are_the_branches() -> None:
    row = requirement_for(request(branch_request()))
    assert row.kind == "confirmation"
    assert [c.value for c in row.confirmation.choices] == ["Europe", "America"]
    assert answer_for(row, decide(row, choices=("America",))).chosen_options == ["America"]


def test_an_entry_operator_is_user_input_answered_with_ok_and_typed_params() -> None:
    row = requirement_for(
        request(
            entry_request(
                params={
                    "replicas": param(3, {"type": "integer", "minimum": 1, "maximum": 10}, "How many"),
                    "ratio": param(0.5, {"type": "number"}),
                    "window": param("night", {"type": "string", "enum": ["night", "day"]}),
                    "regions": param(["eu"], {"type": "array", "items": {"enum": ["eu", "us", "ap"]}}),
                    "dry_run": param(False, {"type": "boolean"}),
                    "on": param("2026-12-01", {"type": "string", "format": "date"}),
                    "notes": param(None, {"type": ["string", "null"], "maxLength": 200}),
                    "owner": param(None, {"type": "string"}),
                    "extra": param({"a": 1}, {"type": "object"}),
                }
            )
        )
    )
    assert row.kind == "user_input" and row.confirmation is None
    fields = {f.name: f for f in row.fields}
    assert {n: f.type for n, f in fields.items()} == {
        "replicas": "integer",
        "ratio": "number",
        "window": "single_choice",
        "regions": "multiple_choice",
        "dry_run": "boolean",
        "on": "date",
        "notes": "long_text",
        "owner": "text",
        "extra": "long_text",
    }
    assert (fields["replicas"].min_value, fields["replicas"].max_value, fields["replicas"].default) == (1, 10, 3)
    assert fields["replicas"].description == "How many"
    assert fields["notes"].max_length == 200
    assert fields["window"].choices == ("night", "day") and fields["regions"].choices == ("eu", "us", "ap")
    # Empty is fine where the default is a valid answer; "owner" has no valid default.
    assert not fields["replicas"].required and not fields["notes"].required
    assert fields["owner"].required and fields["extra"].default == '{"a": 1}'

    decision = decide(
        row,
        values={"replicas": "4", "window": "day", "regions": ["us", "ap"], "owner": "ops", "extra": '{"b": [1]}'},
    )
    answer = answer_for(row, decision)
    assert answer.chosen_options == ["OK"]
    assert answer.params_input == {
        "replicas": 4,
        "ratio": 0.5,
        "window": "day",
        "regions": ["us", "ap"],
        "dry_run": False,
        "on": "2026-12-01",
        "notes": None,
        "owner": "ops",
        "extra": {"b": [1]},
    }
    validate_answer(request(entry_request(params={k: v for k, v in row_params(row).items()})), answer)


def row_params(row) -> dict:
    return row.metadata["airflow_request"]["params"]


def test_bad_values_in_the_modal_are_refused_by_the_row_itself() -> None:
    row = requirement_for(request(entry_request()))
    with pytest.raises(DecisionInvalid) as too_many:
        decide(row, values={"replicas": 42})
    assert too_many.value.errors == {"replicas": "must be at most 10"}
    with pytest.raises(DecisionInvalid, match="not a number"):
        decide(row, values={"replicas": "many"})


def test_json_that_does_not_parse_is_refused_before_writing() -> None:
    row = requirement_for(request(entry_request(params={"extra": param({}, {"type": "object"})})))
    with pytest.raises(AnswerInvalid) as invalid:
        answer_for(row, decide(row, values={"extra": "{not json"}))
    assert "not valid JSON" in invalid.value.errors["extra"]


def test_reviewer_and_reason_params_are_hidden_and_filled_from_slack() -> None:
    payload = approval_request(
        params={"reviewer": param("", {"type": "string"}), "reason": param("", {"type": "string"})}
    )
    row = requirement_for(request(payload))
    assert row.fields == ()
    decision = decide(row, choices=("Approve",), reason="looks good")
    answer = answer_for(row, decision, slack_user="U0ALICE", slack_user_name="alice")
    assert answer.params_input == {"reviewer": "alice (U0ALICE)", "reason": "looks good"}
    without_reason = answer_for(row, decide(row, choices=("Approve",)), slack_user="U0ALICE", slack_user_name="alice")
    assert without_reason.params_input["reason"] == ""


def test_a_reason_param_that_may_not_be_empty_makes_the_reason_required() -> None:
    payload = hitl_request(
        options=["Approve AI Response", "Respond Manually", "Escalate to CRE"],
        params={"reason": param(None, {"type": "string", "minLength": 1})},
    )
    row = requirement_for(request(payload))
    assert row.confirmation.reason == "always"
    with pytest.raises(DecisionInvalid, match="reason"):
        decide(row, choices=("Respond Manually",))


def test_assigned_users_are_mapped_to_slack_users_and_unmapped_ones_leave_it_to_airflow() -> None:
    users = UserMap({"alice": "U0ALICE", "Bob": "U0BOB"})
    assigned = [{"id": "alice", "name": "Alice"}, {"id": "b7", "name": "Bob"}, {"id": "x", "name": "Xavier"}]
    row = requirement_for(request(hitl_request(assigned_users=assigned)), MappingPolicy(users=users))
    assert row.deciders.user_ids == ("U0ALICE", "U0BOB") and row.deciders.group_ids == ()
    assert "assigned in Airflow to Alice, Bob, Xavier" in row.description
    nobody = requirement_for(
        request(hitl_request(assigned_users=[{"id": "x", "name": "X"}])), MappingPolicy(users=users)
    )
    assert nobody.deciders.user_ids == (AIRFLOW_ASSIGNEES,)  # no Slack user has this id
    anyone = MappingPolicy(users=UserMap({}, unmapped="anyone"))
    assert requirement_for(request(hitl_request(assigned_users=[{"id": "x", "name": "X"}])), anyone).deciders.anyone
    assert requirement_for(request(hitl_request())).deciders.anyone


def test_row_ids_are_unique_per_task_instance_try() -> None:
    first = requirement_for(request(hitl_request(ti_id="ti-1", try_number=1)))
    retried = requirement_for(request(hitl_request(ti_id="ti-2", try_number=2)))
    assert first.id == "ti-1:1" and retried.id == "ti-2:2"


def test_long_options_get_short_button_values_and_still_answer_the_option() -> None:
    long_option = "x" * 200
    row = requirement_for(request(hitl_request(options=[long_option, "short"])))
    values = [c.value for c in row.confirmation.choices]
    assert values == ["option-0", "short"]
    assert row.confirmation.choices[0].label.endswith("…") and len(row.confirmation.choices[0].label) == 75
    assert answer_for(row, decide(row, choices=("option-0",))).chosen_options == [long_option]


def test_an_answer_given_in_airflow_reads_back_as_the_same_row_decision() -> None:
    payload = hitl_request(
        options=["keep", "drop"],
        params={"n": param(1, {"type": "integer"}), "tags": param([], {"type": "array", "items": {"enum": ["a", 2]}})},
        answered={"by": {"id": "ui", "name": "Uma"}, "chosen_options": ["drop"], "params_input": {"n": 5, "tags": [2]}},
    )
    row = requirement_for(request(payload))
    submitted = decision_input_for(row, request(payload))
    assert submitted.choices == ("drop",) and submitted.values == {"n": 5, "tags": ["2"]}
    assert answer_for(row, validate_decision(row, submitted)).params_input == {"n": 5, "tags": [2]}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (Answer(["maybe"], {}), ("chosen_options", "'maybe' is not one of yes, no")),
        (Answer([], {}), ("chosen_options", "choose at least one option")),
        (Answer(["yes", "no"], {}), ("chosen_options", "choose exactly one option, not 2")),
        (Answer(["yes", "yes"], {}), ("chosen_options", "an option is chosen twice")),
        (Answer(["yes"], {"n": 1, "extra": 2}), ("extra", "the task declares no such param")),
        (Answer(["yes"], {"n": 1}), ("note", "missing: every declared param must be given")),
        (Answer(["yes"], {"n": "1", "note": "x"}), ("n", "'1' is not of type 'integer'")),
        (Answer(["yes"], {"n": 11, "note": "x"}), ("n", "11 is greater than the maximum of 10")),
        (Answer(["yes"], {"n": 1, "note": "abc"}), ("note", "'abc' does not match '^[0-9]+$'")),
    ],
)
def test_an_answer_airflow_would_accept_and_then_fail_on_is_refused(answer: Answer, problem: tuple[str, str]) -> None:
    payload = hitl_request(
        params={
            "n": param(1, {"type": "integer", "maximum": 10}),
            "note": param("1", {"type": "string", "pattern": "^[0-9]+$"}),
        }
    )
    with pytest.raises(AnswerInvalid) as invalid:
        validate_answer(request(payload), answer)
    assert invalid.value.errors[problem[0]] == problem[1]


def test_valid_answers_pass_including_an_empty_params_input() -> None:
    payload = request(hitl_request(options=["a", "b"], multiple=True, params={"n": param(1, {"type": "integer"})}))
    validate_answer(payload, Answer(["a", "b"], {"n": 2}))
    validate_answer(payload, Answer(["b"], {}))


# -- common-ai's requests ------------------------------------------------------------------------


def test_an_llm_approval_shows_the_output_and_lets_an_approver_edit_it_in_a_text_area() -> None:
    output = "Webhook deliveries that fail with a 5xx are now retried three times.\nNothing is dropped."
    row = requirement_for(request(llm_approval_request(output)))
    assert row.kind == "confirmation" and row.confirmation.reason == "required_on_reject"
    assert output in row.description and "Prompt: Write a release note." in row.description
    (field,) = row.fields
    assert (field.name, field.type, field.default, field.required) == ("output", "long_text", output, False)
    edited = "Failed webhook deliveries are retried three times."
    answer = answer_for(row, decide(row, choices=("Approve",), values={"output": edited}))
    assert answer == Answer(chosen_options=["Approve"], params_input={"output": edited})
    # Left as proposed, the output goes back unchanged (the operator then keeps its own output).
    unchanged = answer_for(row, decide(row, choices=("Approve",), values={"output": None}))
    assert unchanged.params_input == {"output": output}
    rejected = answer_for(row, decide(row, choices=("Reject",), reason="says nothing of the retry delay"))
    assert rejected == Answer(chosen_options=["Reject"], params_input={"output": output})
    read_only = requirement_for(request(llm_approval_request(output, allow_modifications=False)))
    assert read_only.fields == () and answer_for(read_only, decide(read_only, choices=("Approve",))).params_input == {}


def test_a_long_llm_output_is_cut_in_the_row_with_a_pointer_and_posted_whole_in_the_thread() -> None:
    output = "\n".join(f"Line {i}: " + "lorem ipsum " * 12 for i in range(60))  # ~9,000 characters
    row = requirement_for(request(llm_approval_request(output)))
    assert len(row.description) < 3000
    assert "the whole text is in this message's thread" in row.description
    assert row.description.count("```") % 2 == 0  # the cut does not leave the code block open
    note = thread_note(row)
    assert note.startswith("*Review output for task `draft`*, in full:") and output in note
    # Too long for a Slack text box: not editable here, answered as Airflow holds it.
    assert row.fields == ()
    assert "`output` is too long to edit in Slack" in row.description
    assert answer_for(row, decide(row, choices=("Approve",))).params_input == {"output": output}
    assert thread_note(requirement_for(request(llm_approval_request("short")))) is None


def test_a_tool_approval_lists_each_call_with_its_arguments_and_answers_the_hidden_request_number() -> None:
    calls = [("refund_order", {"order_id": 7, "amount": 42.0}), ("email_customer", {"to": "j@x.test"})]
    row = requirement_for(request(tool_approval_request(calls, pause=2)))
    assert row.title == "Approve refund_order, email_customer for task `agent` (request 2)"
    assert row.arguments == {"refund_order": {"order_id": 7, "amount": 42.0}, "email_customer": {"to": "j@x.test"}}
    assert "`refund_order`, `email_customer`" in row.description
    assert row.fields == ()  # `reason` is the row's reason, `request` is fixed
    assert row.confirmation.reason == "required_on_reject"
    rejected = answer_for(row, decide(row, choices=("Reject",), reason="not without a manager"))
    assert rejected == Answer(chosen_options=["Reject"], params_input={"reason": "not without a manager", "request": 2})
    approved = answer_for(row, decide(row, choices=("Approve",)))
    assert approved == Answer(chosen_options=["Approve"], params_input={"reason": "", "request": 2})
    validate_answer(request(tool_approval_request(calls, pause=2)), approved)
    repeated = requirement_for(request(tool_approval_request([("refund", {"id": 1}), ("refund", {"id": 2})])))
    assert repeated.arguments == {"refund": {"id": 1}, "refund (2)": {"id": 2}}


def test_a_const_param_is_hidden_and_always_answered_with_its_const() -> None:
    row = requirement_for(
        request(hitl_request(params={"batch": param(3, {"type": "integer", "const": 4}), "n": param(1, {})}))
    )
    assert [f.name for f in row.fields] == ["n"]
    assert answer_for(row, decide(row, choices=("yes",), values={"n": "5"})).params_input == {"batch": 4, "n": 5}
