"""The bridge service a team runs (``slack-hitl-airflow``), served by a ``HitlHarness`` in the test's (or the
benchmark's) event loop: what the Airflow end-to-end tests and ``benchmarks/bench_airflow_bridge.py`` click through.

slack_hitl wired by its composition root with the Airflow adapter, the notifier's endpoint and the bridge's
polling and watch, on one port (``service_app``), next to the Slack emulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from slack_hitl_airflow import AirflowAdapter, AirflowBridge, AirflowClient, BridgeSettings
from slack_hitl_airflow.service import service_app
from slack_hitl_airflow.standalone import AirflowStandalone
from starlette.types import ASGIApp

from slack_hitl import Engine
from slack_hitl.service.app import SlackHitl
from slack_hitl.testing import SlackTestUser
from slack_hitl.testing.harness import HitlHarness


@dataclass
class BridgeService:
    """The running service: its bridge, and ``hitl``, the harness serving it (emulator, store, engine)."""

    bridge: AirflowBridge
    hitl: HitlHarness
    signing_secret: str

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
        return SlackTestUser(self.hitl.emulator, url, self.signing_secret, user_id, name)

    async def settle(self) -> None:
        await self.hitl.settle()


@contextlib.asynccontextmanager
async def bridge_service(
    airflow: AirflowStandalone,
    port: int,
    *,
    signing_secret: str,
    notify_token: str | None,
    settings: dict[str, Any] | None = None,
    harness_options: dict[str, Any] | None = None,
) -> AsyncIterator[BridgeService]:
    """The service on ``port`` (Airflow's notifier and plugin are told it before Airflow starts)."""
    client = AirflowClient(airflow.base_url, username=airflow.username, password=airflow.password)
    # The deployment's answer gate (5 s on 3.1, the scheduler's proof on 3.3); the engine checks decisions
    # against params' JSON schemas through the adapter.
    adapter = AirflowAdapter(client, follow_timeout=240.0, follow_interval=1.0)
    options: dict[str, Any] = {"settle_seconds": 3.0, "poll_interval": 3.0, **(settings or {})}
    bridges: list[AirflowBridge] = []

    def airflow_service(hitl: SlackHitl) -> ASGIApp:
        bridge = AirflowBridge(
            hitl.engine, client, BridgeSettings(channel=hitl.config.channel or "", **options), adapter=adapter
        )
        bridges.append(bridge)
        return service_app(bridge, hitl, notify_token=notify_token)

    try:
        async with HitlHarness(
            adapters=[adapter],
            signing_secret=signing_secret,
            port=port,
            app_factory=airflow_service,
            **(harness_options or {}),
        ) as hitl:
            yield BridgeService(bridge=bridges[-1], hitl=hitl, signing_secret=signing_secret)
    finally:
        await client.aclose()
