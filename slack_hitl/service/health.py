"""For operators: ``/readyz`` (may this process take traffic?) and ``/metrics`` (Prometheus).

``/healthz`` (in ``slack_hitl.server``) only says the process answers: a liveness check that
costs nothing. ``/readyz`` answers 503, naming what is wrong, until the database answers at the
schema this code needs and Slack's ``auth.test`` has succeeded within ``AUTH_FRESH_SECONDS``; a
load balancer sends clicks only to a process that can act on them. ``/metrics`` is every
process's counters (``slack_hitl.metrics``) and the store's figures read when asked.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from slack_hitl.errors import StoreUnavailable
from slack_hitl.metrics import CONTENT_TYPE, exposition
from slack_hitl.migrations import SchemaMismatch
from slack_hitl.slack.client import slack_error
from slack_hitl.store import Store

log = structlog.get_logger("slack_hitl.service.health")

AUTH_FRESH_SECONDS = 60.0
"""How long a successful ``auth.test`` keeps the process ready before ``/readyz`` asks Slack again."""
CHECK_TIMEOUT_SECONDS = 5.0
"""How long ``/readyz`` waits for the database or Slack before it calls the process not ready."""


class Readiness:
    """Whether this process can act on requests: its database at the right schema, its token accepted."""

    def __init__(self, store: Store, client: AsyncWebClient, *, max_attempts: int) -> None:
        self.store = store
        self.client = client
        self.max_attempts = max_attempts
        self._auth_ok_at: float | None = None

    async def problems(self) -> list[str]:
        """What keeps the process from being ready; empty when it is."""
        problems = []
        try:
            await asyncio.wait_for(self.store.check_schema(), CHECK_TIMEOUT_SECONDS)
        except SchemaMismatch as mismatch:
            problems.append(f"database: {mismatch}")
        except (StoreUnavailable, SQLAlchemyError, OSError, TimeoutError) as error:
            problems.append(f"database: not reachable ({type(error).__name__})")
        if self._auth_ok_at is None or time.monotonic() - self._auth_ok_at > AUTH_FRESH_SECONDS:
            try:
                await asyncio.wait_for(self.client.auth_test(), CHECK_TIMEOUT_SECONDS)
            except SlackApiError as error:
                problems.append(f"slack: auth.test failed ({slack_error(error)})")
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                problems.append(f"slack: not reachable ({type(error).__name__})")
            else:
                self._auth_ok_at = time.monotonic()
        if problems:
            log.warning("not_ready", problems=problems)
        return problems

    async def metrics(self) -> bytes:
        """``/metrics``: the counters, and the store's figures when the database answers."""
        figures: dict[str, tuple[str, float]] = {}
        try:
            pending, oldest_due = await asyncio.wait_for(
                self.store.operator_figures(max_attempts=self.max_attempts), CHECK_TIMEOUT_SECONDS
            )
        except (StoreUnavailable, SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("metrics_without_store_figures", error=f"{type(error).__name__}: {error}")
        else:
            figures["slack_hitl_approvals_pending"] = ("Approvals waiting for decisions or their resume.", pending)
            figures["slack_hitl_oldest_due_resume_age_seconds"] = (
                "How long the longest-waiting resume that is due has waited for a worker (0: none).",
                oldest_due,
            )
        return exposition(figures)


def operator_router(readiness: Readiness) -> APIRouter:
    """``GET /readyz`` and ``GET /metrics`` (outside the API's schema: they are for operators' tools)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        problems = await readiness.problems()
        if problems:
            return JSONResponse({"status": "not_ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(await readiness.metrics(), media_type=CONTENT_TYPE)

    return router
