"""An ``Engine`` that refuses, when a row is decided, values its Airflow request would refuse later.

A modal's typed fields carry what Slack and the core can check (type, bounds, length, choices);
a param's JSON schema can ask for more (a pattern, a format, an object's shape). Checked only at
resume time, such a value would fail the resume with the row already decided. Checked here, it is
refused in the modal, next to its field, and the person can correct it.

This subclass exists until the core lets an adapter check decisions itself (see the adapter's
README); build the app with it instead of ``Engine``.
"""

from __future__ import annotations

from slack_hitl import Actor, Decision, DecisionInput, Engine, Requirement
from slack_hitl_airflow.validation import check_row_decision


class AirflowEngine(Engine):
    """``slack_hitl.Engine`` plus the JSON-schema check of Airflow rows on every decision."""

    async def check_decision(
        self, approval_id: str, row_id: str, submitted: DecisionInput, actor: Actor
    ) -> tuple[Requirement, Decision]:
        requirement, decision = await super().check_decision(approval_id, row_id, submitted, actor)
        check_row_decision(requirement, decision)
        return requirement, decision
