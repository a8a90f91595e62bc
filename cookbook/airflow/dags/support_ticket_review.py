"""Support-ticket review with a decision trace (the decision-tracing blog's DAG, reviewed in Slack).

An AI agent drafts an answer to a support ticket; a person chooses one of three options in
Slack and must say why. The reason and the Slack user are written into the task's params, so
Airflow keeps them with the decision; if nobody answers within 4 hours, Airflow escalates.
When the run ends, ``gather_decision_traces`` turns the decision into Markdown for the agent.

The agent is a stand-in here (no model needed); replace ``draft_response`` with yours.
Slack: run the slack_hitl Airflow bridge (see adapters/airflow/README.md); the notifier makes
the request appear in Slack at once (optional: without it the bridge's next poll finds it).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, task

APPROVE, MANUAL, ESCALATE = "Approve AI Response", "Respond Manually", "Escalate to CRE"


def _notifiers() -> list:
    if not os.environ.get("SLACK_HITL_NOTIFY_URL"):
        return []
    from slack_hitl_airflow.in_airflow.notifier import SlackHitlNotifier

    return [SlackHitlNotifier()]  # reads SLACK_HITL_NOTIFY_URL and SLACK_HITL_NOTIFY_TOKEN


with DAG(
    dag_id="support_ticket_review",
    schedule=None,
    catchup=False,
    tags=["slack_hitl", "decision-trace"],
) as dag:
    # No DAG-level params: Airflow 3.1 hands them to every HITL task as params to fill in.

    @task
    def fetch_pending_ticket(dag_run=None) -> dict:
        return {
            "id": (dag_run.conf or {}).get("ticket_id", "T-1042"),
            "customer": "John",
            "subject": "Dark mode?",
            "text": "Hi, could you add a dark mode to the app? My eyes would thank you.",
        }

    @task
    def draft_response(ticket: dict) -> dict:
        answer = f"Hi {ticket['customer']}, thanks for the idea! We have passed it on to our product team."
        return {"summary": "Feature request: dark mode. Drafted a polite thank-you.", "response": answer}

    ticket = fetch_pending_ticket()
    draft = draft_response(ticket)

    review = HITLOperator(
        task_id="review_ai_response",
        subject="🎫 AI support response ready for review",
        body=(
            "**Ticket {{ ti.xcom_pull(task_ids='fetch_pending_ticket')['id'] }}** from "
            "{{ ti.xcom_pull(task_ids='fetch_pending_ticket')['customer'] }}: "
            "_{{ ti.xcom_pull(task_ids='fetch_pending_ticket')['text'] }}_\n\n"
            "**AI summary:** {{ ti.xcom_pull(task_ids='draft_response')['summary'] }}\n\n"
            "**Drafted answer:**\n> {{ ti.xcom_pull(task_ids='draft_response')['response'] }}"
        ),
        options=[APPROVE, MANUAL, ESCALATE],
        multiple=False,
        defaults=[ESCALATE],
        params={
            # Filled by slack_hitl: the reason given in Slack (required: it may not be empty) and who gave it.
            "reason": Param("No answer within 4 hours: escalated.", type="string", minLength=1),
            "reviewer": Param("", type="string"),
        },
        response_timeout=timedelta(hours=4),
        notifiers=_notifiers(),
    )

    @task
    def act_on_review(decision: dict) -> str:
        chosen = decision["chosen_options"][0]
        reason = decision["params_input"].get("reason", "")
        print(f"{chosen}: {reason}")
        return chosen

    gather = TriggerDagRunOperator(
        task_id="gather_decision_traces",
        trigger_dag_id="gather_decision_traces",
        conf={"dag_id": "{{ dag.dag_id }}", "run_id": "{{ run_id }}"},
    )

    [ticket, draft] >> review
    act_on_review(review.output) >> gather
