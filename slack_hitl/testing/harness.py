"""Everything slack_hitl needs, running for real on loopback: for end-to-end tests of adapters and apps.

``HitlHarness`` starts a ``SlackEmulator`` and builds slack_hitl exactly as ``slack-hitl serve``
does, through the composition root (``slack_hitl.service.app.SlackHitl``): a ``Store`` (a SQLite
file in a temporary directory unless given a database URL), the Slack client (the real
slack_sdk one, talking to the emulator), the publisher, the engine with the webhook adapter and
your adapters, the interaction handler and the app (``/slack/interactions``, ``/v1``,
``/healthz``), served with uvicorn on a free 127.0.0.1 port in the test's own event loop::

    async with HitlHarness(adapters=[MyAdapter()]) as hitl:
        approval = await hitl.engine.open_approval(title="Deploy", requirements=[...], adapter="mine")
        approval = await hitl.store.get(approval.id)  # now it has its message_ts
        alice = hitl.user("U0ALICE", "alice")
        await alice.click(hitl.channel, approval.message_ts, button_text="Approve", near="deploy")
        final = await hitl.engine.wait_until_final(approval.id, timeout=10)
        await hitl.settle()  # the message is re-rendered and the continuation streamed
        print(hitl.emulator.message(hitl.channel, approval.message_ts).blocks)
        print([m.text for m in hitl.thread(approval)])

``restart()`` stops the app and the engine (as a deploy would: work in flight finishes within
``shutdown_grace_seconds``, unfinished resumes are handed back) and starts new ones on the same
database and the same emulator: use it to check that work due at the restart is picked up.
``restart(adapters=[...])`` starts the new engine with other adapters (a new process rebuilds
its agents). An adapter that needs its own ``Engine`` subclass passes ``engine_factory``.

``role`` splits the work as ``serve`` does between its processes: a harness in the ``web`` role
acknowledges clicks and leaves re-renders and resumes to another harness in the ``worker`` role
on the same ``database_url`` and ``emulator`` (a worker serves no HTTP). Tests must run on
asyncio (slack_sdk's async client uses aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import uvicorn
from fastapi import FastAPI
from slack_sdk.web.async_client import AsyncWebClient
from starlette.types import ASGIApp

from slack_hitl.adapter import Adapter
from slack_hitl.approvals import Approval
from slack_hitl.engine import Engine
from slack_hitl.service.app import EngineFactory, Role, SlackHitl
from slack_hitl.service.serving import AppServer
from slack_hitl.service.settings import ServiceConfig
from slack_hitl.slack.endpoint import INTERACTIONS_PATH
from slack_hitl.slack.interactions import InteractionHandler
from slack_hitl.slack.publisher import SlackPublisher
from slack_hitl.slack.streaming import StreamLimits
from slack_hitl.store import Store
from slack_hitl.testing.emulator import EmulatedMessage, SlackEmulator, listening_socket
from slack_hitl.testing.slack_user import SlackTestUser, Transport

BOT_TOKEN = "xoxb-harness"
APP_TOKEN = "xapp-harness"
SOCKET_PING_INTERVAL_SECONDS = 0.5
"""A dropped socket is noticed and replaced within about this long."""
API_TOKEN = "harness-api-token-0123456789"
RENDER_RETRY_SECONDS = 0.5
LOOPBACK_CALLBACKS = "127.0.0.1, ::1, localhost"
"""A test's callback receivers listen on loopback, which serve refuses unless allowed."""
"""A failed render is retried quickly: a test that injects a Slack error waits for the retry."""


