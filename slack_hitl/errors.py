"""Errors slack_hitl raises. Each names what went wrong in words a user can act on."""

from __future__ import annotations

Location = tuple[str | int, ...]
"""Where in an input a problem is: keys and list indexes from the top."""


class SlackHitlError(Exception):
    """Base class of every error slack_hitl raises on purpose."""


class ClassificationError(SlackHitlError, ValueError):
    """A pause item could not be given exactly one kind."""


class DecisionInvalid(SlackHitlError, ValueError):
    """Submitted values do not satisfy the requirement; ``errors`` maps each field to its problem."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in self.errors.items()))


class IllegalTransition(SlackHitlError):
    """An approval was asked to move between two statuses the state machine does not connect."""


class UnknownApproval(SlackHitlError, LookupError):
    """No approval has this id."""


class UnknownRow(SlackHitlError, LookupError):
    """The approval has no row with this id."""


class NotAllowed(SlackHitlError, PermissionError):
    """The person may not decide this row."""


class RequesterRefused(NotAllowed):
    """Four-eyes: the person requested the approval, and the row may not be decided by its requester."""


class AlreadyVoted(SlackHitlError):
    """The person's vote on this quorum row is already counted; ``outcome`` is the vote."""

    def __init__(self, row_id: str, voter: str, outcome: str) -> None:
        self.row_id = row_id
        self.voter = voter
        self.outcome = outcome
        super().__init__(f"{voter} already voted {outcome} on row {row_id!r}; each person counts once")


class StepLocked(SlackHitlError):
    """Staged approvals: the row's step waits until every row of the earlier steps is decided (none rejected)."""

    def __init__(self, row_id: str, step: int) -> None:
        self.row_id = row_id
        self.step = step
        super().__init__(f"row {row_id!r} is in step {step}: it waits until the earlier steps are approved")


class ChangeRefused(SlackHitlError):
    """A decision could not be withdrawn: ``reason`` is ``not_decided`` (nothing of this person's
    to withdraw), ``not_yours`` (decided by ``decided_by``) or ``last_row`` (every other row is
    decided, so the run may be resuming). A closed approval raises ``ApprovalClosed`` instead."""

    def __init__(self, row_id: str, reason: str, decided_by: str | None = None) -> None:
        self.row_id = row_id
        self.reason = reason
        self.decided_by = decided_by
        why = {
            "not_decided": "you have no decision on it to withdraw",
            "not_yours": f"it was decided by {decided_by or 'someone else'}; only they may change it",
            "last_row": "every other row is decided, so the decisions are final",
        }.get(reason, reason)
        super().__init__(f"row {row_id!r} cannot be changed: {why}")


class AlreadyDecided(SlackHitlError):
    """The row was decided before; ``decided_by`` says by whom."""

    def __init__(self, row_id: str, decided_by: str | None, decided_by_name: str | None) -> None:
        self.row_id = row_id
        self.decided_by = decided_by
        self.decided_by_name = decided_by_name
        who = decided_by_name or decided_by or "someone else"
        super().__init__(f"row {row_id!r} was already decided by {who}")


class ApprovalClosed(SlackHitlError):
    """The approval no longer takes decisions (it is resuming, finished, expired or cancelled)."""

    def __init__(self, approval_id: str, status: str) -> None:
        self.approval_id = approval_id
        self.status = status
        super().__init__(f"approval {approval_id} is {status} and takes no more decisions")


class PauseNotUsable(SlackHitlError, ValueError):
    """An adapter cannot make an approval of what it was given: the run did not pause, a pause
    item cannot become a row, or what resuming it will need is missing. Nothing is stored."""


class ResumeNotPossible(SlackHitlError, RuntimeError):
    """An adapter cannot resume a run with an approval's decisions: its stored state is missing or
    names other calls than the rows, a row is undecided, or the run failed or ended without its
    result. The approval stays retryable, every decision kept."""


class StoreUnavailable(SlackHitlError):
    """The database cannot be reached (stopped, restarting, the network away): nothing was written.
    The same request may succeed when it is back."""

    @classmethod
    def because(cls, error: BaseException) -> StoreUnavailable:
        """Said with the first line of the driver's ``error``."""
        return cls(f"the database cannot be reached: {type(error).__name__}: {str(error).partition(chr(10))[0]}")


class IdempotencyKeyReused(SlackHitlError):
    """An idempotency key was given again with a different request: it names the approval its first
    request opened (``approval_id``), which this request would not have opened. Nothing is stored."""

    def __init__(self, key: str, approval_id: str) -> None:
        self.key = key
        self.approval_id = approval_id
        super().__init__(
            f"idempotency key {key!r} was used for another request (approval {approval_id}): "
            "use a new key for a new request, or send the first request again unchanged"
        )


class AdapterNotRegistered(SlackHitlError, LookupError):
    """An approval names an adapter this engine was not given."""


class InputProblem(SlackHitlError, ValueError):
    """Input that cannot become an approval; ``problems`` are (location, reason) pairs. Nothing was stored."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc)) or 'body'}: {reason}" for loc, reason in problems))
