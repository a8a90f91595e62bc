"""Slack without a public URL: the app's Socket Mode WebSocket, its envelopes handed to the usual handlers.

With Socket Mode, Slack sends interactions and events over a WebSocket the app opens (the URL
comes from ``apps.connections.open`` with the app-level token, ``xapp-``) instead of POSTing
them to request URLs. Each arrives as an envelope; the app acks it by sending back its
``envelope_id``, with the ack body as ``payload`` (a modal's ``response_action``).

``SocketModeConnection`` holds one such connection with slack_sdk's aiohttp Socket Mode client,
which reconnects on Slack's ``disconnect`` messages (``refresh_requested``, ``link_disabled``...)
and on a dropped socket. An ``interactive`` envelope goes to the very ``InteractionHandler`` that
answers ``/slack/interactions`` and an ``events_api`` one to the ``EventsHandler`` behind
``/slack/events``: there is no second code path. The ack is sent once the handler returns, that
is once the decision is durably stored, so an envelope Slack redelivers (its ack was lost, its
socket dropped) finds the decision made and decides nothing twice (the handler keys each click
and submission by its delivery). Several processes may each hold a connection; Slack spreads
envelopes over them and the store's conditional updates still decide each row once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import structlog
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.metrics import ACK_SECONDS
from slack_hitl.slack.events import EventsHandler
from slack_hitl.slack.interactions import AckBody, InteractionHandler, MalformedPayload, refuse_unstorable_text

log = structlog.get_logger("slack_hitl.slack.socket_mode")

PING_INTERVAL_SECONDS = 5.0
"""slack_sdk's ping interval: also how soon a dropped socket is noticed and replaced."""
CONNECT_WAIT_SECONDS = 10.0
"""How long ``start`` waits for the first connection before leaving it to connect in the background."""


class SocketModeConnection:
    """One Socket Mode connection of the app: envelopes in, acks out, reconnecting by itself.

    ``start`` returns once connected (or raises why not: a refused app token, an unreachable
    Slack); ``stop`` closes it. Envelopes are handled concurrently, each acked when its handler
    returns.
    """

    def __init__(
        self,
        interactions: InteractionHandler,
        events: EventsHandler,
        *,
        app_token: str,
        web_client: AsyncWebClient,
        ping_interval_seconds: float = PING_INTERVAL_SECONDS,
        connect_wait_seconds: float = CONNECT_WAIT_SECONDS,
    ) -> None:
        self.interactions = interactions
        self.events = events
        self.app_token = app_token
        self.web_client = web_client
        self.ping_interval_seconds = ping_interval_seconds
        self.connect_wait_seconds = connect_wait_seconds
        self._client: SocketModeClient | None = None
        self._connecting: asyncio.Future[None] | None = None

    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and client.current_session is not None and not client.current_session.closed

    async def start(self) -> None:
        """Open the connection (``apps.connections.open``, then the WebSocket).

        slack_sdk keeps trying until it connects; if Slack cannot be reached within
        ``connect_wait_seconds``, ``start`` returns and the connection comes up in the background
        (the HTTP API serves meanwhile, and Slack keeps what it could not deliver).
        """
        if self._client is not None:
            raise RuntimeError("this Socket Mode connection is already started")
        client = SocketModeClient(
            app_token=self.app_token,
            web_client=self.web_client,
            ping_interval=self.ping_interval_seconds,
            logger=logging.getLogger("slack_hitl.slack.socket_mode.client"),
        )
        client.socket_mode_request_listeners.append(self._on_request)
        self._client = client
        connecting = asyncio.ensure_future(client.connect())
        try:
            await asyncio.wait_for(asyncio.shield(connecting), self.connect_wait_seconds)
        except TimeoutError:
            self._connecting = connecting
            log.warning("socket_mode_connecting_in_background", seconds=self.connect_wait_seconds)
            return
        except BaseException:
            await self.stop()
            raise
        log.info("socket_mode_connected")

    async def stop(self) -> None:
        """Close the connection; envelopes not acked by now are redelivered by Slack (to another connection)."""
        client, self._client = self._client, None
        if client is None:
            return
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
        await client.close()  # also its aiohttp session and its tasks
        log.info("socket_mode_closed")

    async def _on_request(self, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        started = time.perf_counter()
        answer = await self.answer(request.type, request.payload, envelope_id=request.envelope_id)
        response = SocketModeResponse(envelope_id=request.envelope_id, payload=answer)
        try:
            await client.send_socket_mode_response(response)
        except (ConnectionError, RuntimeError, asyncio.CancelledError) as error:
            # The socket went away before the ack: Slack redelivers the envelope, and the
            # handler recognises the delivery, so the decision stored here is not made twice.
            log.warning("socket_mode_ack_lost", envelope_id=request.envelope_id, error=type(error).__name__)
            return
        ACK_SECONDS.labels(_ack_route(request.type)).observe(time.perf_counter() - started)

    async def answer(self, kind: str, payload: dict[str, Any], *, envelope_id: str = "") -> AckBody:
        """The ack body for one envelope's payload (``None``: a bare ack)."""
        try:
            if kind == "interactive":
                refuse_unstorable_text(payload)
                return await self.interactions.handle(payload)
            if kind == "events_api":
                return self.events.handle(payload)
        except MalformedPayload as malformed:
            # Acked all the same: Slack would only redeliver what we cannot act on.
            log.warning("payload_malformed", envelope_id=envelope_id, kind=kind, detail=str(malformed))
            return None
        log.debug("socket_mode_envelope_ignored", envelope_id=envelope_id, kind=kind)
        return None  # slash_commands and the like: not ours


def _ack_route(kind: str) -> str:
    """The ``route`` label of an envelope's ack: one per kind of envelope slack_hitl answers, a bounded set."""
    return f"socket_mode:{kind if kind in ('interactive', 'events_api') else 'other'}"
