"""The push path: the notifier's POST reaches the bridge only with the shared token."""

from __future__ import annotations

import httpx
import pytest
from slack_hitl_airflow import notify_app

pytestmark = pytest.mark.anyio


async def test_an_announcement_with_the_token_makes_the_bridge_poll_and_others_are_refused(make_bridge) -> None:
    bridge = make_bridge()
    transport = httpx.ASGITransport(app=notify_app(bridge, token="s3cret-token"))
    hint = {"dag_id": "release", "run_id": "r1", "task_id": "approve", "map_index": -1, "ti_id": "ti-1"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
        refused = await client.post("/airflow/notify", json=hint, headers={"Authorization": "Bearer wrong"})
        missing = await client.post("/airflow/notify", json=hint)
        assert (refused.status_code, missing.status_code) == (401, 401)
        assert bridge.announcements == 0
        malformed = await client.post(
            "/airflow/notify", content=b"{nope", headers={"Authorization": "Bearer s3cret-token"}
        )
        assert malformed.status_code == 400 and bridge.announcements == 0
        accepted = await client.post("/airflow/notify", json=hint, headers={"Authorization": "Bearer s3cret-token"})
        assert accepted.status_code == 202 and bridge.announcements == 1
