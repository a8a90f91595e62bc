"""What a person must decide: requirements (rows) and their four kinds.

Pure values, no I/O. A requirement is immutable once an approval is opened; the per-row
state (pending, decided, by whom) lives in the store, never in these objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["confirmation", "user_input", "user_feedback", "external_execution"]
KINDS: tuple[Kind, ...] = ("confirmation", "user_input", "user_feedback", "external_execution")

ReasonPolicy = Literal["none", "optional", "required_on_reject", "always"]
FieldType = Literal["text", "long_text", "number", "integer", "boolean", "single_choice", "multiple_choice", "date"]
ResultFormat = Literal["text", "json"]

MAX_STEPS = 20
"""The most steps an approval may have."""
MAX_QUORUM = 50
"""The most votes a quorum row may need: more people than a Slack message is ever put to."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Choice(_Frozen):
    """One button of a confirmation row."""

    value: str = Field(min_length=1, max_length=150)
    label: str | None = Field(default=None, max_length=75)
    rejects: bool = False
    """Choosing it rejects the row (it counts as a rejection and may need a reason)."""
    asks: str | None = Field(default=None, min_length=1, max_length=2000)
    """Choosing it needs words: the modal asks this (e.g. "What should change?") and an answer is
    required; it is the decision's reason. Unless the choice also rejects, the outcome is ``answered``:
    a "request changes" is neither an approval nor a rejection."""

    @property
    def text(self) -> str:
        return self.label or self.value


APPROVE = Choice(value="approve", label="Approve")
REJECT = Choice(value="reject", label="Reject", rejects=True)


class Confirmation(_Frozen):
    choices: tuple[Choice, ...] = (APPROVE, REJECT)
    multiple: bool = False
    reason: ReasonPolicy = "optional"
    approvals_needed: int = Field(default=1, ge=1, le=MAX_QUORUM)
    """Quorum: the row is approved once this many distinct people approved it."""
    rejections_needed: int = Field(default=1, ge=1, le=MAX_QUORUM)
    """Quorum: the row is rejected once this many distinct people rejected it (the first, by default)."""

    @model_validator(mode="after")
    def _choices_are_unique(self) -> Confirmation:
        if not self.choices:
            raise ValueError("a confirmation needs at least one choice")
        values = [c.value for c in self.choices]
        if len(set(values)) != len(values):
            raise ValueError(f"choice values must be unique, got {values}")
        if self.is_quorum and any(c.asks and not c.rejects for c in self.choices):
            # A vote must count for one side: "request changes" is neither an approval nor a rejection.
            raise ValueError("a quorum row's choices must each approve or reject; a choice that asks must also reject")
        return self

    @property
    def is_quorum(self) -> bool:
        """Whether the row is decided by a count of distinct people's votes rather than by its first decision."""
        return self.approvals_needed > 1 or self.rejections_needed > 1

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)

    def needs_reason(self, choice: Choice | None) -> bool:
        """Whether deciding with ``choice`` requires a reason (``None``: the choice is not made yet)."""
        if choice is not None and choice.asks:
            return True
        return self.reason == "always" or (
            self.reason == "required_on_reject" and choice is not None and choice.rejects
        )


class InputField(_Frozen):
    """One typed field of a user_input row."""

    name: str = Field(min_length=1, max_length=100)
    type: FieldType = "text"
    label: str | None = None
    description: str = ""
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    max_length: int | None = Field(default=None, ge=1, le=3000)

    @property
    def title(self) -> str:
        return self.label or self.name

    @model_validator(mode="after")
    def _choices_match_type(self) -> InputField:
        wants_choices = self.type in ("single_choice", "multiple_choice")
        if wants_choices and not self.choices:
            raise ValueError(f"field {self.name!r} of type {self.type} needs choices")
        if not wants_choices and self.choices:
            raise ValueError(f"field {self.name!r} of type {self.type} takes no choices")
        return self


class Question(_Frozen):
    """One question of a user_feedback row."""

    name: str = Field(min_length=1, max_length=100)
    question: str
    options: tuple[str, ...] = ()
    multiple: bool = False
    allow_free_text: bool = False
    required: bool = True

    @model_validator(mode="after")
    def _has_a_way_to_answer(self) -> Question:
        if not self.options and not self.allow_free_text:
            raise ValueError(f"question {self.name!r} has neither options nor free text")
        return self


class Deciders(_Frozen):
    """Who may decide a row. Empty means anyone who can see the message."""

    user_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    not_requester: bool = False
    """Four-eyes: the person who requested the approval (its ``requested_by``) may not decide the row."""

    @property
    def anyone(self) -> bool:
        return not self.user_ids and not self.group_ids


class Requirement(_Frozen):
    """One row of an approval: exactly one kind, with what that kind needs."""

    id: str = Field(min_length=1, max_length=200)
    kind: Kind
    title: str = Field(min_length=1)
    description: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    deciders: Deciders = Deciders()
    step: int = Field(default=1, ge=1, le=MAX_STEPS)
    """Staged approvals: a row of step 2 can be decided only once every row of step 1 is decided and
    none rejected; in an approval with several steps, a rejection ends it (later rows are not asked)."""
    confirmation: Confirmation | None = None
    fields: tuple[InputField, ...] = ()
    questions: tuple[Question, ...] = ()
    result_format: ResultFormat = "text"
    default: dict[str, Any] | None = None
    """Decision applied when the approval expires under the ``apply_defaults`` policy."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Adapter data carried with the row (tool call id, task instance key...); never shown."""

    @model_validator(mode="after")
    def _kind_has_what_it_needs(self) -> Requirement:
        if self.kind == "confirmation" and self.confirmation is None:
            object.__setattr__(self, "confirmation", Confirmation())
        if self.kind != "confirmation" and self.confirmation is not None:
            raise ValueError(f"a {self.kind} row takes no confirmation settings")
        if self.kind == "user_input" and not self.fields:
            raise ValueError("a user_input row needs at least one field")
        if self.kind == "user_feedback" and not self.questions:
            raise ValueError("a user_feedback row needs at least one question")
        if self.fields and self.kind not in ("user_input", "confirmation"):
            # A confirmation may carry fields: an Airflow HITLOperator's params beside its options.
            raise ValueError(f"a {self.kind} row takes no input fields")
        names = [f.name for f in self.fields] + [q.name for q in self.questions]
        if len(set(names)) != len(names):
            raise ValueError(f"field and question names must be unique, got {names}")
        return self

    @property
    def reason_policy(self) -> ReasonPolicy:
        return self.confirmation.reason if self.confirmation else "none"
