"""The end-to-end DAG: four kinds of HITL task that wait together, then tasks that read the answers.

Runs inside the real Airflow started by tests/airflow/test_airflow_e2e.py.
"""

from __future__ import annotations

import os

from airflow.providers.standard.operators.hitl import (
    ApprovalOperator,
    HITLBranchOperator,
    HITLEntryOperator,
    HITLOperator,
)
from airflow.sdk import DAG, Param, task

NOTIFY_URL = os.environ.get("SLACK_HITL_NOTIFY_URL")


def _notifiers() -> list:
    if not NOTIFY_URL:
        return []
    from slack_hitl_airflow.in_airflow.notifier import SlackHitlNotifier

    return [SlackHitlNotifier(url=NOTIFY_URL, token=os.environ.get("SLACK_HITL_NOTIFY_TOKEN"))]


with DAG(dag_id="slack_hitl_e2e", schedule=None, catchup=False, tags=["slack_hitl"]) as dag:
    approve_release = ApprovalOperator(
        task_id="approve_release",
        subject="Release {{ dag_run.conf.get('version', 'v2') }} to production?",
        body="**Changes**\n- faster search\n- [changelog](https://example.com/changelog)",
        params={"reviewer": Param("", type="string"), "reason": Param("", type="string")},
        notifiers=_notifiers(),
    )
    release_details = HITLEntryOperator(
        task_id="release_details",
        subject="Release details",
        body="How should it roll out?",
        params={
            "replicas": Param(3, type="integer", minimum=1, maximum=10, description="How many replicas"),
            "window": Param("night", type="string", enum=["night", "day"]),
            "notes": Param("", type=["string", "null"], maxLength=200),
            "ticket": Param("OPS-1", type="string", pattern="^[A-Z]+-[0-9]+$", description="Change ticket"),
        },
        notifiers=_notifiers(),
    )
    choose_region = HITLBranchOperator(
        task_id="choose_region",
        subject="Which region goes first?",
        options=["Europe", "America"],
        options_mapping={"Europe": "deploy_eu", "America": "deploy_us"},
        notifiers=_notifiers(),
    )
    review_item = HITLOperator.partial(
        task_id="review_item",
        options=["keep", "drop"],
        defaults=["keep"],
        notifiers=_notifiers(),
    ).expand(subject=["Item alpha", "Item beta", "Item gamma"])

    @task
    def deploy_eu() -> str:
        return "eu"

    @task
    def deploy_us() -> str:
        return "us"

    @task(trigger_rule="none_failed")
    def report(ti=None) -> dict:
        approval = ti.xcom_pull(task_ids="approve_release")
        details = ti.xcom_pull(task_ids="release_details")
        items = ti.xcom_pull(task_ids="review_item")
        return {
            "approved": approval["chosen_options"],
            "approval_params": approval["params_input"],
            "details": details["params_input"],
            "items": [item["chosen_options"] for item in items],
        }

    choose_region >> [deploy_eu(), deploy_us()]
    [approve_release, release_details, review_item] >> report()
