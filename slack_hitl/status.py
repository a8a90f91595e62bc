"""The status of an approval: a pure function of its rows, and the transitions it may take.

    pending --(every row decided, CAS won)--> resuming --(resume finished)--> approved | rejected
       |  ^                                      |                            | completed | expired
       |  +-------(resume failed: retryable)-----+
       +--(cancel)--> cancelled

``resuming -> resuming`` is the take-over of a resume whose lease expired (its process died).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from slack_hitl.decisions import Outcome
from slack_hitl.errors import IllegalTransition

ApprovalStatus = Literal["pending", "resuming", "approved", "rejected", "completed", "expired", "cancelled"]
FinalStatus = Literal["approved", "rejected", "completed", "expired", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"approved", "rejected", "completed", "expired", "cancelled"})

_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"resuming", "cancelled"}),
    "resuming": frozenset({"resuming", "pending", "approved", "rejected", "completed", "expired"}),
}


def can_transition(current: str, target: str) -> bool:
    return target in _TRANSITIONS.get(current, frozenset())


def check_transition(current: str, target: str) -> None:
    """Raise ``IllegalTransition`` unless the state machine connects ``current`` to ``target``."""
    if not can_transition(current, target):
        if current in FINAL_STATUSES:
            raise IllegalTransition(f"approval is already {current}; it cannot become {target}")
        raise IllegalTransition(f"an approval cannot go from {current} to {target}")


def aggregate_outcome(
    outcomes: Iterable[Outcome | None],
) -> Literal["approved", "rejected", "completed"] | None:
    """The outcome of a whole approval from its rows' outcomes; ``None`` while any row is undecided.

    Every row approved or answered: ``approved``; every row rejected: ``rejected``; both: ``completed``.
    """
    seen = list(outcomes)
    if not seen or any(outcome is None for outcome in seen):
        return None
    rejected = sum(outcome == "rejected" for outcome in seen)
    if rejected == len(seen):
        return "rejected"
    return "completed" if rejected else "approved"


def final_status(outcomes: Iterable[Outcome | None], *, expired: bool) -> FinalStatus:
    """The status an approval ends in once its resume has finished."""
    outcome = aggregate_outcome(outcomes)
    if outcome is None:
        raise IllegalTransition("an approval with undecided rows cannot finish")
    return "expired" if expired else outcome
