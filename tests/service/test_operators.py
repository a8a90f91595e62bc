"""For operators, through a real ``slack-hitl serve`` (web process + worker): ``/healthz``, ``/readyz``
and ``/metrics``, whose figures add up what every process counted."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from slack_hitl.service.health import Readiness
from slack_hitl.slack.client import build_slack_client
from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import (
    CHANNEL,
    SIGNING_SECRET,
    Answer,
    CallbackReceiver,
    eventually,
    free_port,
    message_text,
    open_over_api,
    service_env,
    serving,
)
from tests.service.test_serve import user

pytestmark = pytest.mark.anyio

ROW = [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]


def figure(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus's text format, or None when it is absent."""
    shown = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    wanted = f"{name}{{{shown}}}" if labels else name
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        if _canonical(sample) == wanted:
            return float(value)
    return None


def _canonical(sample: str) -> str:
    match = re.fullmatch(r"([^{]+)\{(.*)\}", sample)
    if match is None:
        return sample
    pairs = sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
    return f"{match.group(1)}{{{','.join(f'{k}={chr(34)}{v}{chr(34)}' for k, v in pairs)}}}"


async def test_metrics_add_up_the_web_process_and_the_worker_and_readyz_checks_slack(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    receiver.answers = [Answer(chunks=["done"])]
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}

        emulator.inject_error("auth.test", "invalid_auth")
        refused = await http.get("/readyz")
        assert refused.status_code == 503
        assert refused.json() == {"status": "not_ready", "problems": ["slack: auth.test failed (invalid_auth)"]}
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

        created = await open_over_api(server.url, receiver, ROW)
        ts = str(created["message_ts"])
        emulator.rate_limit("chat.update", fraction=1.0, retry_after=1)
        assert (await user(emulator, server, "U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve")).is_success
        assert (await user(emulator, server, "U0BOB", "bob").click(CHANNEL, ts, button_text="Approve")).is_success

        async def scraped() -> str:
            answer = await http.get("/metrics")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
            return answer.text

        async def rate_limited() -> str | None:
            text = await scraped()
            return (
                text if figure(text, "slack_hitl_slack_api_calls_total", method="chat.update", response="429") else None
            )

        await eventually(rate_limited, timeout=20)  # counted in the worker, which re-renders
        emulator.rate_limit("chat.update", fraction=0)
        await eventually(lambda: len(receiver.received()) == 1, timeout=20)
        await eventually(lambda: "Approved." in message_text(emulator.message(CHANNEL, ts)), timeout=20)

        async def resumed() -> str | None:
            text = await scraped()
            return text if figure(text, "slack_hitl_resumes_total", result="approved") == 1 else None

        text = await eventually(resumed, timeout=20)
        # The web process's counts...
        assert figure(text, "slack_hitl_decisions_total", outcome="approved") == 1
        assert figure(text, "slack_hitl_decisions_total", outcome="already_decided") == 1
        assert figure(text, "slack_hitl_ack_seconds_count", route="/slack/interactions") == 2
        assert figure(text, "slack_hitl_ack_seconds_count", route="/v1/approvals") == 1
        assert figure(text, "slack_hitl_slack_api_calls_total", method="chat.postMessage", response="ok") == 1
        assert figure(text, "slack_hitl_slack_api_calls_total", method="auth.test", response="invalid_auth") == 1
        # ...and the worker's, in one answer.
        assert figure(text, "slack_hitl_callback_seconds_count", status="200") == 1
        assert (figure(text, "slack_hitl_slack_api_calls_total", method="chat.update", response="ok") or 0) >= 1
        # Read from the database when asked.
        assert figure(text, "slack_hitl_approvals_pending") == 0
        assert figure(text, "slack_hitl_oldest_due_resume_age_seconds") == 0
        assert await server.stop() == 0


async def test_socket_mode_acks_are_in_the_ack_histogram(
    emulator: SlackEmulator, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}", SLACK_APP_TOKEN="xapp-service-test")
    async with (
        serving(env, tmp_path / "serve.log", args=["--socket-mode"]) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        await emulator.socket_mode.wait_for_connections(1)
        created = await open_over_api(server.url, receiver, ROW)
        alice = SlackTestUser(emulator, "", SIGNING_SECRET, "U0ALICE", "alice", transport="socket_mode")
        assert (await alice.click(CHANNEL, str(created["message_ts"]), button_text="Approve")).is_success
        assert (await alice.open_app_home()).is_success

        text = (await http.get("/metrics")).text
        assert figure(text, "slack_hitl_ack_seconds_count", route="socket_mode:interactive") == 1
        assert figure(text, "slack_hitl_ack_seconds_count", route="socket_mode:events_api") == 1
        assert (
            figure(text, "slack_hitl_ack_seconds_count", route="/slack/interactions") is None
        )  # no click came by HTTP
        assert await server.stop() == 0


async def test_not_ready_while_the_database_cannot_be_reached(emulator: SlackEmulator) -> None:
    store = await Store.open(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", create=False)
    client = build_slack_client("xoxb-service-test", base_url=emulator.base_url)
    try:
        readiness = Readiness(store, client, max_attempts=3)
        assert await readiness.problems() == ["database: not reachable (ConnectionRefusedError)"]
        metrics = (await readiness.metrics()).decode()
        assert "slack_hitl_approvals_pending" not in metrics  # no figure is made up
        assert "# TYPE slack_hitl_decisions_total counter" in metrics  # the counters are still shown
    finally:
        await store.close()
