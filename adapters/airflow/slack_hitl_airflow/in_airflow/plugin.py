"""An Airflow plugin that hosts the Slack interactions URL inside Airflow's API server.

For teams that do not want to expose a separate service: Slack posts to
``<airflow>/slack-hitl/slack/interactions``; the plugin checks Slack's signature (Airflow gives
plugin apps no authentication, so this is its own) and forwards the verified request to the
bridge, which does all the work (store, decisions, Slack messages, answers to Airflow) and
still checks the signature itself. The plugin keeps no state and decides nothing; the bridge
must be reachable from Airflow's API server.

Settings (environment of the API server):
    SLACK_SIGNING_SECRET            the Slack app's signing secret
    SLACK_HITL_INTERACTIONS_URL     the bridge's interactions endpoint, e.g. http://bridge:8000/slack/interactions
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import httpx
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Request, Response

MAX_AGE_SECONDS = 300
_FORWARDED = (
    "content-type",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-slack-retry-num",
    "x-slack-retry-reason",
)


def signature_valid(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None) -> bool:
    """Slack's v0 request signature, checked in constant time, refusing requests older than 5 minutes."""
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > MAX_AGE_SECONDS:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def create_app(secret: str | None = None, forward_to: str | None = None) -> FastAPI:
    app = FastAPI(title="slack_hitl interactions relay")

    @app.post("/slack/interactions")
    async def interactions(request: Request) -> Response:
        signing_secret = secret or os.environ.get("SLACK_SIGNING_SECRET", "")
        target = forward_to or os.environ.get("SLACK_HITL_INTERACTIONS_URL", "")
        if not signing_secret or not target:
            return Response("slack_hitl relay is not configured", status_code=503)
        body = await request.body()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        if not signature_valid(signing_secret, timestamp, body, request.headers.get("x-slack-signature", "")):
            return Response("invalid signature", status_code=401)
        headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
        async with httpx.AsyncClient(timeout=2.5) as client:
            try:
                answer = await client.post(target, content=body, headers=headers)
            except httpx.TransportError:
                return Response("the slack_hitl bridge did not answer", status_code=502)
        return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {
            "configured": bool(os.environ.get("SLACK_SIGNING_SECRET") and os.environ.get("SLACK_HITL_INTERACTIONS_URL"))
        }

    return app


class SlackHitlPlugin(AirflowPlugin):
    name = "slack_hitl"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/slack-hitl", "name": "slack_hitl interactions relay"}]
