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

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

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
) -> FastAPI:
    """The app serving ``/slack/interactions`` and ``/healthz``; ``engine`` must publish through ``publisher``."""
    if engine.publisher is not publisher:
        raise ValueError(
            "the engine publishes through another publisher: build it with Engine(..., publisher=publisher)"
        )
    handler = InteractionHandler(engine, publisher.client)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with kept_alive(publisher.client):
            background = [
                asyncio.create_task(engine.run_sweeper(sweep_interval)),
                asyncio.create_task(publisher.run_stale_sweeper(stale_sweep_interval)),
            ]
            await publisher.rerender_stale()
            _settle_the_heap()
            log.info("app_started")
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                # Finish what is under way; whatever does not finish in time is picked up after restart.
                await _within(handler.drain(), shutdown_grace_seconds)
                await _within(engine.drain(), shutdown_grace_seconds)
                await _within(publisher.drain(), shutdown_grace_seconds)
                await publisher.close()
                log.info("app_stopped")

    app = FastAPI(title="slack_hitl", lifespan=lifespan)
    app.state.engine = engine
    app.state.publisher = publisher
    app.state.interactions = handler
    app.add_middleware(
        _InteractionsFirst, endpoint=InteractionsEndpoint(handler, signing_secret), path=INTERACTIONS_PATH
    )

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


class _InteractionsFirst:
    """Hands Slack's POSTs to the interactions endpoint before FastAPI's routing sees them.

    Routing a request through FastAPI costs about as much as acknowledging a click; the other
    routes (``/healthz``, the service's ``/v1`` API) go on to FastAPI as usual.
    """

    def __init__(self, app: ASGIApp, *, endpoint: InteractionsEndpoint, path: str) -> None:
        self.app = app
        self.endpoint = endpoint
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)
