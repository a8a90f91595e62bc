"""The slack_hitl web app: Slack's interactivity endpoint, a health check, and the app's lifecycle.

``build_app`` turns an engine and its publisher into the ASGI app; the composition root
(``slack_hitl.service.app.SlackHitl``) calls it, and so may code that wires its own engine. Its
lifespan runs the background work (the engine's sweeper: expiry, retries, take-over of dead
resumes; re-renders of messages that were out of date when the last process stopped) and, on
the way out, lets work in flight finish for a grace period and hands back the resumes that
did not, so another process (or the next start) retries them at once.
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

from slack_hitl.background import BackgroundTasks
from slack_hitl.engine import Engine
from slack_hitl.slack.app_home import AppHome
from slack_hitl.slack.client import kept_alive
from slack_hitl.slack.endpoint import INTERACTIONS_PATH, EventsEndpoint, InteractionsEndpoint
from slack_hitl.slack.events import EVENTS_PATH, EventsHandler
from slack_hitl.slack.interactions import InteractionHandler
from slack_hitl.slack.publisher import SlackPublisher
from slack_hitl.slack.socket_mode import PING_INTERVAL_SECONDS, SocketModeConnection
from slack_hitl.store import Store

log = structlog.get_logger("slack_hitl.server")

SHUTDOWN_ERROR = "the server stopped during the resume; it is retried"


def build_app(
    *,
    engine: Engine,
    publisher: SlackPublisher,
    signing_secret: str,
    sweep_interval: float = 2.0,
    stale_sweep_interval: float = 30.0,
    shutdown_grace_seconds: float = 10.0,
    background: bool = True,
    socket_mode_app_token: str | None = None,
    socket_ping_interval_seconds: float = PING_INTERVAL_SECONDS,
) -> FastAPI:
    """The app serving ``/slack/interactions``, ``/slack/events`` and ``/healthz``; ``engine`` must
    publish through ``publisher``.

    With ``background`` (the default) its lifespan also runs the sweepers: expiry, retries and due
    resumes, take-over of dead resumes, re-renders of out-of-date messages. A service whose worker
    processes run them builds its web app without. With ``socket_mode_app_token`` (an ``xapp-``
    token) its lifespan also holds a Socket Mode connection, whose envelopes go to the same handlers.
    """
    if engine.publisher is not publisher:
        raise ValueError(
            "the engine publishes through another publisher: build it with Engine(..., publisher=publisher)"
        )
    handler = InteractionHandler(engine, publisher.client)
    home = AppHome(engine.store, publisher.client, handler.groups)
    handler.stale_tab = home.opened
    publisher.rendered_listeners.append(home.approval_changed)
    events = EventsHandler(home)
    socket_mode = None
    if socket_mode_app_token is not None:
        socket_mode = SocketModeConnection(
            handler,
            events,
            app_token=socket_mode_app_token,
            web_client=publisher.client,
            ping_interval_seconds=socket_ping_interval_seconds,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with kept_alive(publisher.client):
            sweepers = BackgroundTasks()
            if background:
                sweepers.spawn(engine.run_sweeper(sweep_interval))
                sweepers.spawn(publisher.run_stale_sweeper(stale_sweep_interval))
                await publisher.rerender_stale()
            if socket_mode is not None:
                await socket_mode.start()
            _settle_the_heap()
            log.info("app_started", background=background, socket_mode=socket_mode is not None)
            try:
                yield
            finally:
                if socket_mode is not None:
                    await socket_mode.stop()  # Slack redelivers what was not acked to another connection
                await sweepers.cancel()
                # Finish what is under way; what does not finish in time is cancelled, and its
                # resume handed back to be retried; its re-render is picked up after restart.
                await _within(handler.drain(), shutdown_grace_seconds)
                await _within(engine.drain(), shutdown_grace_seconds)
                await _within(publisher.drain(), shutdown_grace_seconds)
                await _within(events.drain(), shutdown_grace_seconds)  # the tabs the last renders refresh
                try:
                    await release_unfinished_resumes(engine.store)
                except Exception as error:  # the database is away: their leases run out, others take over
                    log.warning("resumes_not_handed_back", error=f"{type(error).__name__}: {error}")
                await publisher.close()
                log.info("app_stopped")

    app = _SlackHitlApp(
        InteractionsEndpoint(handler, signing_secret),
        EventsEndpoint(events, signing_secret),
        title="slack_hitl",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.publisher = publisher
    app.state.interactions = handler
    app.state.events = events
    app.state.socket_mode = socket_mode

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def release_unfinished_resumes(store: Store) -> list[str]:
    """Hand back the resumes this process still holds, so another process retries them now instead
    of after their lease runs out, without spending an attempt (a stop during the last allowed
    attempt must not strand the approval). The release is a CAS on this process's lease: others' stay."""
    released = []
    for approval in await store.list_approvals(status="resuming", limit=1000):
        if await store.hand_back(approval.id, SHUTDOWN_ERROR):
            log.warning("resume_released_at_shutdown", approval_id=approval.id)
            released.append(approval.id)
    return released


async def _within(work: Awaitable[None], seconds: float) -> None:
    try:
        await asyncio.wait_for(work, seconds)
    except TimeoutError:
        log.warning("shutdown_work_abandoned", seconds=seconds)


def _settle_the_heap() -> None:
    """Keep what exists at start-up out of every later garbage collection.

    The modules, routes, models and clients loaded by now live as long as the process, yet each
    full collection would walk all of them again, costing acks CPU and adding collection pauses
    to their tail latency (benchmarks/bench_interactions.py measures both). Reference counting
    still frees any of them that are dropped; only reference cycles among them would stay until exit.
    """
    gc.collect()
    gc.freeze()


class _SlackHitlApp(FastAPI):
    """FastAPI, but Slack's POSTs to ``/slack/interactions`` go to the endpoint before FastAPI sees them.

    FastAPI's own work per request (its telemetry check, Starlette's middleware stack and
    routing) is a large share of what acknowledging a click costs, and clicks are the load that
    must be acknowledged within Slack's 3 seconds (benchmarks/bench_interactions.py measures the
    ack against the durable-ack floor). The other routes (``/healthz``, the service's ``/v1`` API)
    are FastAPI's as usual.
    """

    def __init__(self, interactions: InteractionsEndpoint, events: EventsEndpoint, **options: Any) -> None:
        super().__init__(**options)
        self._interactions = interactions
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == INTERACTIONS_PATH:
            await self._interactions(scope, receive, send)
        elif scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == EVENTS_PATH:
            await self._events(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)
