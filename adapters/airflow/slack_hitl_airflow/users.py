"""Which Slack users may answer a request that Airflow assigns to some of its users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from slack_hitl import Deciders
from slack_hitl_airflow.hitl_detail import HITLUser

AIRFLOW_ASSIGNEES = "the assignees in Airflow"
"""The decider of a row whose Airflow assignees have no Slack user: no Slack user has this id, and
the message reads "Only the assignees in Airflow may decide"."""


@dataclass(frozen=True)
class UserMap:
    """Airflow user (id or name) to Slack user id.

    ``unmapped`` says what happens when a request is assigned only to Airflow users with no
    Slack user here: ``"nobody"`` (the row can only be answered in Airflow; the safe default)
    or ``"anyone"`` (anyone who sees the message).
    """

    slack_ids: Mapping[str, str] = field(default_factory=dict)
    unmapped: Literal["nobody", "anyone"] = "nobody"

    def slack_id(self, airflow_user: str | None) -> str | None:
        """The Slack user id of one Airflow user (by name or id), if this map has one."""
        return self.slack_ids.get(airflow_user) if airflow_user else None

    def slack_users(self, assigned: Iterable[HITLUser]) -> tuple[str, ...]:
        found = (self.slack_ids.get(user.id) or self.slack_ids.get(user.name) for user in assigned)
        return tuple(dict.fromkeys(user for user in found if user))

    def deciders(self, assigned: Iterable[HITLUser]) -> Deciders:
        assigned = tuple(assigned)
        if not assigned:
            return Deciders()
        slack_users = self.slack_users(assigned)
        if slack_users:
            return Deciders(user_ids=slack_users)
        return Deciders() if self.unmapped == "anyone" else Deciders(user_ids=(AIRFLOW_ASSIGNEES,))
