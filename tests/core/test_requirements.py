import pytest
from pydantic import ValidationError

from slack_hitl import Choice, Confirmation, InputField, Question, Requirement


def test_confirmation_defaults_to_approve_and_reject():
    requirement = Requirement(id="r", kind="confirmation", title="deploy")
    assert [c.value for c in requirement.confirmation.choices] == ["approve", "reject"]
    assert [c.rejects for c in requirement.confirmation.choices] == [False, True]


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "user_input"},
        {"kind": "user_feedback"},
        {"kind": "external_execution", "fields": [{"name": "a"}]},
        {"kind": "user_input", "confirmation": {}, "fields": [{"name": "a"}]},
        {"kind": "user_input", "fields": [{"name": "a"}, {"name": "a"}]},
        {"kind": "approval"},
    ],
)
def test_inconsistent_requirements_are_refused(spec):
    with pytest.raises(ValidationError):
        Requirement(id="r", title="t", **spec)


def test_choices_must_be_unique_and_present():
    with pytest.raises(ValidationError, match="unique"):
        Confirmation(choices=(Choice(value="a"), Choice(value="a")))
    with pytest.raises(ValidationError, match="at least one"):
        Confirmation(choices=())


def test_choice_fields_need_choices_and_others_refuse_them():
    with pytest.raises(ValidationError, match="needs choices"):
        InputField(name="x", type="single_choice")
    with pytest.raises(ValidationError, match="takes no choices"):
        InputField(name="x", type="text", choices=("a",))


def test_a_question_needs_options_or_free_text():
    with pytest.raises(ValidationError, match="neither"):
        Question(name="q", question="why?")


def test_requirements_round_trip_through_json():
    requirement = Requirement(
        id="r",
        kind="user_input",
        title="t",
        fields=[InputField(name="n", type="integer", min_value=1, max_value=3, default=2)],
    )
    assert Requirement.model_validate_json(requirement.model_dump_json()) == requirement
