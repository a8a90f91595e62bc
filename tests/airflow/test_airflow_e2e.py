"""End to end against a REAL Airflow (``airflow standalone`` on SQLite, started here), 3.1 and 3.3.

Every test runs against each version of ``versions_under_test()`` (3.1.8 and 3.3.2, each installed
from its committed constraints file; the test id names it); the common-ai tests run against the
versions that ship the provider (3.3.2). Airflow lives in its own virtual environment
(adapters/airflow/scripts/install_airflow.sh VERSION); these tests FAIL when it is missing. The
bridge, the engine, the store and the Slack app run in this process; people click in the Slack
emulator. The bridge service is served the way a team would deploy it: the Slack interactions
endpoint and the notifier's endpoint on one port, which Airflow's notifier and plugin are told
about.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from slack_hitl_airflow import AirflowClient
from slack_hitl_airflow.follow import STATE_MISMATCH
from slack_hitl_airflow.hitl_detail import WAITING_STATES, HITLRequest, RequestKey
from slack_hitl_airflow.standalone import (
    AirflowNotInstalled,
    AirflowStandalone,
    airflow_venv,
    free_port,
    versions_under_test,
)

from slack_hitl import Approval
from slack_hitl.testing.harness import HitlHarness
from slack_hitl.traces import approval_trace
from tests.airflow.service_harness import BridgeService, bridge_service
from tests.slack.support import button_texts, click_payload, message_text

pytestmark = [pytest.mark.airflow, pytest.mark.anyio]

HERE = Path(__file__).parent
ADAPTER_SOURCE = HERE.parents[1] / "adapters" / "airflow"
COOKBOOK_DAGS = HERE.parents[1] / "cookbook" / "airflow" / "dags"
COMMON_AI_DAGS = HERE / "dags_common_ai"
VERSIONS = versions_under_test()
COMMON_AI_VERSIONS = [v for v in VERSIONS if tuple(int(p) for p in v.split(".")[:2]) >= (3, 3)]
"""common-ai's tool approvals need Airflow 3.3; only the 3.3 constraints install the provider."""


def version_id(version: str) -> str:
    return f"airflow-{version}"


on_common_ai = pytest.mark.parametrize("airflow", COMMON_AI_VERSIONS, indirect=True, ids=version_id)
DAG_ID = "slack_hitl_e2e"
HITL_TASKS = {"approve_release", "release_details", "choose_region", "review_item"}
SIGNING_SECRET = "e2e-signing-secret"
NOTIFY_TOKEN = "e2e-notify-token"
PLUGIN = "from slack_hitl_airflow.in_airflow.plugin import SlackHitlPlugin  # noqa: F401\n"


@pytest.fixture(scope="module")
def service_port() -> int:
    """Where the bridge service (Slack interactions + notifier endpoint) listens; Airflow is told before it starts."""
    return free_port()


