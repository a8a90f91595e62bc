from types import SimpleNamespace

import pytest

from slack_hitl import ClassificationError, classify


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        ({"requires_confirmation": True}, "confirmation"),
        ({"needs_approval": True}, "confirmation"),
        ({"requires_user_input": True, "user_input_fields": [{"name": "x"}]}, "user_input"),
        ({"user_input_schema": {"type": "object"}}, "user_input"),
        ({"external_execution_required": True}, "external_execution"),
        ({"user_feedback_schema": [{"question": "?"}]}, "user_feedback"),
        ({"questions": ["?"]}, "user_feedback"),
        ({"kind": "external_execution", "requires_confirmation": True}, "external_execution"),
        ({"pause_type": "user_feedback"}, "user_feedback"),
    ],
)
def test_each_flag_gives_its_kind(item, kind):
    assert classify(item) == kind


def test_feedback_wins_over_user_input():
    ask_user = {"requires_user_input": True, "user_input_fields": [{"name": "a"}], "user_feedback_schema": [{}]}
    assert classify(ask_user) == "user_feedback"


def test_user_input_wins_over_confirmation_and_external():
    assert classify({"requires_user_input": True, "requires_confirmation": True}) == "user_input"
    assert classify({"requires_user_input": True, "external_execution_required": True}) == "user_input"


def test_explicit_kind_wins_over_every_flag():
    item = {"kind": "confirmation", "user_feedback_schema": [{}], "requires_user_input": True}
    assert classify(item) == "confirmation"


def test_objects_and_agno_tool_execution_are_read():
    tool_execution = SimpleNamespace(requires_confirmation=False, external_execution_required=True)
    requirement = SimpleNamespace(tool_execution=tool_execution)
    assert classify(requirement) == "external_execution"


def test_false_and_empty_flags_do_not_count():
    item = {"requires_user_input": False, "user_input_fields": [], "requires_confirmation": True}
    assert classify(item) == "confirmation"


def test_enum_kinds_are_accepted():
    class PauseType:
        value = "user_input"

    assert classify({"pause_type": PauseType()}) == "user_input"


@pytest.mark.parametrize("item", [{}, {"requires_confirmation": False}, SimpleNamespace(), None])
def test_an_item_without_a_kind_is_refused(item):
    with pytest.raises(ClassificationError, match=r"kind|None"):
        classify(item)


def test_external_and_confirmation_together_is_ambiguous():
    with pytest.raises(ClassificationError, match="ambiguous"):
        classify({"requires_confirmation": True, "external_execution_required": True})


def test_unknown_explicit_kind_is_refused():
    with pytest.raises(ClassificationError, match="unknown kind 'approval'"):
        classify({"kind": "approval"})
