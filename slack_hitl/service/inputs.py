"""What callers send the service: approvals to open, their rows, and where to call back.

A row is the core ``Requirement`` as JSON, except that ``kind`` may be left out: it is then
classified from the framework flags the row carries (``requires_confirmation``,
``needs_approval``, ``requires_user_input``, ``requires_user_feedback``,
``requires_external_execution``, ``external_execution_required``) or from its ``fields`` /
``questions``, with the core classifier's precedence. Texts have limits, so nothing a caller
sends is silently cut on its way into Slack.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from slack_hitl.approvals import ExpiryPolicy, Reminders
from slack_hitl.classifier import classify
from slack_hitl.errors import ClassificationError, InputProblem, Location
from slack_hitl.requirements import (
    KINDS,
    MAX_STEPS,
    Confirmation,
    Deciders,
    InputField,
    Kind,
    Question,
    Requirement,
    ResultFormat,
)

TITLE_LIMIT = 150
"""An approval's title is the message's header, which Slack caps at 150 characters."""
ROW_TITLE_LIMIT = 300
DESCRIPTION_LIMIT = 3000
ROWS_LIMIT = 200
IDEMPOTENCY_KEY_LIMIT = 200

CLASSIFIER_FLAGS = (
    "requires_confirmation",
    "needs_approval",
    "requires_user_input",
    "requires_user_feedback",
    "requires_external_execution",
    "external_execution_required",
)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequirementIn(_Input):
    """One row: the core ``Requirement`` with an optional ``kind`` and the classifier's flags."""

    id: str = Field(min_length=1, max_length=200)
    kind: Kind | None = None
    title: str = Field(min_length=1, max_length=ROW_TITLE_LIMIT)
    description: str = Field("", max_length=DESCRIPTION_LIMIT)
    arguments: dict[str, Any] = Field(default_factory=dict)
    deciders: Deciders = Deciders()
    step: int = Field(1, ge=1, le=MAX_STEPS, description="staged approvals: step 2 waits for every row of step 1")
    confirmation: Confirmation | None = None
    fields: list[InputField] = Field(default_factory=list, max_length=50)
    questions: list[Question] = Field(default_factory=list, max_length=50)
    result_format: ResultFormat = "text"
    default: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    requires_confirmation: bool = False
    needs_approval: bool = False
    requires_user_input: bool = False
    requires_user_feedback: bool = False
    requires_external_execution: bool = False
    external_execution_required: bool = False

    def to_requirement(self) -> Requirement:
        """The core requirement, its kind classified when absent; ``InputProblem`` (relative locations) if not valid."""
        kind = self.kind or self._classified_kind()
        data = self.model_dump(exclude={"kind", *CLASSIFIER_FLAGS})
        try:
            return Requirement.model_validate({**data, "kind": kind})
        except ValidationError as error:
            raise InputProblem(
                [(tuple(problem["loc"]), _reason(problem["msg"])) for problem in error.errors()]
            ) from None

    def _classified_kind(self) -> Kind:
        flags = self.model_dump(include={*CLASSIFIER_FLAGS, "fields", "questions"})
        try:
            return classify(flags)
        except ClassificationError as error:
            if any(flags.values()):
                raise InputProblem([(("kind",), str(error))]) from None
            raise InputProblem(
                [
                    (
                        ("kind",),
                        f"set `kind` (one of {', '.join(KINDS)}) or a flag to classify the row from: "
                        + ", ".join(CLASSIFIER_FLAGS),
                    )
                ]
            ) from None


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def to_requirements(rows: list[RequirementIn]) -> list[Requirement]:
    """Every row as a core requirement; ``InputProblem`` locates each bad row (``requirements.<n>...``)."""
    problems: list[tuple[Location, str]] = []
    requirements: list[Requirement] = []
    for index, row in enumerate(rows):
        try:
            requirements.append(row.to_requirement())
        except InputProblem as problem:
            problems += [(("requirements", index, *loc), reason) for loc, reason in problem.problems]
    ids = [row.id for row in rows]
    repeated = sorted({row_id for row_id in ids if ids.count(row_id) > 1})
    if repeated:
        problems.append((("requirements",), f"row ids must be unique within an approval; repeated: {repeated}"))
    if problems:
        raise InputProblem(problems)
    return requirements


class CallbackIn(_Input):
    """Where to POST the decisions once every row is decided, and the secret that signs the POST."""

    url: HttpUrl = Field(description="http(s) URL that receives the signed decisions")
    secret: str = Field(
        min_length=16,
        max_length=256,
        description="signs each POST (HMAC-SHA256); never shown again or logged",
        json_schema_extra={"writeOnly": True},
    )


class ApprovalRequest(_Input):
    """``POST /v1/approvals``: one message with one row per requirement."""

    channel: str = Field(
        pattern=r"^([CGD][A-Z0-9]{2,30}|#[a-z0-9][a-z0-9._-]{0,79})$",
        description="channel id (C0123ABC) or #name the bot may post in",
    )
    thread_ts: str | None = Field(
        None, pattern=r"^[0-9]{1,12}\.[0-9]{1,9}$", description="post as a reply in this thread"
    )
    title: str = Field(min_length=1, max_length=TITLE_LIMIT)
    requested_by: str | None = Field(
        None,
        pattern=r"^[UW][A-Z0-9]{2,30}$",
        description="Slack user id of who asks: rows whose deciders say not_requester refuse them (four-eyes)",
    )
    reminders: Reminders | None = Field(
        None, description="remind the people who can still decide at intervals; escalate after a delay"
    )
    requirements: list[RequirementIn] = Field(min_length=1, max_length=ROWS_LIMIT)
    expires_at: AwareDatetime | None = Field(None, description="when undecided rows are settled by expiry_policy")
    expiry_policy: ExpiryPolicy = "reject"
    callback: CallbackIn | None = None
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=IDEMPOTENCY_KEY_LIMIT, description="the same key returns the same approval"
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="yours: returned with the approval and in the callback"
    )

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value <= dt.datetime.now(dt.UTC):
            raise ValueError("must be in the future")
        return value


class CancelRequest(_Input):
    """``POST /v1/approvals/{id}/cancel``: why, for the decision log."""

    reason: str | None = Field(None, max_length=DESCRIPTION_LIMIT)