@pytest.fixture(scope="module", params=VERSIONS, ids=version_id)
def airflow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, service_port: int
) -> Iterator[AirflowStandalone]:
    version: str = request.param
    try:
        venv = airflow_venv(version)
    except AirflowNotInstalled as missing:
        pytest.fail(f"{missing}. The Airflow end-to-end tests need a real Airflow; CI installs it first.")
    plugins = tmp_path_factory.mktemp("airflow-plugins")
    (plugins / "slack_hitl_plugin.py").write_text(PLUGIN)
    dags = tmp_path_factory.mktemp("airflow-dags")
    traces = tmp_path_factory.mktemp("decision-traces")
    dag_files = [*(HERE / "dags").glob("*.py"), *COOKBOOK_DAGS.glob("*.py")]
    if version in COMMON_AI_VERSIONS:
        dag_files += COMMON_AI_DAGS.glob("*.py")
    for dag_file in dag_files:
        shutil.copy(dag_file, dags / dag_file.name)
    service = f"http://127.0.0.1:{service_port}"
    standalone = AirflowStandalone(
        dags_folder=dags,
        plugins_folder=plugins,
        venv=venv,
        python_path=(ADAPTER_SOURCE,),
        extra_users=("carol",),
        extra_env={
            "SLACK_HITL_NOTIFY_URL": f"{service}/airflow/notify",
            "SLACK_HITL_NOTIFY_TOKEN": NOTIFY_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_HITL_INTERACTIONS_URL": f"{service}/slack/interactions",
            # Short-lived tokens, so that the bridge renews its token during the test for real.
            "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": "20",
            "AIRFLOW__API_AUTH__JWT_LEEWAY": "0",
            "SLACK_HITL_TRACES_DIR": str(traces),
        },
    )
    standalone.start()
    print(f"\nairflow standalone {version} healthy after {standalone.started_in:.1f} s")
    try:
        dag_ids = [DAG_ID, "support_ticket_review", "gather_decision_traces"]
        if version in COMMON_AI_VERSIONS:
            dag_ids += ["slack_hitl_llm_approval", "slack_hitl_agent_tools", "slack_hitl_review_loop"]
        for dag_id in dag_ids:
            standalone.wait_for_dag(dag_id)
        # The trace DAG reads Airflow's API through a connection, as a deployment would configure it.
        connection = {
            "connection_id": "airflow_api",
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": standalone.port,
            "login": standalone.username,
            "password": standalone.password,
        }
        httpx.post(
            f"{standalone.base_url}/api/v2/connections", json=connection, headers=standalone.auth_headers()
        ).raise_for_status()
        yield standalone
    except BaseException:
        print(standalone.tail(120))
        raise
    finally:
        standalone.stop()


@contextlib.asynccontextmanager
async def serving(airflow: AirflowStandalone, port: int) -> AsyncIterator[BridgeService]:
    """The bridge service a team runs, in front of ``airflow``, and the Slack emulator."""
    async with bridge_service(airflow, port, signing_secret=SIGNING_SECRET, notify_token=NOTIFY_TOKEN) as service:
        yield service


async def posted_approval(hitl: HitlHarness, run_id: str, rows: int, timeout: float = 120.0) -> Approval:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for approval in await hitl.store.list_approvals():
            if approval.resume_state.get("run_id") == run_id and approval.parent_id is None:
                assert len(approval.rows) == rows, f"expected one approval with {rows} rows, got {len(approval.rows)}"
                return await hitl.posted(approval.id)
        await asyncio.sleep(0.5)
    raise AssertionError(f"no approval for run {run_id} within {timeout:.0f} s")


async def hitl_requests(client: AirflowClient, run_id: str) -> dict[str, HITLRequest]:
    return {r.task_instance.label: r for r in await client.run_requests(DAG_ID, run_id)}


async def assert_airflow_heard_nothing(
    client: AirflowClient, run_id: str, *, except_labels: set[str] = frozenset()
) -> None:
    for label, request in (await hitl_requests(client, run_id)).items():
        if label in except_labels:
            continue
        assert not request.response_received, f"{label} was answered before every row was decided"
        assert request.task_instance.state in WAITING_STATES, f"{label} is {request.task_instance.state}"


async def assert_no_task_failed_over_a_stale_report(client: AirflowClient, dag_id: str, run_id: str) -> None:
    """Airflow's audit log has no "state mismatch" for the run: no answer was written too early (3.3)."""
    found = await client._send("GET", "/api/v2/eventLogs", params={"dag_id": dag_id, "run_id": run_id})
    events = [e["event"] for e in found["event_logs"]]
    assert STATE_MISMATCH not in events, events


async def wait_for_run(client: AirflowClient, run_id: str, timeout: float = 120.0, dag_id: str = DAG_ID) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = await client.dag_run(dag_id, run_id)
        if run.finished:
            return run.state
        await asyncio.sleep(1.0)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f} s")


async def states(client: AirflowClient, run_id: str) -> dict[str, str | None]:
    return {ti.label: ti.state for ti in await client.task_instances(DAG_ID, run_id)}


