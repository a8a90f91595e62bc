"""The pauses the demo opens: a release agent's pause with rows of all four kinds, a large one,
and a purchase in two steps whose second is a quorum.

Pure values: each sample is a title plus requirements, built fresh so dates are relative to today.
The release sample asks for every input a slack_hitl modal can show (text, multi-line text,
whole and decimal numbers, a dropdown, a multi-select, radio buttons, checkboxes, a date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from slack_hitl.requirements import Choice, Confirmation, Deciders, InputField, Question, Requirement

SampleKind = Literal["release", "large", "purchase"]
SAMPLE_KINDS: tuple[SampleKind, ...] = ("release", "large", "purchase")
LARGE_ROWS = 57

REGIONS = ("eu-west-1", "eu-central-1", "eu-north-1", "us-east-1", "us-east-2", "us-west-2", "ap-southeast-1")
STRATEGIES = ("Rolling update", "Blue/green", "Canary (5% first)")
TEAMS = (
    "#billing-oncall",
    "#payments",
    "#support-leads",
    "#sre",
    "#finance-ops",
    "#data-platform",
    "#security",
    "#mobile",
    "#web",
    "#customer-success",
    "#sales-eng",
    "#exec-updates",
)
CHECKS = ("Health endpoint", "Synthetic checkout", "Error budget")
TONES = ("Short and plain", "Friendly", "Detailed, for engineers")
HIGHLIGHTS = ("The invoices API", "Faster CSV exports", "Fixed rounding in totals")


@dataclass(frozen=True)
class Sample:
    """One pause of the demo agent: what the approval is called and the rows it needs."""

    kind: SampleKind
    title: str
    requirements: tuple[Requirement, ...]


def build_sample(kind: SampleKind, *, number: int = 1, announcer: str, today: dt.date | None = None) -> Sample:
    """The ``number``-th sample of ``kind``; ``announcer`` is the only person who may approve the announcement."""
    if kind == "release":
        return release_sample(number=number, announcer=announcer, today=today)
    if kind == "large":
        return large_sample(number=number)
    if kind == "purchase":
        return purchase_sample(number=number)
    raise ValueError(f"unknown sample {kind!r}; choose one of {', '.join(SAMPLE_KINDS)}")


def release_sample(*, number: int = 1, announcer: str, today: dt.date | None = None) -> Sample:
    """A release agent paused before shipping billing-api: five rows of the four kinds."""
    version = f"2.{3 + number}"
    window = (today or dt.date.today()) + dt.timedelta(days=1)
    rows = (
        Requirement(
            id="migrate",
            kind="confirmation",
            title="Run database migration 0042_add_invoices",
            description=(
                "Adds the `invoices` table and backfills **1.2M rows**. *Irreversible* without a restore; "
                "see the [migration runbook](https://runbooks.example.com/billing/migrations)."
            ),
            arguments={"database": "billing-prod-eu", "statements": 3, "estimated lock": "4 s"},
            confirmation=Confirmation(reason="required_on_reject"),
        ),
        Requirement(
            id="announce",
            kind="confirmation",
            title="Post the release note to #releases",
            description="The note reaches about 1,400 people.",
            arguments={"channel": "#releases"},
            deciders=Deciders(user_ids=(announcer,)),
        ),
        Requirement(
            id="deploy",
            kind="user_input",
            title=f"Deployment settings for billing-api v{version}",
            description="How the agent rolls the new version out.",
            fields=_deploy_fields(window),
        ),
        Requirement(
            id="notes",
            kind="user_feedback",
            title="How should the release notes read?",
            questions=(
                Question(
                    name="tone", question="Which tone for the release notes?", options=TONES, allow_free_text=True
                ),
                Question(name="highlights", question="What should they highlight?", options=HIGHLIGHTS, multiple=True),
            ),
        ),
        Requirement(
            id="smoke",
            kind="external_execution",
            title="Run the smoke tests on staging",
            description='Run the command below and paste its JSON report, e.g. `{"passed": 42, "failed": 0}`.',
            arguments={"command": "make smoke ENV=staging"},
            result_format="json",
        ),
    )
    return Sample("release", f"Release agent: ship billing-api v{version}", rows)


def purchase_sample(*, number: int = 1) -> Sample:
    """Seed 004's multi-step approval: a manager approves (step 1), then two of three finance people
    (step 2, a quorum row), then the agent places the order."""
    laptops = 80 + 8 * number
    rows = (
        Requirement(
            id="manager",
            kind="confirmation",
            title=f"Manager: buy {laptops} laptops for the new hires",
            description=f"{laptops} ThinkPad T14, quoted at 1,180 EUR each.",
            arguments={"supplier": "Lenovo via CDW", "total": f"{laptops * 1180:,} EUR"},
            step=1,
        ),
        Requirement(
            id="finance",
            kind="confirmation",
            title="Finance: release the budget",
            description="Two people of finance must approve; one rejection stops the purchase.",
            arguments={"cost centre": "4410 Engineering"},
            step=2,
            confirmation=Confirmation(approvals_needed=2),
        ),
    )
    return Sample("purchase", f"Purchase agent: order {laptops} laptops", rows)


def _deploy_fields(window: dt.date) -> tuple[InputField, ...]:
    return (
        InputField(
            name="replicas",
            type="integer",
            label="Replicas",
            description="Pods after the rollout.",
            min_value=1,
            max_value=20,
            default=3,
        ),
        InputField(name="cpu", type="number", label="CPU per pod (cores)", min_value=0.25, max_value=8, default=1.5),
        InputField(name="region", type="single_choice", label="Region", choices=REGIONS, default="eu-west-1"),
        InputField(name="strategy", type="single_choice", label="Rollout strategy", choices=STRATEGIES),
        InputField(name="notify", type="multiple_choice", label="Channels to notify", choices=TEAMS, required=False),
        InputField(name="checks", type="multiple_choice", label="Checks after the rollout", choices=CHECKS),
        InputField(name="window", type="date", label="Maintenance window", default=window.isoformat()),
        InputField(
            name="ticket", type="text", label="Change ticket", description="For example CHG-1234.", max_length=20
        ),
        InputField(name="handover", type="long_text", label="Notes for the on-call engineer", required=False),
        InputField(name="dry_run", type="boolean", label="Dry run first", default=True),
    )


def large_sample(*, number: int = 1, rows: int = LARGE_ROWS) -> Sample:
    """A clean-up agent paused on ``rows`` stale branches: more rows than one Slack message holds."""
    requirements = tuple(_branch_row(index) for index in range(rows))
    return Sample("large", f"Clean-up agent: {rows} stale branches in monorepo (batch {number})", requirements)


DELETE = Choice(value="delete", label="Delete")
KEEP = Choice(value="keep", label="Keep", rejects=True)
_AUTHORS = ("amara", "jonas", "li.wei", "priya", "tomás", "yuki")
_AREAS = ("checkout", "search", "invoices", "auth", "exports", "mobile-push", "reports")


def _branch_row(index: int) -> Requirement:
    branch = f"feature/{_AREAS[index % len(_AREAS)]}-{100 + index}"
    arguments = {"last commit": f"{30 + index * 3} days ago", "author": _AUTHORS[index % len(_AUTHORS)]}
    if index % 19 == 9:
        return Requirement(
            id=f"b{index}",
            kind="user_input",
            title=f"Rename {branch} before archiving",
            arguments=arguments,
            fields=(InputField(name="new_name", label="New branch name", default=f"archive/{branch}"),),
        )
    if index % 19 == 14:
        return Requirement(
            id=f"b{index}",
            kind="user_feedback",
            title=f"{branch} has an open pull request",
            arguments=arguments,
            questions=(Question(name="what", question="What should happen to it?", options=("Close it", "Keep it")),),
        )
    return Requirement(
        id=f"b{index}",
        kind="confirmation",
        title=f"Delete branch {branch}",
        arguments=arguments,
        confirmation=Confirmation(choices=(DELETE, KEEP)),
    )
