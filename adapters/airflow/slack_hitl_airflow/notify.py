"""The bridge's push endpoint: Airflow's notifier announces a new request, the bridge polls at once.

The payload is only a hint (which task instance asked); the bridge still reads the request
from Airflow's API, so a forged call can at worst cause an extra poll. It is still
authenticated with a shared token, compared in constant time.
"""

from __future__ import annotations

import hmac
import json

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from slack_hitl_airflow.bridge import AirflowBridge

log = structlog.get_logger("slack_hitl_airflow.notify")

NOTIFY_PATH = "/airflow/notify"


def notify_app(bridge: AirflowBridge, *, token: str | None) -> Starlette:
    """An ASGI app with only ``POST /airflow/notify``."""
    return Starlette(routes=[notify_route(bridge, token=token)])


def notify_route(bridge: AirflowBridge, *, token: str | None) -> Route:
    """``POST /airflow/notify``, to add to the app that serves the Slack interactions endpoint."""

    async def notify(request: Request) -> JSONResponse:
        if token is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "invalid token"}, status_code=401)
        try:
            hint = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(hint, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        bridge.announce(str(hint.get("ti_id") or ""))
        log.info(
            "airflow_request_announced",
            dag_id=hint.get("dag_id"),
            run_id=hint.get("run_id"),
            task_id=hint.get("task_id"),
        )
        return JSONResponse({"ok": True}, status_code=202)

    return Route(NOTIFY_PATH, notify, methods=["POST"])
