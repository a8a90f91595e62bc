import pytest

from slack_hitl import (
    Choice,
    Confirmation,
    DecisionInput,
    DecisionInvalid,
    InputField,
    Question,
    Requirement,
    validate_decision,
)


def confirmation(reason="optional", multiple=False, choices=None, fields=()):
    settings = {"reason": reason, "multiple": multiple}
    if choices is not None:
        settings["choices"] = choices
    return Requirement(id="c", kind="confirmation", title="t", confirmation=Confirmation(**settings), fields=fields)


def field_requirement(**field):
    return Requirement(id="u", kind="user_input", title="t", fields=[InputField(name="f", **field)])


def errors_of(requirement, **submitted):
    with pytest.raises(DecisionInvalid) as raised:
        validate_decision(requirement, DecisionInput(**submitted))
    return raised.value.errors


def test_approve_and_reject_outcomes():
    assert validate_decision(confirmation(), DecisionInput(choices=("approve",))).outcome == "approved"
    assert validate_decision(confirmation(), DecisionInput(choices=("reject",))).outcome == "rejected"


def test_unknown_missing_and_too_many_choices():
    assert "unknown choice 'maybe'" in errors_of(confirmation(), choices=("maybe",))["choice"]
    assert errors_of(confirmation(), choices=())["choice"] == "choose an option"
    assert errors_of(confirmation(), choices=("approve", "reject"))["choice"] == "choose exactly one option"


def test_multiple_choice_confirmation_takes_several():
    choices = (Choice(value="a"), Choice(value="b"), Choice(value="c", rejects=True))
    decision = validate_decision(confirmation(multiple=True, choices=choices), DecisionInput(choices=("a", "b", "a")))
    assert decision.choices == ("a", "b")
    assert decision.outcome == "approved"


@pytest.mark.parametrize(
    ("policy", "choice", "needs_reason"),
    [
        ("none", "reject", False),
        ("optional", "reject", False),
        ("required_on_reject", "reject", True),
        ("required_on_reject", "approve", False),
        ("always", "approve", True),
    ],
)
def test_reason_policies(policy, choice, needs_reason):
    requirement = confirmation(reason=policy)
    if needs_reason:
        assert "reason is required" in errors_of(requirement, choices=(choice,))["reason"]
        decision = validate_decision(requirement, DecisionInput(choices=(choice,), reason="  because  "))
        assert decision.reason == "because"
    else:
        assert validate_decision(requirement, DecisionInput(choices=(choice,))).reason is None


def test_reason_is_dropped_when_the_policy_takes_none():
    decision = validate_decision(confirmation(reason="none"), DecisionInput(choices=("reject",), reason="x"))
    assert decision.reason is None


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [
        ({"type": "text"}, "hi", "hi"),
        ({"type": "long_text", "max_length": 5}, "hello", "hello"),
        ({"type": "number"}, "2.5", 2.5),
        ({"type": "number", "min_value": 0, "max_value": 10}, 10, 10.0),
        ({"type": "integer"}, "7", 7),
        ({"type": "integer"}, 7.0, 7),
        ({"type": "boolean"}, "true", True),
        ({"type": "boolean"}, ["false"], False),
        ({"type": "boolean", "required": False}, None, False),
        ({"type": "single_choice", "choices": ("a", "b")}, "b", "b"),
        ({"type": "single_choice", "choices": ("a", "b")}, ["a"], "a"),
        ({"type": "multiple_choice", "choices": ("a", "b")}, ["a", "b"], ["a", "b"]),
        ({"type": "multiple_choice", "choices": ("a", "b")}, "a", ["a"]),
        ({"type": "date"}, "2026-11-21", "2026-11-21"),
        ({"type": "text", "required": False}, "", None),
    ],
)
def test_valid_values_are_normalised(field, raw, value):
    decision = validate_decision(field_requirement(**field), DecisionInput(values={"f": raw}))
    assert decision.values == {"f": value}
    assert decision.outcome == "answered"


@pytest.mark.parametrize(
    ("field", "raw", "problem"),
    [
        ({"type": "text"}, "", "required"),
        ({"type": "text", "max_length": 3}, "four", "at most 3 characters"),
        ({"type": "number"}, "abc", "not a number"),
        ({"type": "number"}, "nan", "finite"),
        ({"type": "number"}, True, "number is required"),
        ({"type": "number", "min_value": 1}, "0", "at least 1"),
        ({"type": "number", "max_value": 1}, "1.5", "at most 1"),
        ({"type": "integer"}, "1.5", "whole number"),
        ({"type": "boolean"}, "perhaps", "true or false"),
        ({"type": "single_choice", "choices": ("a",)}, "z", "not one of a"),
        ({"type": "single_choice", "choices": ("a", "b")}, ["a", "b"], "exactly one"),
        ({"type": "multiple_choice", "choices": ("a",)}, ["a", "z"], "'z' is not one of a"),
        ({"type": "date"}, "21/11/2026", "not a date"),
    ],
)
def test_invalid_values_name_the_field_and_the_problem(field, raw, problem):
    assert problem in errors_of(field_requirement(**field), values={"f": raw})["f"]


