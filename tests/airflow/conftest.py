from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slack_hitl_airflow import AirflowAdapter, AirflowBridge, AirflowClient, BridgeSettings
from slack_hitl_airflow.answer_gate import AnswerGate

from slack_hitl import Engine, Store
from slack_hitl.testing import RecordingPublisher
from tests.airflow.fake_airflow import FakeAirflow
from tests.airflow.support import AIRFLOW


@pytest.fixture
def fake_airflow() -> FakeAirflow:
    return FakeAirflow()


@pytest.fixture
async def airflow_client(fake_airflow: FakeAirflow) -> AsyncIterator[AirflowClient]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake_airflow.app()))
    client = AirflowClient(AIRFLOW, username=fake_airflow.username, password=fake_airflow.password, http=http)
    yield client
    await http.aclose()


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(sqlite_url)
    yield opened
    await opened.close()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
async def engine(store: Store, publisher: RecordingPublisher) -> AsyncIterator[Engine]:
    engine = Engine(store, publisher=publisher, retry_backoff_seconds=0.05)
    yield engine
    await engine.drain()  # before the store fixture closes the store under a running resume


@pytest.fixture
def make_bridge(engine: Engine, airflow_client: AirflowClient):
    def make(**settings: Any) -> AirflowBridge:
        adapter_options = {
            key: settings.pop(key)
            for key in ("min_request_age", "park_grace", "gate_timeout", "follow_timeout", "follow_interval")
            if key in settings
        }
        gate = AnswerGate(
            park_grace=adapter_options.get("park_grace", 0.0),
            min_deferred_age=adapter_options.get("min_request_age", 0.0),
            timeout=adapter_options.get("gate_timeout", 30.0),
            poll_interval=0.05,
        )
        adapter = AirflowAdapter(
            airflow_client,
            gate=gate,
            follow_timeout=adapter_options.get("follow_timeout", 10.0),
            follow_interval=adapter_options.get("follow_interval", 0.05),
        )
        options = {"channel": "C0AIRFLOW", "settle_seconds": 0.0, **settings}
        return AirflowBridge(engine, airflow_client, BridgeSettings(**options), adapter=adapter)

    return make