class HitlHarness:
    """slack_hitl end to end on loopback: the emulator, and slack_hitl wired as ``serve`` wires it.

    Parameters:
        adapters: the adapters the engine may resume with (more can be added with ``engine.register``).
        database_url: where the store lives; a SQLite file in a temporary directory by default.
        channel: the channel approvals are posted to (the publisher's default channel).
        signing_secret: what the app verifies and the test users sign with.
        update_window_seconds: how long the publisher gathers changes before re-rendering a message.
        stream_limits: when the continuation rotates to a new reply (shrink them to test rotation).
        callback_allowed_hosts: internal hosts callbacks may reach (``SLACK_HITL_CALLBACK_ALLOWED_HOSTS``):
            loopback, where a test's receivers listen.
        sweep_interval: seconds between passes of the engine's sweeper (expiry, retries, take-over).
        engine_options: more keyword arguments for the engine (``max_attempts``, ``retry_backoff_seconds``),
            on top of those ``serve`` gives it.
        emulator: an emulator to use instead of starting one (it is then not stopped on exit).
        engine_factory: builds the engine, called like ``Engine(store, adapters=..., publisher=...,
            max_attempts=..., **engine_options)``; an ``Engine`` subclass works as it is. ``Engine`` by default.
        role: ``all`` (the default) does everything; ``web`` and ``worker`` split it as ``serve`` does.
        api_token: the bearer token of the app's ``/v1`` API.
        shutdown_grace_seconds: how long work in flight may take to finish when the app stops.
        port: where the app listens on 127.0.0.1 (a free port by default).
        socket_mode: Slack reaches the app over Socket Mode (the app holds a WebSocket to the
            emulator, as ``serve --socket-mode`` does) and test users click through it; else over HTTP.
        app_factory: what to serve, given the wired ``SlackHitl`` (its ``app`` by default): a service
            that adds routes and background work around slack_hitl's app, as the Airflow bridge does.

    Attributes, once entered: ``emulator``, ``service`` (the ``SlackHitl``), ``store``, ``client``,
    ``engine``, ``publisher``, ``handler``, ``app`` and ``url`` (the app's root URL; Slack's
    interactivity URL is ``interactions_url``).
    """

    def __init__(
        self,
        adapters: Iterable[Adapter] = (),
        *,
        database_url: str | None = None,
        channel: str = "C0APPROVALS",
        signing_secret: str = "harness-signing-secret",
        update_window_seconds: float = 0.1,
        stream_limits: StreamLimits | None = None,
        sweep_interval: float = 0.5,
        engine_options: dict[str, Any] | None = None,
        emulator: SlackEmulator | None = None,
        engine_factory: EngineFactory = Engine,
        role: Role = "all",
        api_token: str = API_TOKEN,
        shutdown_grace_seconds: float = 10.0,
        callback_allowed_hosts: str = LOOPBACK_CALLBACKS,
        port: int = 0,
        app_factory: Callable[[SlackHitl], ASGIApp] | None = None,
        socket_mode: bool = False,
    ) -> None:
        self.socket_mode = socket_mode
        self.adapters = list(adapters)
        self.engine_factory = engine_factory
        self.channel = channel
        self.signing_secret = signing_secret
        self.update_window_seconds = update_window_seconds
        self.stream_limits = stream_limits
        self.sweep_interval = sweep_interval
        self.engine_options = dict(engine_options or {})
        self.role = role
        self.api_token = api_token
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.callback_allowed_hosts = callback_allowed_hosts
        self.port = port
        self.app_factory = app_factory
        self._given_url = database_url
        self._own_emulator = emulator is None
        self.emulator = emulator or SlackEmulator()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._service: SlackHitl | None = None
        self._open: SlackHitl | None = None
        """The service of this start until it is closed (``_service`` stays readable after the exit)."""
        self._server: AppServer | None = None
        self._socket: socket.socket | None = None
        self._running = contextlib.AsyncExitStack()
        self._users: list[SlackTestUser] = []
        self.database_url = database_url or ""

    # -- what tests use --------------------------------------------------------------------------

    @property
    def service(self) -> SlackHitl:
        """slack_hitl as the composition root wired it for this start."""
        if self._service is None:
            raise RuntimeError("the harness is not running; use it as `async with HitlHarness(...) as hitl`")
        return self._service

    @property
    def store(self) -> Store:
        return self.service.store

    @property
    def client(self) -> AsyncWebClient:
        return self.service.client

    @property
    def publisher(self) -> SlackPublisher:
        return self.service.publisher

    @property
    def engine(self) -> Engine:
        return self.service.engine

    @property
    def handler(self) -> InteractionHandler:
        return self.service.handler

    @property
    def app(self) -> FastAPI:
        return self.service.app

    @property
    def url(self) -> str:
        """The app's root URL, e.g. ``http://127.0.0.1:51234``."""
        if self._socket is None:
            if self._service is not None and self.role == "worker":
                raise RuntimeError("a harness in the worker role serves no HTTP: click through one in the web role")
            raise RuntimeError("the harness is not running; use it as `async with HitlHarness(...) as hitl`")
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def interactions_url(self) -> str:
        """Slack's interactivity request URL of the app under test."""
        return f"{self.url}{INTERACTIONS_PATH}"

    def user(self, user_id: str, name: str) -> SlackTestUser:
        """A person in the emulated workspace who clicks and submits through the running app.

        Its HTTP client is closed when the harness exits.
        """
        transport: Transport = "socket_mode" if self.socket_mode else "http"
        user = SlackTestUser(
            self.emulator, self.interactions_url, self.signing_secret, user_id, name, transport=transport
        )
        self._users.append(user)
        return user

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until nothing is left to do: no reply to a clicker, no resume, no re-render pending."""
        with anyio.fail_after(timeout):
            while self._busy():
                await self.handler.drain()
                await self.engine.drain()
                await self.publisher.drain()
                await self.service.events.drain()
                await asyncio.sleep(0)

    async def posted(self, approval_id: str) -> Approval:
        """The approval as stored, once its message has been posted (``message_ts`` set)."""
        with anyio.fail_after(10):
            while True:
                approval = await self.store.get(approval_id)
                if approval.message_ts is not None:
                    return approval
                await asyncio.sleep(0.05)

    def message(self, approval: Approval) -> EmulatedMessage:
        """The approval's main message as Slack shows it now."""
        if approval.channel is None or approval.message_ts is None:
            raise ValueError(f"approval {approval.id} has not been posted; get it with `await hitl.posted(id)`")
        return self.emulator.message(approval.channel, approval.message_ts)

    def thread(self, approval: Approval) -> list[EmulatedMessage]:
        """The replies in the approval's thread (overflow parts, continuation, nested approvals), oldest first."""
        root = approval.thread_ts or approval.message_ts
        if approval.channel is None or root is None:
            raise ValueError(f"approval {approval.id} has not been posted; get it with `await hitl.posted(id)`")
        return self.emulator.thread(approval.channel, root)

    def transcript(self, approval: Approval) -> str:
        """What a person reads now: the message's texts, then each reply of its thread (for examples and logs)."""
        lines = [f"approval {approval.status}; the message now reads:"]
        for block in self.message(approval).blocks:
            text = block.get("text")
            if isinstance(text, dict):
                lines.append(text.get("text", ""))
        lines.append("\nthe thread:")
        for reply in self.thread(approval):
            lines += ["---", reply.text or ""]
        return "\n".join(lines)

    async def restart(self, adapters: Iterable[Adapter] | None = None) -> None:
        """Stop the app and engine as a deploy would, then start new ones on the same database and emulator.

        With ``adapters``, the new engine resumes with those instead of the current ``adapters``.
        """
        if adapters is not None:
            self.adapters = list(adapters)
        await self._stop_app()
        await self._start_app()

    def config(self) -> ServiceConfig:
        """What the composition root builds this harness's slack_hitl from: ``serve``'s defaults but
        for the emulator, the database, quicker sweeps and re-renders, and the parameters above."""
        return ServiceConfig(
            slack_bot_token=BOT_TOKEN,
            signing_secret=self.signing_secret,
            slack_api_url=self.emulator.base_url,
            database_url=self.database_url,
            api_token=self.api_token,
            channel=self.channel,
            sweep_interval_seconds=self.sweep_interval,
            stale_sweep_interval_seconds=max(self.sweep_interval, 1.0),
            shutdown_grace_seconds=self.shutdown_grace_seconds,
            callback_allowed_hosts=self.callback_allowed_hosts,
            update_window_seconds=self.update_window_seconds,
            render_retry_seconds=RENDER_RETRY_SECONDS,
            stream_limits=self.stream_limits,
            upgrade_postgres=True,  # a test's database is its own
            slack_app_token=APP_TOKEN if self.socket_mode else None,
            socket_ping_interval_seconds=SOCKET_PING_INTERVAL_SECONDS,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._own_emulator:
            await anyio.to_thread.run_sync(self.emulator.start)
        self.emulator.add_channel(self.channel, "approvals")
        if self._given_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="slack_hitl_harness_")
            self.database_url = f"sqlite:///{Path(self._tmp.name) / 'slack_hitl.db'}"
        try:
            await self._start_app()
        except BaseException:
            await self._cleanup()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._close_users()
            await self._stop_app()
        finally:
            await self._cleanup()

    async def _start_app(self) -> None:
        service = await SlackHitl.connect(
            self.config(),
            adapters=self.adapters,
            role=self.role,
            engine_factory=self.engine_factory,
            engine_options=self.engine_options,
        )
        self._service = self._open = service
        try:
            if self.role == "worker":
                await self._running.enter_async_context(service.running())
            else:
                await self._serve(self.app_factory(service) if self.app_factory else service.app)
        except BaseException:
            await self._stop_app()
            raise

    async def _serve(self, app: ASGIApp) -> None:
        self._socket = listening_socket("127.0.0.1", self.port)
        self._server = AppServer(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        await self._server.start(sockets=[self._socket])

    async def _stop_app(self) -> None:
        try:
            if self._server is not None:
                await self._server.stop()
            await self._running.aclose()
        finally:
            self._server = None
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            service, self._open = self._open, None
            if service is not None:
                await service.close()

    async def _close_users(self) -> None:
        users, self._users = self._users, []
        for user in users:
            await user.aclose()

    async def _cleanup(self) -> None:
        if self._own_emulator:
            await anyio.to_thread.run_sync(self.emulator.stop)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _busy(self) -> bool:
        return self.engine.busy or self.publisher.busy or self.handler.busy or self.service.events.busy