def test_every_bad_field_is_reported_and_nothing_is_partly_accepted():
    requirement = Requirement(
        id="u",
        kind="user_input",
        title="t",
        fields=[InputField(name="a", type="integer"), InputField(name="b", type="date"), InputField(name="c")],
    )
    errors = errors_of(requirement, values={"a": "x", "b": "y", "c": "fine", "zzz": 1})
    assert set(errors) == {"a", "b", "zzz"}
    assert errors["zzz"] == "unknown field"


def test_confirmation_fields_are_checked_unless_rejected():
    requirement = confirmation(fields=(InputField(name="n", type="integer"),))
    assert "required" in errors_of(requirement, choices=("approve",))["n"]
    assert validate_decision(requirement, DecisionInput(choices=("reject",))).outcome == "rejected"


def feedback():
    return Requirement(
        id="q",
        kind="user_feedback",
        title="t",
        questions=[
            Question(name="color", question="Which?", options=("red", "blue")),
            Question(name="tags", question="Tags?", options=("x", "y"), multiple=True, required=False),
            Question(name="note", question="Anything?", allow_free_text=True, required=False),
        ],
    )


def test_feedback_answers():
    decision = validate_decision(
        feedback(), DecisionInput(values={"color": "red", "tags": ["x", "y"], "note": "looks good"})
    )
    assert decision.values == {
        "color": {"selected": ["red"], "text": None},
        "tags": {"selected": ["x", "y"], "text": None},
        "note": {"selected": [], "text": "looks good"},
    }


def test_feedback_errors():
    errors = errors_of(feedback(), values={"color": ["red", "blue"], "tags": ["z"], "bogus": 1})
    assert errors == {
        "bogus": "unknown question",
        "color": "choose one option",
        "tags": "'z' is not one of x, y",
    }
    assert errors_of(feedback(), values={})["color"] == "an answer is required"
    assert "no free text" in errors_of(feedback(), values={"color": {"selected": ["red"], "text": "hm"}})["color"]


def test_external_results():
    text = Requirement(id="e", kind="external_execution", title="t")
    as_json = Requirement(id="e", kind="external_execution", title="t", result_format="json")
    assert validate_decision(text, DecisionInput(result="done")).result == "done"
    assert validate_decision(as_json, DecisionInput(result='{"rows": 3}')).result == {"rows": 3}
    assert "not valid JSON" in errors_of(as_json, result="{rows: 3}")["result"]
    assert errors_of(text, result="   ")["result"] == "a result is required"


REQUEST_CHANGES = Choice(value="changes", label="Request changes", asks="What should change?")


@pytest.mark.parametrize("policy", ["none", "optional", "required_on_reject", "always"])
def test_a_choice_that_asks_needs_an_answer_whatever_the_reason_policy(policy):
    requirement = confirmation(reason=policy, choices=(Choice(value="approve"), REQUEST_CHANGES))
    assert errors_of(requirement, choices=("changes",)) == {"reason": "an answer is required: What should change?"}
    assert errors_of(requirement, choices=("changes",), reason="   ")["reason"].startswith("an answer is required")
    decision = validate_decision(requirement, DecisionInput(choices=("changes",), reason=" make it shorter "))
    assert (decision.outcome, decision.reason) == ("answered", "make it shorter")
    assert requirement.confirmation.needs_reason(REQUEST_CHANGES)
    approving = validate_decision(requirement, DecisionInput(choices=("approve",), reason="fine"))
    assert approving.outcome == "approved"


def test_a_rejecting_choice_that_asks_is_a_rejection_with_its_answer():
    refuse = Choice(value="refuse", rejects=True, asks="Why?")
    requirement = confirmation(reason="none", choices=(Choice(value="ok"), refuse))
    assert errors_of(requirement, choices=("refuse",)) == {"reason": "an answer is required: Why?"}
    decision = validate_decision(requirement, DecisionInput(choices=("refuse",), reason="too late"))
    assert (decision.outcome, decision.reason) == ("rejected", "too late")
