import itertools

import pytest

from slack_hitl import IllegalTransition, aggregate_outcome
from slack_hitl.status import FINAL_STATUSES, can_transition, check_transition, final_status

STATUSES = ["pending", "resuming", "approved", "rejected", "completed", "expired", "cancelled"]
LEGAL = {
    ("pending", "resuming"),
    ("pending", "cancelled"),
    ("resuming", "resuming"),
    ("resuming", "pending"),
    ("resuming", "approved"),
    ("resuming", "rejected"),
    ("resuming", "completed"),
    ("resuming", "expired"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_transition_is_legal_or_refused(current, target):
    assert can_transition(current, target) == ((current, target) in LEGAL)
    if (current, target) in LEGAL:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_final_statuses_go_nowhere():
    for status in FINAL_STATUSES:
        assert not any(can_transition(status, target) for target in STATUSES)


@pytest.mark.parametrize(
    ("outcomes", "aggregate"),
    [
        (["approved"], "approved"),
        (["approved", "answered"], "approved"),
        (["rejected", "rejected"], "rejected"),
        (["approved", "rejected"], "completed"),
        (["answered", "rejected"], "completed"),
        (["approved", None], None),
        ([], None),
    ],
)
def test_aggregate_outcome(outcomes, aggregate):
    assert aggregate_outcome(outcomes) == aggregate


def test_final_status_says_expired_and_refuses_undecided_rows():
    assert final_status(["approved"], expired=True) == "expired"
    assert final_status(["rejected", "approved"], expired=False) == "completed"
    with pytest.raises(IllegalTransition, match="undecided"):
        final_status(["approved", None], expired=False)
