"""What Airflow's REST API returns about HITL requests, task instances and DAG runs.

Only the fields the adapter reads; anything else Airflow sends is ignored, so newer Airflow
versions that add fields keep working.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

APPROVE, REJECT = "Approve", "Reject"
"""The options of ``ApprovalOperator``, and of common-ai's LLM and tool approvals."""

WAITING_STATES = frozenset({"deferred", "awaiting_input"})
"""A task instance in these states waits for its HITL answer (``awaiting_input`` from Airflow 3.3)."""

FINISHED_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
FINISHED_RUN_STATES = frozenset({"success", "failed"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class HITLUser(_Model):
    id: str
    name: str


class RequestKey(_Model):
    """Where a HITL request lives in the REST API: one task instance (``map_index`` -1 when not mapped)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


class TaskInstance(_Model):
    id: str
    dag_id: str
    run_id: str = Field(alias="dag_run_id")
    task_id: str
    map_index: int = -1
    state: str | None = None
    try_number: int = 0
    operator: str | None = None
    rendered_map_index: str | None = None
    task_display_name: str | None = None
    dag_display_name: str | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None

    @property
    def key(self) -> RequestKey:
        return RequestKey(dag_id=self.dag_id, run_id=self.run_id, task_id=self.task_id, map_index=self.map_index)

    @property
    def label(self) -> str:
        name = self.task_display_name or self.task_id
        if self.map_index < 0:
            return name
        return f"{name}[{self.rendered_map_index or self.map_index}]"


class HITLParam(_Model):
    """One param of a request: its current value (the default), description and JSON schema."""

    value: Any = None
    description: str | None = None
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")


class HITLRequest(_Model):
    """One HITL request (Airflow's ``HITLDetail``): what is asked, and the answer once there is one."""

    task_instance: TaskInstance
    options: tuple[str, ...]
    subject: str
    body: str | None = None
    defaults: tuple[str, ...] | None = None
    multiple: bool = False
    params: dict[str, HITLParam] = Field(default_factory=dict)
    assigned_users: tuple[HITLUser, ...] = ()
    created_at: dt.datetime
    responded_by_user: HITLUser | None = None
    responded_at: dt.datetime | None = None
    chosen_options: tuple[str, ...] | None = None
    params_input: dict[str, Any] = Field(default_factory=dict)
    response_received: bool = False
    observed_at: dt.datetime | None = None
    """Airflow's clock when this was read (its answer's ``Date``): the task was in this state by then."""

    @property
    def key(self) -> RequestKey:
        return self.task_instance.key

    @property
    def request_id(self) -> str:
        """Unique per try: a retry or a clear of the task makes a new request with a new id."""
        return f"{self.task_instance.id}:{self.task_instance.try_number}"

    @property
    def operator(self) -> str:
        return self.task_instance.operator or "HITLOperator"

    @property
    def waiting(self) -> bool:
        return not self.response_received and self.task_instance.state in WAITING_STATES

    @property
    def approval_shaped(self) -> bool:
        """Approve / Reject: an ``ApprovalOperator``, or one of common-ai's approvals."""
        return tuple(self.options) == (APPROVE, REJECT)

    def age(self, now: dt.datetime | None = None) -> float:
        return ((now or dt.datetime.now(dt.UTC)) - self.created_at).total_seconds()


class HITLResponse(_Model):
    """Airflow's answer to a PATCH: who it recorded as the responder, and what."""

    responded_by: HITLUser
    responded_at: dt.datetime
    chosen_options: tuple[str, ...]
    params_input: dict[str, Any] = Field(default_factory=dict)


class DagRun(_Model):
    dag_id: str
    run_id: str = Field(alias="dag_run_id")
    state: str
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    last_scheduling_decision: dt.datetime | None = None
    """When Airflow's scheduler last started looking at the run (it does so about once per loop)."""
    triggering_user_name: str | None = None
    """The Airflow user who triggered the run (none for a scheduled run): the approval's requester."""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_RUN_STATES


class EventLog(_Model):
    """One entry of Airflow's audit log (``/api/v2/eventLogs``)."""

    event: str
    when: dt.datetime
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    extra: str | None = None


class XComEntry(_Model):
    """One XCom as Airflow lists it: where it is and when it was written (its value is read apart)."""

    key: str
    timestamp: dt.datetime
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


class Page(_Model):
    """One page of a listing and the total Airflow counted for the whole listing."""

    items: tuple[Any, ...]
    total_entries: int
