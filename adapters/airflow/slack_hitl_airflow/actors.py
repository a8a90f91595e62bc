"""Who decided a row outside Slack: someone in Airflow's own UI, Airflow's timeout, or nobody (withdrawn).

These are system actors (a row's Slack deciders do not restrict them) whose ids no Slack user
id can look like, so a row they decided is never taken for a Slack decision.
"""

from __future__ import annotations

from slack_hitl import Actor
from slack_hitl_airflow.hitl_detail import HITLRequest

AIRFLOW_ACTOR_PREFIX = "airflow:"
WITHDRAWN_ID = f"{AIRFLOW_ACTOR_PREFIX}withdrawn"


def is_airflow_actor(actor_id: str | None) -> bool:
    """Whether a row was decided by the bridge for Airflow (answered there, timed out, withdrawn)."""
    return (actor_id or "").startswith(AIRFLOW_ACTOR_PREFIX)


def airflow_actor(request: HITLRequest) -> Actor:
    """Who answered a request in Airflow: a user, or the timeout that applied the defaults."""
    user = request.responded_by_user
    if user is None:
        return Actor(id=f"{AIRFLOW_ACTOR_PREFIX}timeout", name="Airflow (timed out, defaults applied)", system=True)
    return Actor(id=f"{AIRFLOW_ACTOR_PREFIX}{user.id}", name=f"{user.name} (in Airflow)", system=True)


REVIEW_CHAT = Actor(id=f"{AIRFLOW_ACTOR_PREFIX}review-chat", name="someone in Airflow's review chat", system=True)
"""Who answered a review iteration in the provider's own chat UI (the plugin does not record who)."""


def withdrawn_actor(state: str | None) -> Actor:
    return Actor(id=WITHDRAWN_ID, name=f"Airflow (task {state or 'gone'}, not answered)", system=True)


def review_withdrawn_actor(status: str) -> Actor:
    return Actor(id=WITHDRAWN_ID, name=f"Airflow (review session {status}, not answered)", system=True)
