"""Check that an approval's rows can be decided in Slack before anything is stored or posted.

``SlackPublisher.check_approval`` runs it for every approval the engine opens (the HTTP API,
the Python API, the adapters and nested pauses alike).

The renderer fits any approval into messages by construction (it cuts texts and splits rows
into parts), but a row's modal has a hard limit it cannot cut its way out of: 100 blocks, one
input per field or question. A request with a row whose form would fail when someone clicks
is refused up front, naming the row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from slack_sdk.errors import SlackObjectFormationError

from slack_hitl.approvals import Approval, Row
from slack_hitl.errors import InputProblem, Location
from slack_hitl.requirements import Requirement
from slack_hitl.slack.limits import SlackLimitError, validate_view
from slack_hitl.slack.modals import build_modal

_PREVIEW_CHANNEL = "C0PREVIEW"
_PREVIEW_TS = "1700000000.000100"


def _modal_choices(requirement: Requirement) -> Iterable[str | None]:
    """The presets a row's modal can be opened with: none, and each choice that asks for more."""
    yield None
    if requirement.confirmation is None:
        return
    for choice in requirement.confirmation.choices:
        if requirement.confirmation.needs_reason(choice) or (requirement.fields and not choice.rejects):
            yield choice.value


def check_fits_slack(title: str, requirements: Sequence[Requirement]) -> None:
    """Raise ``InputProblem`` (located at the row) unless every row's modal fits Slack."""
    preview = Approval(
        id="0" * 32,
        title=title,
        status="pending",
        adapter="preview",
        rows=tuple(Row(requirement=requirement, position=i) for i, requirement in enumerate(requirements)),
        channel=_PREVIEW_CHANNEL,
        message_ts=_PREVIEW_TS,
        created_at=dt.datetime.now(dt.UTC),
    )
    problems: list[tuple[Location, str]] = []
    for index, row in enumerate(preview.rows):
        for choice in _modal_choices(row.requirement):
            try:
                validate_view(
                    build_modal(preview, row, choice=choice, channel=_PREVIEW_CHANNEL, message_ts=_PREVIEW_TS)
                )
            except (SlackLimitError, SlackObjectFormationError) as error:
                problems.append((("requirements", index), f"this row's form does not fit a Slack modal: {error}"))
                break
    if problems:
        raise InputProblem(problems)
