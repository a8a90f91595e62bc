"""Airflow HITL payloads shaped like Airflow 3.1.8's REST API answers (captured from a live one)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

AIRFLOW = "http://airflow.test"
RUN_ID = "manual__2026-11-21T13:00:08.252717+00:00"
_ids = itertools.count(1)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ago(seconds: float) -> str:
    return iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds))


def task_instance(
    task_id: str,
    *,
    dag_id: str = "release",
    run_id: str = RUN_ID,
    map_index: int = -1,
    state: str = "deferred",
    operator: str = "HITLOperator",
    try_number: int = 1,
    ti_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": ti_id or f"01a1fe31-0000-7000-8000-{next(_ids):012d}",
        "task_id": task_id,
        "dag_id": dag_id,
        "dag_run_id": run_id,
        "map_index": map_index,
        "state": state,
        "try_number": try_number,
        "max_tries": 0,
        "operator": operator,
        "operator_name": operator,
        "rendered_map_index": None if map_index < 0 else str(map_index),
        "task_display_name": task_id,
        "dag_display_name": dag_id,
        "start_date": ago(30),
        "end_date": None,
        "pool": "default_pool",
    }


def param(value: Any, schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    return {"value": value, "description": description, "schema": schema}


def hitl_request(
    task_id: str = "review",
    *,
    options: list[str] | None = None,
    operator: str = "HITLOperator",
    params: dict[str, Any] | None = None,
    defaults: list[str] | None = None,
    multiple: bool = False,
    subject: str | None = None,
    body: str | None = "Please **check** it.",
    assigned_users: list[dict[str, str]] | None = None,
    created_seconds_ago: float = 60.0,
    answered: dict[str, Any] | None = None,
    **ti: Any,
) -> dict[str, Any]:
    """One ``HITLDetail``; ``answered`` = ``{"by": {...} | None, "chosen_options": [...], "params_input": {...}}``."""
    request = {
        "task_instance": task_instance(task_id, operator=operator, **ti),
        "options": options or ["yes", "no"],
        "subject": subject or f"Decide {task_id}",
        "body": body,
        "defaults": defaults,
        "multiple": multiple,
        "params": params or {},
        "assigned_users": assigned_users or [],
        "created_at": ago(created_seconds_ago),
        "responded_by_user": None,
        "responded_at": None,
        "chosen_options": None,
        "params_input": {},
        "response_received": False,
    }
    if answered is not None:
        request.update(
            responded_by_user=answered.get("by"),
            responded_at=ago(1),
            chosen_options=answered["chosen_options"],
            params_input=answered.get("params_input", {}),
            response_received=True,
        )
    return request


def approval_request(**kwargs: Any) -> dict[str, Any]:
    return hitl_request(
        kwargs.pop("task_id", "approve"), options=["Approve", "Reject"], operator="ApprovalOperator", **kwargs
    )


def entry_request(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("params", {"replicas": param(3, {"type": "integer", "minimum": 1, "maximum": 10})})
    return hitl_request(
        kwargs.pop("task_id", "details"), options=["OK"], defaults=["OK"], operator="HITLEntryOperator", **kwargs
    )


def branch_request(**kwargs: Any) -> dict[str, Any]:
    return hitl_request(
        kwargs.pop("task_id", "region"), options=["Europe", "America"], operator="HITLBranchOperator", **kwargs
    )


def page(items: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"hitl_details": items, "total_entries": len(items) if total is None else total}


def path_of(request: dict[str, Any]) -> str:
    from urllib.parse import quote

    ti = request["task_instance"]
    return (
        f"/api/v2/dags/{ti['dag_id']}/dagRuns/{quote(ti['dag_run_id'], safe='')}"
        f"/taskInstances/{ti['task_id']}/{ti['map_index']}/hitlDetails"
    )


def llm_approval_request(output: str, *, allow_modifications: bool = True, **kwargs: Any) -> dict[str, Any]:
    """What common-ai 1.0.0's ``LLMApprovalMixin.defer_for_approval`` writes (default subject and body)."""
    task_id = kwargs.pop("task_id", "draft")
    params = {}
    if allow_modifications:
        params = {
            "output": param(output, {"type": "string"}, "Edit the output before approving (optional)."),
        }
    return hitl_request(
        task_id,
        options=["Approve", "Reject"],
        operator="LLMOperator",
        subject=f"Review output for task `{task_id}`",
        body=f"```\nPrompt: Write a release note.\n\n{output}\n```",
        params=params,
        **kwargs,
    )


def tool_approval_request(calls: list[tuple[str, dict[str, Any]]], *, pause: int = 1, **kwargs: Any) -> dict[str, Any]:
    """What common-ai 1.0.0's ``AgentOperator._ask_for_tool_approval`` writes for ``calls``."""
    import json

    task_id = kwargs.pop("task_id", "agent")
    names = ", ".join(name for name, _ in calls)
    pending = "\n\n".join(f"**{name}**\n\n```json\n{json.dumps(args, indent=2)}\n```" for name, args in calls)
    return hitl_request(
        task_id,
        options=["Approve", "Reject"],
        operator="AgentOperator",
        subject=f"Approve {names} for task `{task_id}` (request {pause})",
        body=f"The agent wants to run:\n\n{pending}",
        params={
            "reason": param("", {"type": ["string", "null"]}, "Sent to the agent when you reject the call (optional)."),
            "request": param(
                pause,
                {"type": "integer", "const": pause},
                "Which approval request of this run the answer is for.",
            ),
        },
        **kwargs,
    )
