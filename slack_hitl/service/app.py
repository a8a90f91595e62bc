"""The composition root: configuration in, a running slack_hitl out.

``SlackHitl`` is the one place where the objects of a running slack_hitl are built and wired:
the store's part in resuming, the Slack client, the publisher, the engine (with the webhook
adapter and yours), the interaction handler, and the web app (``/slack/interactions``,
``/healthz``, the ``/v1`` API) whose lifespan runs the sweepers and, at shutdown, hands back
the resumes that did not finish. ``slack-hitl serve`` and ``slack-hitl worker``, the test
harness (``slack_hitl.testing.HitlHarness``), the demo and the Airflow bridge's service all
build it here, so what the tests run is what production runs. Use it three ways: serve
``hitl.app`` (``slack-hitl serve`` does), include ``hitl.router`` in your own FastAPI app, or
open approvals and await them in your own code::

    async with SlackHitl.from_settings(adapters=[my_adapter]) as hitl:
        approval = await hitl.open(title="Deploy?", requirements=[...], channel="C0123", adapter=my_adapter)
        final = await hitl.wait(approval.id)
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import aiohttp
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.errors import SlackApiError

from slack_hitl.adapter import Adapter
from slack_hitl.approvals import SYSTEM, Approval, ExpiryPolicy, Reminders
from slack_hitl.engine import Engine
from slack_hitl.errors import StoreUnavailable
from slack_hitl.migrations import SchemaMismatch
from slack_hitl.requirements import Requirement
from slack_hitl.server import SHUTDOWN_ERROR, build_app, release_unfinished_resumes
from slack_hitl.service.api import api_router
from slack_hitl.service.callback_hosts import CallbackHosts
from slack_hitl.service.health import Readiness, operator_router
from slack_hitl.service.inputs import CallbackIn
from slack_hitl.service.settings import ServiceConfig, Settings, SettingsInvalid, load_settings, shown_database_url
from slack_hitl.service.webhook import ADAPTER_NAME, WebhookAdapter
from slack_hitl.slack.client import build_slack_client, slack_error
from slack_hitl.slack.endpoint import interactions_router
from slack_hitl.slack.events import EventsHandler
from slack_hitl.slack.interactions import InteractionHandler
from slack_hitl.slack.publisher import SlackPublisher
from slack_hitl.slack.socket_mode import SocketModeConnection
from slack_hitl.store import Store, database_url

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.12 on

log = structlog.get_logger("slack_hitl.service.app")

Role = Literal["all", "web", "worker"]
"""What a process does. ``all``: everything (a library, or ``serve`` without workers). ``web``:
acknowledges Slack and serves the API, leaving re-renders and resumes to workers. ``worker``:
re-renders and resumes what the store says is due, and runs the sweepers; it serves no HTTP."""

EngineFactory = Callable[..., Engine]
"""Builds the engine, called like ``Engine(store, adapters=..., publisher=..., max_attempts=..., ...)``."""


class WiringOptions(TypedDict, total=False):
    """What ``SlackHitl`` takes beside the configuration and the store (see its constructor)."""

    adapters: Iterable[Adapter]
    role: Role
    engine_factory: EngineFactory
    engine_options: Mapping[str, Any] | None


async def store_unavailable(request: Request, error: Exception) -> Response:
    """``503`` with ``Retry-After`` while the database cannot be reached: nothing was done, try again."""
    log.warning("request_not_served", path=request.url.path, error=str(error))
    detail = "slack_hitl cannot reach its database just now; nothing was done: try again"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


def service_config(source: ServiceConfig | Settings) -> ServiceConfig:
    return source if isinstance(source, ServiceConfig) else source.service_config()


async def open_store(config: ServiceConfig | Settings, role: Role = "all") -> Store:
    """The store of a process in ``role``, at the schema this code needs: SQLite (and PostgreSQL with
    ``upgrade_postgres``) is upgraded in place; else PostgreSQL must be upgraded by ``slack-hitl db
    upgrade``, or ``SchemaMismatch``. A web process leaves resumes to the workers: its store does not
    claim them."""
    config = service_config(config)
    lease, claims = config.lease_seconds, role != "web"
    if config.is_sqlite or config.upgrade_postgres:
        return await Store.open(config.database_url, lease_seconds=lease, claims_resumes=claims)
    store = await Store.open(config.database_url, create=False, lease_seconds=lease, claims_resumes=claims)
    try:
        await store.check_schema()
    except BaseException:
        await store.close()
        raise
    return store


async def check_slack_token(hitl: SlackHitl) -> None:
    """``auth.test`` with the bot token (and, in Socket Mode, ``apps.connections.open`` with the app
    token): a wrong token or an unreachable Slack stops the start, named."""
    try:
        await hitl.publisher.identity.get()
    except SlackApiError as error:
        raise SettingsInvalid(f"SLACK_BOT_TOKEN is not accepted by Slack ({slack_error(error)})") from None
    except (aiohttp.ClientError, OSError) as error:
        raise SettingsInvalid(
            f"SLACK_API_URL {hitl.config.slack_api_url} cannot be reached: {type(error).__name__}: {error}"
        ) from None
    if hitl.socket_mode is not None:
        try:  # the URL it hands out is left unused: the connection asks for its own
            await hitl.client.apps_connections_open(app_token=hitl.socket_mode.app_token)
        except SlackApiError as error:
            raise SettingsInvalid(f"SLACK_APP_TOKEN is not accepted by Slack ({slack_error(error)})") from None


class SlackHitl:
    """slack_hitl as a service or a library, wired once: see the module docstring.

    Attributes: ``config`` (the ``ServiceConfig``; ``settings`` too when built from ``Settings``),
    ``store``, ``client`` (the Slack Web API client), ``publisher``, ``engine``, ``handler`` (Slack
    interactions, also for Bolt), ``events`` (the Events API: the App Home), ``socket_mode`` (the
    Socket Mode connection, when the config has an app token and the process acknowledges Slack),
    ``app`` (``/slack/interactions``, ``/slack/events``, ``/v1`` when the config has an
    API token, ``/healthz``, the OpenAPI schema, and a lifespan that runs the sweepers) and
    ``router`` (the same routes, to include in your own FastAPI app). ``role`` says which of the
    service's work this process does (see ``Role``). ``engine_factory`` builds the engine (an
    ``Engine`` subclass works as it is), given ``engine_options`` on top of the config's.
    """

    def __init__(
        self,
        config: ServiceConfig | Settings,
        store: Store,
        *,
        adapters: Iterable[Adapter] = (),
        role: Role = "all",
        engine_factory: EngineFactory = Engine,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = config if isinstance(config, Settings) else None
        self.config = config = service_config(config)
        self.store = store
        self.role = role
        if store.claims_resumes == (role == "web") or store.lease_seconds != config.lease_seconds:
            raise ValueError(f"a {role!r} process needs the store opened for it: open_store(config, {role!r})")
        self.client = build_slack_client(config.slack_bot_token, base_url=config.slack_api_url)
        self.publisher = SlackPublisher(
            self.client,
            store,
            channel=config.channel,
            update_window_seconds=config.update_window_seconds,
            retry_seconds=config.render_retry_seconds,
            stream_limits=config.stream_limits,
            rerenders=role != "web",
        )
        options: dict[str, Any] = {
            "max_attempts": config.max_attempts,
            "retry_backoff_seconds": config.retry_backoff_seconds,
            "max_concurrent_resumes": config.max_concurrent_resumes,
            **(engine_options or {}),
        }
        self.webhook = WebhookAdapter(
            timeout_seconds=config.webhook_timeout_seconds,
            allowed_hosts=CallbackHosts.parse(config.callback_allowed_hosts),
        )
        self.engine = engine_factory(
            store,
            adapters=[self.webhook, *adapters],
            publisher=self.publisher,
            **options,
        )
        # A worker is woken by the web process (store.wake_workers); its sweeps only catch lost wake-ups.
        self.app = build_app(
            engine=self.engine,
            publisher=self.publisher,
            signing_secret=config.signing_secret,
            sweep_interval=config.sweep_interval_seconds,
            stale_sweep_interval=(
                config.sweep_interval_seconds if role == "worker" else config.stale_sweep_interval_seconds
            ),
            shutdown_grace_seconds=config.shutdown_grace_seconds,
            background=role != "web",
            # Slack's side of the service: only a process that acknowledges Slack holds a connection.
            socket_mode_app_token=config.slack_app_token if role != "worker" else None,
            socket_ping_interval_seconds=config.socket_ping_interval_seconds,
        )
        self.app.description = "Human-in-the-loop approvals in Slack: open approvals, read and cancel them."
        self.handler: InteractionHandler = self.app.state.interactions
        self.readiness = Readiness(store, self.client, max_attempts=config.max_attempts)
        self.app.include_router(operator_router(self.readiness))
        self.router = APIRouter()
        self.events: EventsHandler = self.app.state.events
        self.socket_mode: SocketModeConnection | None = self.app.state.socket_mode
        self.router.include_router(interactions_router(self.handler, config.signing_secret, events=self.events))
        if config.api_token is not None:
            api = api_router(self.engine, api_token=config.api_token, user_groups=self.handler.groups)
            self.app.include_router(api)
            self.router.include_router(api)
            self.app.add_exception_handler(StoreUnavailable, store_unavailable)

    # -- starting and stopping ---------------------------------------------------------------

    @classmethod
    async def connect(
        cls, config: ServiceConfig | Settings | None = None, **options: Unpack[WiringOptions]
    ) -> SlackHitl:
        """Open the store (checking its schema) and check the Slack token; nothing runs yet.

        Without ``config``, the settings come from the environment; ``options`` are the constructor's.
        Raises ``SettingsInvalid`` or ``SchemaMismatch`` with a message naming what to fix.
        """
        config = config or load_settings()
        store = await open_store(config, options.get("role", "all"))
        hitl = cls(config, store, **options)
        try:
            await check_slack_token(hitl)
        except BaseException:
            await hitl.close()
            raise
        log.info("connected", role=hitl.role, database=shown_database_url(database_url(hitl.config.database_url)))
        return hitl

    @classmethod
    @contextlib.asynccontextmanager
    async def from_settings(
        cls, config: ServiceConfig | Settings | None = None, **options: Unpack[WiringOptions]
    ) -> AsyncIterator[SlackHitl]:
        """``connect``, then run the background work (expiry, retries, re-renders) until the block ends."""
        hitl = await cls.connect(config, **options)
        try:
            async with hitl.running():
                yield hitl
        finally:
            await hitl.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SlackHitl]:
        """Run the app's lifespan without serving it: what a worker does (``serve`` runs it under uvicorn).

        Inside, the sweepers run; on the way out, work in flight finishes within the shutdown grace
        and the resumes that did not are handed back.
        """
        async with self.app.router.lifespan_context(self.app):
            yield self

    async def close(self) -> None:
        """Close the Slack client's session and the store."""
        await self.publisher.close()
        await self.store.close()

    # -- the in-process API ------------------------------------------------------------------

    async def open(
        self,
        *,
        title: str,
        requirements: Sequence[Requirement],
        channel: str,
        adapter: Adapter | str = ADAPTER_NAME,
        callback: CallbackIn | None = None,
        resume_state: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        expires_at: dt.datetime | None = None,
        expiry_policy: ExpiryPolicy = "reject",
        idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
        requested_by: str | None = None,
        reminders: Reminders | None = None,
    ) -> Approval:
        """Open an approval and post it. ``adapter`` resumes the run once every row is decided (your
        own adapter object, or the webhook one with ``callback``, or nothing to resume at all).
        ``requested_by`` (a Slack user id) is who asked: rows with ``Deciders(not_requester=True)`` refuse them."""
        if callback is not None:
            if adapter != ADAPTER_NAME:
                raise ValueError("a callback is for the webhook adapter; your own adapter resumes the run itself")
            await self.webhook.check_callback(str(callback.url))
            resume_state = {**(resume_state or {}), "callback": callback.model_dump(mode="json")}
        approval = await self.engine.open_approval(
            title=title,
            requirements=requirements,
            adapter=adapter,
            resume_state=resume_state,
            channel=channel,
            thread_ts=thread_ts,
            expires_at=expires_at,
            expiry_policy=expiry_policy,
            idempotency_key=idempotency_key,
            metadata=metadata,
            actor=SYSTEM,
            requested_by=requested_by,
            reminders=reminders,
        )
        return await self.store.get(approval.id)

    async def get(self, approval_id: str) -> Approval:
        """The approval as stored now (``UnknownApproval`` if there is none)."""
        return await self.store.get(approval_id)

    async def wait(self, approval_id: str, timeout: float | None = None) -> Approval:
        """Wait until the approval is final (decided and resumed, expired or cancelled) and return it."""
        return await self.engine.wait_until_final(approval_id, timeout=timeout)

    async def cancel(self, approval_id: str, reason: str | None = None) -> Approval:
        """Cancel a pending approval (``ApprovalClosed`` if it no longer is)."""
        await self.engine.cancel(approval_id, SYSTEM, reason)
        return await self.store.get(approval_id)


__all__ = [
    "SHUTDOWN_ERROR",
    "EngineFactory",
    "Role",
    "SchemaMismatch",
    "ServiceConfig",
    "SlackHitl",
    "WiringOptions",
    "check_slack_token",
    "open_store",
    "release_unfinished_resumes",
    "service_config",
]
