"""What every suite shares: the people who decide, and one row of each kind.

The ids have Slack's shape: the Slack tests click as these people (``hitl.user("U0ALICE",
"alice")``), and the renderer shows such ids as mentions.
"""

from __future__ import annotations

from slack_hitl import Actor, InputField, Question, Requirement

ALICE = Actor(id="U0ALICE", name="alice")
BOB = Actor(id="U0BOB", name="bob")


def four_kinds() -> list[Requirement]:
    """One row of each kind: a confirmation, a form (one field required, one not), a question, a tool's result."""
    return [
        Requirement(
            id="deploy",
            kind="confirmation",
            title="deploy_service",
            arguments={"service": "billing", "env": "prod"},
        ),
        Requirement(
            id="size",
            kind="user_input",
            title="choose the size",
            fields=(
                InputField(name="replicas", type="integer", min_value=1, max_value=10),
                InputField(name="region", type="single_choice", choices=("eu-west-1", "us-east-1"), required=False),
            ),
        ),
        Requirement(
            id="tone",
            kind="user_feedback",
            title="ask_user",
            questions=(
                Question(name="tone", question="Which tone for the release notes?", options=("formal", "casual")),
            ),
        ),
        Requirement(id="query", kind="external_execution", title="run_sql", result_format="json"),
    ]
