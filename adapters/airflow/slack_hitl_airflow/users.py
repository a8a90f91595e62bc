"""Which Slack users may answer a request that Airflow assigns to some of its users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from slack_hitl import Deciders
from slack_hitl_airflow.hitl_detail import HITLUser

AIRFLOW_GROUP = "slack-hitl-airflow:system"
"""A decider group no Slack user belongs to; it lets the bridge record answers given in Airflow on restricted rows."""


@dataclass(frozen=True)
class UserMap:
    """Airflow user (id or name) to Slack user id.

    ``unmapped`` says what happens when a request is assigned only to Airflow users with no
    Slack user here: ``"nobody"`` (the row can only be answered in Airflow; the safe default)
    or ``"anyone"`` (anyone who sees the message).
    """

    slack_ids: Mapping[str, str] = field(default_factory=dict)
    unmapped: Literal["nobody", "anyone"] = "nobody"

    def slack_users(self, assigned: Iterable[HITLUser]) -> tuple[str, ...]:
        found = (self.slack_ids.get(user.id) or self.slack_ids.get(user.name) for user in assigned)
        return tuple(dict.fromkeys(user for user in found if user))

    def deciders(self, assigned: Iterable[HITLUser]) -> Deciders:
        assigned = tuple(assigned)
        if not assigned:
            return Deciders()
        slack_users = self.slack_users(assigned)
        if not slack_users and self.unmapped == "anyone":
            return Deciders()
        return Deciders(user_ids=slack_users, group_ids=(AIRFLOW_GROUP,))
