"""slack_hitl for Apache Airflow: a DAG run's pending HITL requests as rows of one Slack message.

The bridge (``AirflowBridge``) polls Airflow's REST API, opens one approval per DAG run pause and
records answers given in Airflow itself; the adapter (``AirflowAdapter``) writes the answers
back once every row is decided and follows the run into the thread.

Names are imported lazily: ``slack_hitl_airflow.in_airflow`` (the notifier and the plugin) runs
inside Airflow's own environment, where slack_hitl's core is not installed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AirflowAdapter": "adapter",
    "AirflowBridge": "bridge",
    "BridgeSettings": "bridge",
    "PollReport": "bridge",
    "AirflowClient": "client",
    "AirflowError": "errors",
    "AirflowAuthFailed": "errors",
    "AirflowConflict": "errors",
    "AirflowForbidden": "errors",
    "AirflowNotFound": "errors",
    "AirflowServerError": "errors",
    "AirflowUnavailable": "errors",
    "AirflowUnprocessable": "errors",
    "AnswerInvalid": "errors",
    "HITLRequest": "hitl_detail",
    "RequestKey": "hitl_detail",
    "Answer": "mapping",
    "MappingPolicy": "mapping",
    "answer_for": "mapping",
    "requirement_for": "mapping",
    "notify_app": "notify",
    "notify_route": "notify",
    "UserMap": "users",
    "check_row_decision": "validation",
    "validate_answer": "validation",
}

__all__ = [
    "AirflowAdapter",
    "AirflowAuthFailed",
    "AirflowBridge",
    "AirflowClient",
    "AirflowConflict",
    "AirflowError",
    "AirflowForbidden",
    "AirflowNotFound",
    "AirflowServerError",
    "AirflowUnavailable",
    "AirflowUnprocessable",
    "Answer",
    "AnswerInvalid",
    "BridgeSettings",
    "HITLRequest",
    "MappingPolicy",
    "PollReport",
    "RequestKey",
    "UserMap",
    "answer_for",
    "check_row_decision",
    "notify_app",
    "notify_route",
    "requirement_for",
    "validate_answer",
]

if TYPE_CHECKING:
    from slack_hitl_airflow.adapter import AirflowAdapter
    from slack_hitl_airflow.bridge import AirflowBridge, BridgeSettings, PollReport
    from slack_hitl_airflow.client import AirflowClient
    from slack_hitl_airflow.errors import (
        AirflowAuthFailed,
        AirflowConflict,
        AirflowError,
        AirflowForbidden,
        AirflowNotFound,
        AirflowServerError,
        AirflowUnavailable,
        AirflowUnprocessable,
        AnswerInvalid,
    )
    from slack_hitl_airflow.hitl_detail import HITLRequest, RequestKey
    from slack_hitl_airflow.mapping import Answer, MappingPolicy, answer_for, requirement_for
    from slack_hitl_airflow.notify import notify_app, notify_route
    from slack_hitl_airflow.users import UserMap
    from slack_hitl_airflow.validation import check_row_decision, validate_answer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slack_hitl_airflow' has no attribute {name!r}")
    return getattr(import_module(f"slack_hitl_airflow.{module}"), name)
