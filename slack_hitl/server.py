"""The slack_hitl web app: Slack's interactivity endpoint, a health check, and the background work.

``build_app`` is a small factory so that other surfaces (the HTTP API, settings) can be added
to the same app. Its lifespan runs the engine's sweeper (expiry, retries, take-over of dead
resumes) and re-renders the Slack messages that were out of date when the last process stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from slack_hitl.engine import Engine
from slack_hitl.slack.client import kept_alive
from slack_hitl.slack.endpoint import INTERACTIONS_PATH, InteractionsEndpoint
from slack_hitl.slack.interactions import InteractionHandler
from slack_hitl.slack.publisher import SlackPublisher

log = structlog.get_logger("slack_hitl.server")


def build_app(
    *,
    engine: Engine,
    publisher: SlackPublisher,
    signing_secret: str,
    sweep_interval: float = 2.0,
    stale_sweep_interval: float = 30.0,
    shutdown_grace_seconds: float = 10.0,
    background: bool = True,
) -> FastAPI:
    """The app serving ``/slack/interactions`` and ``/healthz``; ``engine`` must publish through ``publisher``.

    With ``background`` (the default) its lifespan also runs the sweepers: expiry, retries and due
    resumes, take-over of dead resumes, re-renders of out-of-date messages. A service whose worker
    processes run them builds its web app without.
    """
    if engine.publisher is not publisher:
        raise ValueError(
            "the engine publishes through another publisher: build it with Engine(..., publisher=publisher)"
        )
    handler = InteractionHandler(engine, publisher.client)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with kept_alive(publisher.client):
            sweepers = []
            if background:
                sweepers = [
                    asyncio.create_task(engine.run_sweeper(sweep_interval)),
                    asyncio.create_task(publisher.run_stale_sweeper(stale_sweep_interval)),
                ]
                await publisher.rerender_stale()
            _settle_the_heap()
            log.info("app_started", background=background)
            try:
                yield
            finally:
                for task in sweepers:
                    task.cancel()
                await asyncio.gather(*sweepers, return_exceptions=True)
                # Finish what is under way; whatever does not finish in time is picked up after restart.
                await _within(handler.drain(), shutdown_grace_seconds)
                await _within(engine.drain(), shutdown_grace_seconds)
                await _within(publisher.drain(), shutdown_grace_seconds)
                await publisher.close()
                log.info("app_stopped")

    app = _SlackHitlApp(InteractionsEndpoint(handler, signing_secret), title="slack_hitl", lifespan=lifespan)
    app.state.engine = engine
    app.state.publisher = publisher
    app.state.interactions = handler

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _within(work: Awaitable[None], seconds: float) -> None:
    try:
        await asyncio.wait_for(work, seconds)
    except TimeoutError:
        log.warning("shutdown_work_abandoned", seconds=seconds)


def _settle_the_heap() -> None:
    """Keep what exists at start-up out of every later garbage collection.

    The modules, routes, models and clients loaded by now live as long as the process, yet each
    full collection walked all of them again: a quarter of an ack's CPU under load, and pauses of
    tens of milliseconds in its tail latency. Reference counting still frees any of them that
    are dropped; only reference cycles among them would stay until exit.
    """
    gc.collect()
    gc.freeze()


class _SlackHitlApp(FastAPI):
    """FastAPI, but Slack's POSTs to ``/slack/interactions`` go to the endpoint before FastAPI sees them.

    FastAPI's own work per request (its telemetry check, Starlette's middleware stack and
    routing) costs about as much as acknowledging a click. The other routes (``/healthz``,
    the service's ``/v1`` API) are FastAPI's as usual.
    """

    def __init__(self, interactions: InteractionsEndpoint, **options: Any) -> None:
        super().__init__(**options)
        self._interactions = interactions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == INTERACTIONS_PATH:
            await self._interactions(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)
