"""The bridge service a team runs, served in the test's (or the benchmark's) event loop next to a ``HitlHarness``.

The Slack interactions endpoint and the notifier's endpoint on one port (``service_app``), with an
engine that knows the Airflow adapter, on the harness's store and publisher: what the Airflow
end-to-end tests and ``benchmarks/bench_airflow_bridge.py`` click through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import uvicorn
from slack_hitl_airflow import AirflowAdapter, AirflowBridge, AirflowClient, BridgeSettings
from slack_hitl_airflow.service import service_app
from slack_hitl_airflow.standalone import AirflowStandalone

from slack_hitl import Engine
from slack_hitl.testing import SlackTestUser
from slack_hitl.testing.harness import HitlHarness


@dataclass
class BridgeService:
    """The service a team runs: the Slack app (with the Airflow-aware engine), the notifier's endpoint, the bridge."""

    bridge: AirflowBridge
    engine: Engine
    url: str
    hitl: HitlHarness
    signing_secret: str

    @property
    def client(self) -> AirflowClient:
        return self.bridge.client

    def user(self, user_id: str, name: str, *, interactions_url: str | None = None) -> SlackTestUser:
        url = interactions_url or f"{self.url}/slack/interactions"
        return SlackTestUser(self.hitl.emulator, url, self.signing_secret, user_id, name)

    async def settle(self) -> None:
        await self.engine.drain()
        await self.hitl.settle()


@contextlib.asynccontextmanager
async def bridge_service(
    airflow: AirflowStandalone,
    hitl: HitlHarness,
    port: int,
    *,
    signing_secret: str,
    notify_token: str | None,
    settings: dict[str, object] | None = None,
) -> AsyncIterator[BridgeService]:
    client = AirflowClient(airflow.base_url, username=airflow.username, password=airflow.password)
    # The deployment defaults for when an answer is safe (5 s on 3.1, the scheduler's proof on 3.3).
    adapter = AirflowAdapter(client, follow_timeout=240.0, follow_interval=1.0)
    # The same store and publisher as the harness's app; this engine also checks params' JSON schemas.
    engine = Engine(hitl.store, adapters=[adapter], publisher=hitl.publisher)
    hitl.engine.register(adapter)  # the harness's sweeper may pick up a retry
    options: dict[str, object] = {"settle_seconds": 3.0, "poll_interval": 3.0, **(settings or {})}
    bridge = AirflowBridge(engine, client, BridgeSettings(channel=hitl.channel, **options), adapter=adapter)  # type: ignore[arg-type]
    app = service_app(bridge, hitl.publisher, signing_secret=signing_secret, notify_token=notify_token)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(10):
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.05)
        yield BridgeService(
            bridge=bridge, engine=engine, url=f"http://127.0.0.1:{port}", hitl=hitl, signing_secret=signing_secret
        )
    finally:
        server.should_exit = True
        await asyncio.gather(serving, return_exceptions=True)
        await client.aclose()
