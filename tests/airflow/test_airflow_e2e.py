"""End to end against a REAL Airflow 3.1 (``airflow standalone`` on SQLite, started here).

Airflow lives in its own virtual environment (adapters/airflow/scripts/install_airflow.sh,
found through SLACK_HITL_AIRFLOW_VENV); these tests FAIL when it is missing. The bridge, the
engine, the store and the Slack app run in this process; people click in the Slack emulator.
The bridge service is served the way a team would deploy it: the Slack interactions endpoint
and the notifier's endpoint on one port, which Airflow's notifier and plugin are told about.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from slack_hitl_airflow import AirflowAdapter, AirflowBridge, AirflowClient, BridgeSettings
from slack_hitl_airflow.hitl_detail import HITLRequest
from slack_hitl_airflow.service import service_app
from slack_hitl_airflow.standalone import AirflowNotInstalled, AirflowStandalone, airflow_venv, free_port
from starlette.types import ASGIApp

from slack_hitl import Approval, Engine
from slack_hitl.service.app import SlackHitl
from slack_hitl.testing import SlackTestUser
from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import button_texts, message_text

pytestmark = [pytest.mark.airflow, pytest.mark.anyio]

HERE = Path(__file__).parent
ADAPTER_SOURCE = HERE.parents[1] / "adapters" / "airflow"
COOKBOOK_DAGS = HERE.parents[1] / "cookbook" / "airflow" / "dags"
DAG_ID = "slack_hitl_e2e"
HITL_TASKS = {"approve_release", "release_details", "choose_region", "review_item"}
SIGNING_SECRET = "e2e-signing-secret"
NOTIFY_TOKEN = "e2e-notify-token"
PLUGIN = "from slack_hitl_airflow.in_airflow.plugin import SlackHitlPlugin  # noqa: F401\n"


@pytest.fixture(scope="module")
def service_port() -> int:
    """Where the bridge service (Slack interactions + notifier endpoint) listens; Airflow is told before it starts."""
    return free_port()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, service_port: int) -> Iterator[AirflowStandalone]:
    try:
        venv = airflow_venv()
    except AirflowNotInstalled as missing:
        pytest.fail(f"{missing}. The Airflow end-to-end tests need a real Airflow; CI installs it first.")
    plugins = tmp_path_factory.mktemp("airflow-plugins")
    (plugins / "slack_hitl_plugin.py").write_text(PLUGIN)
    dags = tmp_path_factory.mktemp("airflow-dags")
    traces = tmp_path_factory.mktemp("decision-traces")
    for dag_file in [*(HERE / "dags").glob("*.py"), *COOKBOOK_DAGS.glob("*.py")]:
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
    print(f"\nairflow standalone healthy after {standalone.started_in:.1f} s")
    try:
        for dag_id in (DAG_ID, "support_ticket_review", "gather_decision_traces"):
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


@dataclass
class BridgeService:
    """The service a team runs (``slack-hitl-airflow``): slack_hitl wired with the Airflow adapter, the
    notifier's endpoint and the bridge's polling, served on one port; ``hitl`` is the harness running it."""

    bridge: AirflowBridge
    hitl: HitlHarness

    @property
    def client(self) -> AirflowClient:
        return self.bridge.client

    @property
    def engine(self) -> Engine:
        return self.hitl.engine

    @property
    def url(self) -> str:
        return self.hitl.url

    def user(self, user_id: str, name: str, *, interactions_url: str | None = None) -> SlackTestUser:
        url = interactions_url or f"{self.url}/slack/interactions"
        return SlackTestUser(self.hitl.emulator, url, SIGNING_SECRET, user_id, name)

    async def settle(self) -> None:
        await self.hitl.settle()


@contextlib.asynccontextmanager
async def bridge_service(airflow: AirflowStandalone, port: int) -> AsyncIterator[BridgeService]:
    client = AirflowClient(airflow.base_url, username=airflow.username, password=airflow.password)
    # The engine checks decisions against params' JSON schemas through the adapter.
    adapter = AirflowAdapter(client, min_request_age=5.0, follow_timeout=240.0, follow_interval=1.0)
    bridges: list[AirflowBridge] = []

    def airflow_service(hitl: SlackHitl) -> ASGIApp:
        bridge = AirflowBridge(
            hitl.engine,
            client,
            BridgeSettings(channel=hitl.config.channel or "", settle_seconds=3.0, poll_interval=3.0),
            adapter=adapter,
        )
        bridges.append(bridge)
        return service_app(bridge, hitl, notify_token=NOTIFY_TOKEN)

    try:
        async with HitlHarness(
            adapters=[adapter], signing_secret=SIGNING_SECRET, port=port, app_factory=airflow_service
        ) as hitl:
            yield BridgeService(bridge=bridges[-1], hitl=hitl)
    finally:
        await client.aclose()


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
        assert request.task_instance.state == "deferred", f"{label} is {request.task_instance.state}"


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
    async with bridge_service(airflow, service_port) as service:
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
        resumed_after = await time_until_hitl_tasks_leave_deferred(client, run.run_id, decided_at)
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


async def time_until_hitl_tasks_leave_deferred(client: AirflowClient, run_id: str, since: float) -> float:
    while time.monotonic() - since < 120:
        current = await states(client, run_id)
        waiting = [
            label for label, state in current.items() if label.split("[")[0] in HITL_TASKS and state == "deferred"
        ]
        if not waiting:
            return time.monotonic() - since
        await asyncio.sleep(0.25)
    raise AssertionError("the HITL tasks did not resume within 120 s of the last decision")


async def test_an_answer_given_in_airflow_shows_in_its_row_and_the_rest_resume_after_the_last_slack_decision(
    airflow: AirflowStandalone, service_port: int
) -> None:
    async with bridge_service(airflow, service_port) as service:
        hitl = service.hitl
        client = service.client
        run = await client.trigger_run(DAG_ID)
        approval = await posted_approval(hitl, run.run_id, rows=6)
        channel, ts = hitl.channel, approval.message_ts

        # Carol answers one request in Airflow itself while the message is open.
        async with AirflowClient(airflow.base_url, username="carol", password=airflow.passwords["carol"]) as carol:
            beta = (await hitl_requests(client, run.run_id))["review_item[1]"]
            await carol.respond(beta.key, chosen_options=["drop"], params_input={})
        row_id = beta.request_id
        for _ in range(60):
            row = (await hitl.store.get(approval.id)).row(row_id)
            if row.decided:
                break
            await asyncio.sleep(0.5)
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


async def test_the_cookbook_support_ticket_review_keeps_the_reason_and_the_trace_dag_writes_it_down(
    airflow: AirflowStandalone, service_port: int
) -> None:
    async with bridge_service(airflow, service_port) as service:
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
