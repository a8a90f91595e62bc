"""Gather the decision trace of a DAG run into Markdown, for an agent to read next time.

Reads every HITL request of the run from Airflow's REST API (``hitlDetails``): what was asked,
what was chosen, the params (the reason and the Slack user slack_hitl wrote into them), who
answered and when. Writes one Markdown file per run into ``$SLACK_HITL_TRACES_DIR`` (default:
``decision_traces`` in AIRFLOW_HOME) and returns the Markdown.

Needs an Airflow connection ``airflow_api`` (host: the API server's URL, login/password: an
Airflow user allowed to read the DAG), e.g. ``airflow connections add airflow_api --conn-type http
--conn-host http://localhost:8080 --conn-login reader --conn-password ...``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import httpx
from airflow.sdk import DAG, Connection, Param, task


def _api(connection_id: str) -> httpx.Client:
    connection = Connection.get(connection_id)
    base = connection.host if "://" in connection.host else f"http://{connection.host}"
    if connection.port:
        base = f"{base}:{connection.port}"
    token = httpx.post(f"{base}/auth/token", json={"username": connection.login, "password": connection.password})
    token.raise_for_status()
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=30)


def _markdown(dag_id: str, run_id: str, decisions: list[dict]) -> str:
    lines = [f"# Decision trace: {dag_id}, run {run_id}", ""]
    for decision in decisions:
        ti = decision["task_instance"]
        label = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        params = decision.get("params_input") or {}
        who = (decision.get("responded_by_user") or {}).get("name") or "Airflow (timeout: defaults applied)"
        lines += [
            f"## {decision['subject']}",
            "",
            f"- task: `{label}`",
            f"- options: {', '.join(decision['options'])}",
            f"- chosen: **{', '.join(decision.get('chosen_options') or ['(no answer)'])}**",
            f"- reason: {params.get('reason') or '(none given)'}",
            f"- decided by: {params.get('reviewer') or who}",
            f"- written to Airflow by: {who}, at {decision.get('responded_at') or '-'}",
        ]
        other = {k: v for k, v in params.items() if k not in ("reason", "reviewer")}
        if other:
            lines.append(f"- params: {other}")
        if decision.get("body"):
            lines += ["", "What the reviewer saw:", "", *(f"> {line}" for line in decision["body"].splitlines())]
        lines.append("")
    return "\n".join(lines)


with DAG(
    dag_id="gather_decision_traces",
    schedule=None,
    catchup=False,
    tags=["slack_hitl", "decision-trace"],
    params={
        "dag_id": Param("support_ticket_review", type="string"),
        "run_id": Param(None, type=["string", "null"], description="empty: the latest run"),
        "connection_id": Param("airflow_api", type="string"),
    },
) as dag:

    @task
    def query_hitl_decisions(params=None) -> dict:
        with _api(params["connection_id"]) as api:
            dag_id, run_id = params["dag_id"], params["run_id"]
            if not run_id:
                runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 1})
                run_id = runs.json()["dag_runs"][0]["dag_run_id"]
            found = api.get(f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/hitlDetails")
            found.raise_for_status()
        return {"dag_id": dag_id, "run_id": run_id, "decisions": found.json()["hitl_details"]}

    @task
    def write_markdown(trace: dict) -> str:
        markdown = _markdown(trace["dag_id"], trace["run_id"], trace["decisions"])
        folder = Path(os.environ.get("SLACK_HITL_TRACES_DIR") or Path(os.environ["AIRFLOW_HOME"]) / "decision_traces")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{trace['dag_id']}__{trace['run_id']}".replace("/", "_").replace(":", "-")
        (folder / f"{name}.md").write_text(markdown)
        return markdown

    write_markdown(query_hitl_decisions())
