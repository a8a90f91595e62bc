"""An ``Engine`` that refuses, when a row is decided, values its Airflow request would refuse later,
and records answers given in Airflow itself on rows restricted to their assignees.

A modal's typed fields carry what Slack and the core can check (type, bounds, length, choices);
a param's JSON schema can ask for more (a pattern, a format, an object's shape). Checked only at
resume time, such a value would fail the resume with the row already decided. Checked here, it is
refused in the modal, next to its field, and the person can correct it.

An answer given in Airflow (the bridge decides its row as an ``airflow:...`` actor, an id no
Slack user has) was authorized by Airflow already: it is recorded on the row whoever the row's
Slack deciders are, and as it is, without the schema check.

This subclass exists until the core lets an adapter check decisions and lets the system record
decisions on restricted rows (see the adapter's README); build the app with it instead of ``Engine``.
"""

from __future__ import annotations

from slack_hitl import Actor, Decision, DecisionInput, Engine, Requirement, validate_decision
from slack_hitl_airflow.bridge import is_airflow_actor
from slack_hitl_airflow.mapping import REQUEST_METADATA
from slack_hitl_airflow.validation import check_row_decision


class AirflowEngine(Engine):
    """``slack_hitl.Engine`` plus the JSON-schema check of Airflow rows, and answers from Airflow recorded."""

    async def check_decision(
        self, approval_id: str, row_id: str, submitted: DecisionInput, actor: Actor
    ) -> tuple[Requirement, Decision]:
        if is_airflow_actor(actor):
            requirement = await self.store.requirement(approval_id, row_id)
            if requirement is not None and REQUEST_METADATA in requirement.metadata:
                return requirement, validate_decision(requirement, submitted)
        requirement, decision = await super().check_decision(approval_id, row_id, submitted, actor)
        check_row_decision(requirement, decision)
        return requirement, decision
