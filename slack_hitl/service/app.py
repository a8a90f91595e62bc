"""The service put together: settings in, a running slack_hitl out.

``SlackHitl`` is the one composition of store, Slack client, publisher, engine (with the
webhook adapter and yours), interaction handler, the ``/v1`` API and the web app. Use it three
ways: serve ``hitl.app`` (``slack-hitl serve`` does), include ``hitl.router`` in your own
FastAPI app, or open approvals and await them in your own code::

    async with SlackHitl.from_settings(adapters=[my_adapter]) as hitl:
        approval = await hitl.open(title="Deploy?", requirements=[...], channel="C0123", adapter=my_adapter)
        final = await hitl.wait(approval.id)
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Literal

import aiohttp
import structlog
from fastapi import APIRouter, FastAPI
from slack_sdk.errors import SlackApiError

from slack_hitl.adapter import Adapter
from slack_hitl.approvals import SYSTEM, Approval, ExpiryPolicy
from slack_hitl.engine import Engine
from slack_hitl.migrations import SchemaMismatch
from slack_hitl.requirements import Requirement
from slack_hitl.server import build_app
from slack_hitl.service.api import api_router
from slack_hitl.service.inputs import CallbackIn
from slack_hitl.service.settings import Settings, SettingsInvalid, load_settings
from slack_hitl.service.webhook import ADAPTER_NAME, WebhookAdapter
from slack_hitl.slack.client import build_slack_client, slack_error
from slack_hitl.slack.endpoint import interactions_router
from slack_hitl.slack.interactions import InteractionHandler
from slack_hitl.slack.publisher import SlackPublisher
from slack_hitl.store import Store, database_url

log = structlog.get_logger("slack_hitl.service.app")

SHUTDOWN_ERROR = "the server stopped during the resume; it is retried"


def shown_database_url(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def open_store(settings: Settings) -> Store:
    """The store, at the schema this code needs: SQLite is upgraded in place; PostgreSQL must be
    upgraded by ``slack-hitl db upgrade`` (several processes may share it), else ``SchemaMismatch``."""
    if settings.is_sqlite:
        return await Store.open(settings.database_url)
    store = await Store.open(settings.database_url, create=False)
    try:
        await store.check_schema()
    except BaseException:
        await store.close()
        raise
    return store


async def check_slack_token(hitl: SlackHitl) -> None:
    """``auth.test`` with the bot token: a wrong token or an unreachable Slack stops the start, named."""
    try:
        await hitl.publisher.identity.get()
    except SlackApiError as error:
        raise SettingsInvalid(f"SLACK_BOT_TOKEN is not accepted by Slack ({slack_error(error)})") from None
    except (aiohttp.ClientError, OSError) as error:
        raise SettingsInvalid(
            f"SLACK_API_URL {hitl.settings.slack_api_url} cannot be reached: {type(error).__name__}: {error}"
        ) from None


async def release_unfinished_resumes(store: Store) -> list[str]:
    """Hand back the resumes this process still holds, so another process retries them now instead
    of after their lease runs out. The release is a CAS on this process's lease: others' stay."""
    released = []
    for approval in await store.list(status="resuming", limit=1000):
        if await store.release_for_retry(approval.id, SHUTDOWN_ERROR, retry_at=dt.datetime.now(dt.UTC)):
            log.warning("resume_released_at_shutdown", approval_id=approval.id)
            released.append(approval.id)
    return released


Role = Literal["all", "web", "worker"]
"""What a process does. ``all``: everything (a library, or ``serve`` without workers). ``web``:
acknowledges Slack and serves the API, leaving re-renders and resumes to workers. ``worker``:
re-renders and resumes what the store says is due, and runs the sweepers; it serves no HTTP."""

WORKER_POLL_SECONDS = 0.1
"""How often a worker looks in the store for out-of-date messages and resumes that are due."""


class SlackHitl:
    """slack_hitl as a service or a library: see the module docstring.

    Attributes: ``settings``, ``store``, ``client`` (the Slack Web API client), ``publisher``,
    ``engine``, ``handler`` (Slack interactions, also for Bolt), ``app`` (``/slack/interactions``,
    ``/v1``, ``/healthz``, the OpenAPI schema, and a lifespan that runs the sweepers) and
    ``router`` (the same routes, to include in your own FastAPI app). ``role`` says which of the
    service's work this process does (see ``Role``).
    """

    def __init__(
        self, settings: Settings, store: Store, *, adapters: Iterable[Adapter] = (), role: Role = "all"
    ) -> None:
        self.settings = settings
        self.store = store
        self.role = role
        store.lease_seconds = settings.lease_seconds
        store.claims_resumes = role != "web"
        signing_secret = settings.slack_signing_secret.get_secret_value()
        api_token = settings.api_token.get_secret_value()
        self.client = build_slack_client(settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
        self.publisher = SlackPublisher(self.client, store, rerenders=role != "web")
        self.engine = Engine(
            store,
            adapters=[WebhookAdapter(timeout_seconds=settings.webhook_timeout_seconds), *adapters],
            publisher=self.publisher,
            max_attempts=settings.max_attempts,
            retry_backoff_seconds=settings.retry_backoff_seconds,
            max_concurrent_resumes=settings.max_concurrent_resumes,
        )
        polls = role == "worker"
        self.app = build_app(
            engine=self.engine,
            publisher=self.publisher,
            signing_secret=signing_secret,
            sweep_interval=WORKER_POLL_SECONDS if polls else settings.sweep_interval_seconds,
            stale_sweep_interval=WORKER_POLL_SECONDS if polls else 30.0,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            background=role != "web",
        )
        self.app.title = "slack_hitl"
        self.app.description = "Human-in-the-loop approvals in Slack: open approvals, read and cancel them."
        self.handler: InteractionHandler = self.app.state.interactions
        api = api_router(self.engine, api_token=api_token)
        self.app.include_router(api)
        self._wrap_lifespan()
        self.router = APIRouter()
        self.router.include_router(interactions_router(self.handler, signing_secret))
        self.router.include_router(api)

    def _wrap_lifespan(self) -> None:
        started = self.app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
            async with started(app) as state:
                yield state
            await release_unfinished_resumes(self.store)

        self.app.router.lifespan_context = lifespan

    # -- starting and stopping ---------------------------------------------------------------

    @classmethod
    async def connect(
        cls, settings: Settings | None = None, *, adapters: Iterable[Adapter] = (), role: Role = "all"
    ) -> SlackHitl:
        """Open the store (checking its schema) and check the Slack token; nothing runs yet.

        Raises ``SettingsInvalid`` or ``SchemaMismatch`` with a message naming what to fix.
        """
        settings = settings or load_settings()
        store = await open_store(settings)
        hitl = cls(settings, store, adapters=adapters, role=role)
        try:
            await check_slack_token(hitl)
        except BaseException:
            await hitl.close()
            raise
        log.info("connected", database=shown_database_url(database_url(settings.database_url)))
        return hitl

    @classmethod
    @contextlib.asynccontextmanager
    async def from_settings(
        cls, settings: Settings | None = None, *, adapters: Iterable[Adapter] = (), role: Role = "all"
    ) -> AsyncIterator[SlackHitl]:
        """``connect``, then run the background work (expiry, retries, re-renders) until the block ends."""
        hitl = await cls.connect(settings, adapters=adapters, role=role)
        try:
            async with hitl.app.router.lifespan_context(hitl.app):
                yield hitl
        finally:
            await hitl.close()

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
    ) -> Approval:
        """Open an approval and post it. ``adapter`` resumes the run once every row is decided (your
        own adapter object, or the webhook one with ``callback``, or nothing to resume at all)."""
        if callback is not None:
            if adapter != ADAPTER_NAME:
                raise ValueError("a callback is for the webhook adapter; your own adapter resumes the run itself")
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
    "WORKER_POLL_SECONDS",
    "Role",
    "SchemaMismatch",
    "SlackHitl",
    "check_slack_token",
    "open_store",
    "release_unfinished_resumes",
]