async def test_one_run_of_four_hitl_kinds_is_one_message_decided_row_by_row_and_resumed_after_the_last(
    airflow: AirflowStandalone, service_port: int
) -> None:
    async with serving(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run(DAG_ID, conf={"version": "v2.4"})
        approval = await posted_approval(hitl, run.run_id, rows=6)
        channel, ts = hitl.channel, approval.message_ts
        shown = message_text(hitl.message(approval))
        assert "Release v2.4 to production?" in shown
        assert "*Changes*" in shown and "<https://example.com/changelog|changelog>" in shown  # Markdown, rendered
        for subject in ("Release details", "Which region goes first?", "Item alpha", "Item beta", "Item gamma"):
            assert subject in shown
        assert "on timeout Airflow picks `keep`" in shown and "0 of 6 decided" in shown
        assert {"Approve", "Reject", "Europe", "America", "keep", "drop"} <= set(button_texts(hitl.message(approval)))

        alice = service.user("U0ALICE", "alice")
        bob = service.user("U0BOB", "bob")
        await alice.click(channel, ts, button_text="Approve", near="Release v2.4")
        await assert_airflow_heard_nothing(client, run.run_id)

        # A value the param's schema refuses is refused in the modal, and Airflow never hears of it.
        await bob.click(channel, ts, button_text="Provide input", near="Release details")
        refused = await bob.submit_view({"replicas": 5, "window": "day", "ticket": "ops 12"})
        assert refused.json()["response_action"] == "errors"
        assert "does not match" in next(iter(refused.json()["errors"].values()))
        details = next(
            row for row in (await hitl.store.get(approval.id)).rows if row.requirement.title == "Release details"
        )
        assert details.decision is None
        await assert_airflow_heard_nothing(client, run.run_id)
        accepted = await bob.submit_view({"replicas": 5, "window": "day", "notes": "canary first", "ticket": "OPS-12"})
        assert accepted.status_code == 200 and not accepted.content

        await alice.click(channel, ts, button_text="America", near="Which region")
        await bob.click(channel, ts, button_text="keep", near="Item alpha")
        await bob.click(channel, ts, button_text="drop", near="Item beta")
        await asyncio.sleep(2.0)  # five of six decided: give a wrong resume every chance to happen
        await assert_airflow_heard_nothing(client, run.run_id)
        assert (await hitl.store.get(approval.id)).status == "pending"

        decided_at = time.monotonic()
        await alice.click(channel, ts, button_text="keep", near="Item gamma")
        resumed_after = await time_until_hitl_tasks_stop_waiting(client, run.run_id, decided_at)
        print(f"\nlast Slack decision -> every HITL task running again: {resumed_after:.1f} s")

        final = await service.engine.wait_until_final(approval.id, timeout=240)
        await service.settle()
        assert final.status == "approved"
        assert await wait_for_run(client, run.run_id) == "success"

        # Downstream tasks read what was chosen in Slack.
        report = await client.xcom(DAG_ID, run.run_id, "report")
        assert report == {
            "approved": ["Approve"],
            "approval_params": {"reviewer": "alice (U0ALICE)", "reason": ""},
            "details": {"replicas": 5, "window": "day", "notes": "canary first", "ticket": "OPS-12"},
            "items": [["keep"], ["drop"], ["keep"]],
        }
        after = await states(client, run.run_id)
        assert after["deploy_us"] == "success" and after["deploy_eu"] == "skipped"

        # The thread shows the run's progress to its end.
        thread = "\n".join(reply.text or message_text(reply) for reply in hitl.thread(final))
        for expected in (
            "`approve_release` started: resumed",
            "`choose_region` finished: branch taken: America",
            "`deploy_eu` skipped",
            "`deploy_us` finished",
            "`report` finished",
            "finished: *success*",
            "Open the run in Airflow",
        ):
            assert expected in thread, f"{expected!r} not in the thread:\n{thread}"
        # The 20 s token is renewed when Airflow refuses it. A fast run may finish inside one token's
        # life, so outlive it before one more call: the renewal is then certain, not a matter of pace.
        if client.tokens_obtained < 2:
            await asyncio.sleep(21)
            await states(client, run.run_id)
        assert client.tokens_obtained >= 2
        assert service.bridge.announcements >= 6  # each HITL task's notifier reached the bridge
        await assert_no_task_failed_over_a_stale_report(client, DAG_ID, run.run_id)


async def time_until_hitl_tasks_stop_waiting(client: AirflowClient, run_id: str, since: float) -> float:
    while time.monotonic() - since < 120:
        current = await states(client, run_id)
        waiting = [
            label for label, state in current.items() if label.split("[")[0] in HITL_TASKS and state in WAITING_STATES
        ]
        if not waiting:
            return time.monotonic() - since
        await asyncio.sleep(0.25)
    raise AssertionError("the HITL tasks did not resume within 120 s of the last decision")


async def test_an_answer_given_in_airflow_shows_in_its_row_and_the_rest_resume_after_the_last_slack_decision(
    airflow: AirflowStandalone, service_port: int
) -> None:
    async with serving(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run(DAG_ID)
        approval = await posted_approval(hitl, run.run_id, rows=6)
        channel, ts = hitl.channel, approval.message_ts

        # Carol answers one request in Airflow itself while the message is open: once Airflow can take
        # it (on 3.3 Airflow fails a task answered right after it parked, whoever answers: see answer_gate).
        async with AirflowClient(airflow.base_url, username="carol", password=airflow.passwords["carol"]) as carol:
            beta = (await hitl_requests(client, run.run_id))["review_item[1]"]
            await service.bridge.adapter.gate.wait(client, [[beta]])
            await carol.respond(beta.key, chosen_options=["drop"], params_input={})
            answered_at = time.monotonic()
        row_id = beta.request_id
        for _ in range(300):
            row = (await hitl.store.get(approval.id)).row(row_id)
            if row.decided:
                break
            await asyncio.sleep(0.1)
        # The watch looks every second: the row shows it well before the next full poll.
        print(f"\nanswer given in Airflow -> recorded on its row: {time.monotonic() - answered_at:.1f} s")
        assert (row.decided_by, row.decided_by_name, row.decision.choices) == (
            "airflow:carol",
            "carol (in Airflow)",
            ("drop",),
        )
        await service.settle()
        assert "carol (in Airflow)" in message_text(hitl.message(await hitl.store.get(approval.id)))

        # Slack's interactions URL can live in Airflow's API server (the plugin); it refuses what Slack did not sign.
        forged = await service.user("U0EVE", "eve").post_raw(
            b"payload=%7B%7D", {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": str(int(time.time()))}
        )
        assert forged.status_code in (401, 403)
        async with httpx.AsyncClient() as anyone:
            unsigned = await anyone.post(f"{airflow.base_url}/slack-hitl/slack/interactions", content=b"payload=%7B%7D")
        assert unsigned.status_code == 401 and unsigned.text == "invalid signature"

        # People decide the rest; some clicks go through the plugin inside Airflow's API server.
        via_airflow = service.user("U0DAN", "dan", interactions_url=f"{airflow.base_url}/slack-hitl/slack/interactions")
        alice = service.user("U0ALICE", "alice")
        await via_airflow.click(channel, ts, button_text="Reject", near="Release v2")
        rejected = await via_airflow.submit_view({"reason": "not this week"})
        assert rejected.status_code == 200 and not rejected.content
        await via_airflow.click(channel, ts, button_text="Provide input", near="Release details")
        await via_airflow.submit_view({"replicas": 2, "window": "night"})
        await alice.click(channel, ts, button_text="Europe", near="Which region")
        await alice.click(channel, ts, button_text="keep", near="Item alpha")
        await asyncio.sleep(2.0)
        await assert_airflow_heard_nothing(client, run.run_id, except_labels={"review_item[1]"})
        await alice.click(channel, ts, button_text="drop", near="Item gamma")

        final = await service.engine.wait_until_final(approval.id, timeout=240)
        await service.settle()
        assert final.status == "completed"  # one rejection among approvals
        assert final.row(row_id).decided_by == "airflow:carol"
        assert await wait_for_run(client, run.run_id) == "success"
        answers = await hitl_requests(client, run.run_id)
        assert answers["approve_release"].chosen_options == ("Reject",)
        assert answers["approve_release"].params_input == {"reviewer": "dan (U0DAN)", "reason": "not this week"}
        assert answers["review_item[1]"].responded_by_user.name == "carol"
        assert answers["review_item[2]"].chosen_options == ("drop",)
        after = await states(client, run.run_id)
        assert after["report"] == "skipped"  # the rejection skipped what came after it
        thread = "\n".join(reply.text or message_text(reply) for reply in hitl.thread(final))
        assert "already answered by carol in Airflow: drop" in thread
        output = next(e for e in await hitl.store.decision_log(approval.id) if e["event"] == "completed")["data"][
            "output"
        ]
        assert output["rows"][row_id]["outcome"] == "answered_elsewhere"
        assert output["rows"][row_id]["answered_in_airflow_by"] == "carol"
        await assert_no_task_failed_over_a_stale_report(client, DAG_ID, run.run_id)


async def test_the_cookbook_support_ticket_review_keeps_the_reason_and_the_trace_dag_writes_it_down(
    airflow: AirflowStandalone, service_port: int
) -> None:
    async with serving(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run("support_ticket_review", conf={"ticket_id": "T-2001"})
        deadline = time.monotonic() + 120
        approval = None
        while approval is None and time.monotonic() < deadline:
            approval = next(
                (a for a in await hitl.store.list_approvals() if a.resume_state.get("run_id") == run.run_id), None
            )
            await asyncio.sleep(0.5)
        assert approval is not None, "the review request never reached Slack"
        approval = await hitl.posted(approval.id)
        shown = message_text(hitl.message(approval))
        assert "*Ticket T-2001*" in shown and "on timeout Airflow picks `Escalate to CRE`" in shown
        assert [
            b
            for b in button_texts(hitl.message(approval))
            if b in {"Approve AI Response", "Respond Manually", "Escalate to CRE"}
        ] == ["Approve AI Response", "Respond Manually", "Escalate to CRE"]

        erin = service.user("U0ERIN", "erin")
        await erin.click(hitl.channel, approval.message_ts, button_text="Respond Manually")
        # The DAG's reason param may not be empty, so the reason is required in Slack.
        refused = await erin.submit_view({"reason": ""}, allow_missing_required=True)
        assert refused.json()["response_action"] == "errors" and "reason" in refused.json()["errors"]
        await erin.submit_view({"reason": "Dark mode is on the roadmap for Q3; the answer must say so."})

        final = await service.engine.wait_until_final(approval.id, timeout=180)
        assert final.status == "approved"
        assert await wait_for_run(client, run.run_id, dag_id="support_ticket_review") == "success"
        review = (await client.run_requests("support_ticket_review", run.run_id))[0]
        assert review.chosen_options == ("Respond Manually",)
        assert review.params_input == {
            "reason": "Dark mode is on the roadmap for Q3; the answer must say so.",
            "reviewer": "erin (U0ERIN)",
        }

        # The run triggered gather_decision_traces, which wrote the trace as Markdown.
        traces = Path(airflow.extra_env["SLACK_HITL_TRACES_DIR"])
        trace_file = traces / f"support_ticket_review__{run.run_id}.md".replace(":", "-")
        deadline = time.monotonic() + 120
        while not trace_file.exists() and time.monotonic() < deadline:  # noqa: ASYNC110 - a file written by Airflow
            await asyncio.sleep(1.0)
        trace = trace_file.read_text()
        assert "# Decision trace: support_ticket_review" in trace
        assert "- chosen: **Respond Manually**" in trace
        assert "- reason: Dark mode is on the roadmap for Q3; the answer must say so." in trace
        assert "- decided by: erin (U0ERIN)" in trace


# -- common-ai: the provider's own operators, with a scripted model (tests/airflow/dags_common_ai) ----------


async def posted_approval_titled(hitl: HitlHarness, text: str, run_id: str, timeout: float = 120.0) -> Approval:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for approval in await hitl.store.list_approvals():
            if approval.resume_state.get("run_id") == run_id and text in approval.title:
                return await hitl.posted(approval.id)
        await asyncio.sleep(0.25)
    raise AssertionError(f"no approval titled {text!r} for run {run_id} within {timeout:.0f} s")


@on_common_ai
async def test_an_llm_approval_is_approved_with_an_edit_and_the_dag_uses_the_edited_output(
    airflow: AirflowStandalone, service_port: int
) -> None:
    dag_id = "slack_hitl_llm_approval"
    async with serving(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run(dag_id)
        approval = await posted_approval_titled(hitl, "1 decision", run.run_id)
        shown = message_text(hitl.message(approval))
        assert "Review output for task `draft_release_note`" in shown
        assert "retried three times with backoff" in shown  # the generated output, readable in Slack
        alice = service.user("U0ALICE", "alice")
        # A row whose output may be edited is decided in a modal: Approve or Reject, the output, a reason.
        await alice.click(hitl.channel, approval.message_ts, button_text="Decide…", near="Review output")
        edited = "Failed webhook deliveries (5xx) are now retried three times, with exponential backoff."
        accepted = await alice.submit_view({"Decision": "Approve", "output": edited})
        assert accepted.status_code == 200 and not accepted.content

        final = await service.engine.wait_until_final(approval.id, timeout=240)
        assert final.status == "approved"
        assert await wait_for_run(client, run.run_id, dag_id=dag_id) == "success"
        (answer,) = await client.run_requests(dag_id, run.run_id)
        assert (answer.chosen_options, answer.params_input) == (("Approve",), {"output": edited})
        assert await client.xcom(dag_id, run.run_id, "publish") == edited
        await assert_no_task_failed_over_a_stale_report(client, dag_id, run.run_id)


@on_common_ai
async def test_an_agents_tool_call_is_rejected_with_a_reason_that_the_agent_then_sees(
    airflow: AirflowStandalone, service_port: int
) -> None:
    dag_id = "slack_hitl_agent_tools"
    async with serving(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run(dag_id)
        approval = await posted_approval_titled(hitl, "1 decision", run.run_id)
        shown = message_text(hitl.message(approval))
        assert "Approve refund_order for task `handle_ticket` (request 1)" in shown
        assert '*refund_order*\n{"order_id": 7, "amount": 42.0}' in shown  # the call and its arguments
        bob = service.user("U0BOB", "bob")
        await bob.click(hitl.channel, approval.message_ts, button_text="Reject", near="Approve refund_order")
        reason = "Refunds over $40 need a manager's OK."
        await bob.submit_view({"Reason": reason})

        final = await service.engine.wait_until_final(approval.id, timeout=240)
        assert final.status == "rejected"
        assert await wait_for_run(client, run.run_id, dag_id=dag_id) == "success"
        (answer,) = await client.run_requests(dag_id, run.run_id)
        # Exactly what the provider asks for: the reason, and its hidden request number (const 1).
        assert (answer.chosen_options, answer.params_input) == (("Reject",), {"reason": reason, "request": 1})
        said = await client.xcom(dag_id, run.run_id, "handle_ticket")
        assert said == f"Not refunded. The reviewer said: {reason}"
        await assert_no_task_failed_over_a_stale_report(client, dag_id, run.run_id)


@on_common_ai
async def test_a_review_loop_takes_two_rounds_of_changes_then_an_approval_all_in_one_thread_and_in_the_trace(
    airflow: AirflowStandalone, service_port: int
) -> None:
    dag_id = "slack_hitl_review_loop"
    async with serving(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run(dag_id)
        first = await posted_approval_titled(hitl, "iteration 1", run.run_id)
        assert "Hi John, thanks for writing in." in message_text(hitl.message(first))
        alice = service.user("U0ALICE", "alice")
        feedbacks = ["Say that the order was lost and a refund is coming.", "Give the amount and the delay."]
        current = first
        for round_, feedback in enumerate(feedbacks, start=1):
            await alice.click(hitl.channel, current.message_ts, button_text="Request changes", near="Review the output")
            if round_ == 1:  # bad input: an empty answer to "What should change?" is refused in the modal
                refused = await alice.submit_view({"What should change?": "   "})
                assert refused.json()["response_action"] == "errors"
                assert "an answer is required" in next(iter(refused.json()["errors"].values()))
            done = await alice.submit_view({"What should change?": feedback})
            assert done.status_code == 200 and not done.content
            current = await posted_approval_titled(hitl, f"iteration {round_ + 1}", run.run_id)
            assert current.thread_ts == (first.thread_ts or first.message_ts)  # in the same thread
        assert "we refunded $42; it reaches your card within 3 days" in message_text(
            hitl.emulator.message(current.channel, current.message_ts)
        )
        await alice.click(hitl.channel, current.message_ts, button_text="Approve", near="Review the output")
        final = await service.engine.wait_until_final(current.id, timeout=240)
        assert final.status == "approved"
        assert await wait_for_run(client, run.run_id, dag_id=dag_id) == "success"
        assert "we refunded $42" in await client.xcom(dag_id, run.run_id, "send")

        # The trace: each iteration's output (its row) and feedback (its decision), and the whole history.
        iterations = [await hitl.store.get(a.id) for a in (first, *await _children(hitl, first))]
        traces = [approval_trace(a, await hitl.store.decision_log(a.id)) for a in iterations]
        assert [t["rows"][0]["decision"]["reason"] for t in traces] == [*feedbacks, None]
        assert "Hi John, thanks for writing in." in traces[0]["rows"][0]["description"]
        done = next(e for e in await hitl.store.decision_log(final.id) if e["event"] == "approved")["data"]["output"]
        assert [step["feedback"] for step in done["history"]] == [*feedbacks, None]
        assert done["history"][2]["output"].endswith("within 3 days.")
        thread = "\n".join(reply.text or message_text(reply) for reply in hitl.thread(first))
        assert "iteration 1, answer sent: Request changes" in thread and "finished: *success*" in thread


async def _children(hitl: HitlHarness, root: Approval) -> list[Approval]:
    """The iterations after ``root``, in order (each the nested approval of the one before)."""
    chain: list[Approval] = []
    parent = root.id
    approvals = await hitl.store.list_approvals()
    while (child := next((a for a in approvals if a.parent_id == parent), None)) is not None:
        chain.append(child)
        parent = child.id
    return chain


@on_common_ai
async def test_a_review_iteration_answered_in_airflow_first_is_refused_in_slack_and_the_loop_goes_on(
    airflow: AirflowStandalone, service_port: int
) -> None:
    dag_id = "slack_hitl_review_loop"
    async with serving(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run(dag_id)
        first = await posted_approval_titled(hitl, "iteration 1", run.run_id)
        stale = hitl.emulator.message_payload(hitl.channel, first.message_ts)
        key = RequestKey(dag_id=dag_id, run_id=run.run_id, task_id="answer_ticket")
        async with AirflowClient(airflow.base_url, username="carol", password=airflow.passwords["carol"]) as carol:
            await carol.answer_review(key, "feedback", "Mention the refund.")  # the provider's own chat does this
        row_id = first.rows[0].id
        deadline = time.monotonic() + 30
        while not (await hitl.store.get(first.id)).row(row_id).decided:
            assert time.monotonic() < deadline, "the answer given in Airflow never reached its row"
            await asyncio.sleep(0.1)
        bob = service.user("U0BOB", "bob")  # his Slack still shows the buttons
        await bob.send_payload(click_payload(hitl, bob, [stale], "Approve", "Review the output"))
        await hitl.settle()
        notes = [note.text for note in hitl.emulator.ephemerals("U0BOB")]
        assert notes == [
            "*Review the output of `answer_ticket`* was already decided by someone in Airflow's review chat."
        ]
        row = (await hitl.store.get(first.id)).row(row_id)
        assert (row.decided_by, row.decision.reason) == ("airflow:review-chat", "Mention the refund.")
        # The loop goes on in Slack with the output regenerated after the feedback given in Airflow.
        second = await posted_approval_titled(hitl, "iteration 2", run.run_id)
        assert "a refund is on its way" in message_text(hitl.emulator.message(second.channel, second.message_ts))
        await bob.click(hitl.channel, second.message_ts, button_text="Approve", near="Review the output")
        assert (await service.engine.wait_until_final(second.id, timeout=240)).status == "approved"
        assert await wait_for_run(client, run.run_id, dag_id=dag_id) == "success"
        session = await client.review_session(key)
        assert [t.content for t in session.conversation if t.role == "human"] == ["Mention the refund."]
