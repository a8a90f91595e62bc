"""The emulator's Socket Mode: the WebSocket a Socket Mode app holds, and the envelopes sent over it.

Slack's side of Socket Mode as the app sees it: ``apps.connections.open`` hands out a URL with a
one-use ticket (``methods.apps``); a connection to it is greeted with ``hello``; each event or
interaction is an envelope (``envelope_id``, ``type``, ``payload``, ``accepts_response_payload``)
sent to one of the app's connections in turn, and the app acks it by sending back its
``envelope_id`` (with a ``payload`` for interactions: a modal's ``response_action``).

An envelope with no ack is delivered again with ``retry_attempt`` one higher: at once on another
connection when its connection closed, else after ``redelivery_seconds``. Tests steer it with
``disconnect`` (Slack's ``disconnect`` message, e.g. ``refresh_requested``, then the old socket
closed after ``disconnect_grace_seconds``), ``drop`` (sockets closed without warning) and
``lose_acks`` (acks that never arrive, so their envelopes are redelivered).

The hub runs in the emulator's server thread; ``deliver`` and the knobs are awaited from any
event loop (they hop to the server's loop), so the app under test may share the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from slack_hitl.testing.emulator.methods.apps import SOCKET_MODE_PATH
from slack_hitl.testing.emulator.records import JSONDict
from slack_hitl.testing.emulator.workspace import Workspace

REDELIVERY_SECONDS = 3.0
"""How long an envelope waits for its ack before it is sent again (Slack's ack deadline)."""
DISCONNECT_GRACE_SECONDS = 1.0
"""How long a connection told to ``disconnect`` stays open for the app to open its next one."""
NO_CONNECTION_CLOSE = 4000

T = TypeVar("T")


class NoSocketModeConnection(AssertionError):
    """An envelope found no open Socket Mode connection to go to in time."""


@dataclass(frozen=True)
class Delivery:
    """One sending of an envelope: to which connection, which attempt, and whether it was acked."""

    envelope_id: str
    type: str
    connection_id: int
    retry_attempt: int
    retry_reason: str
    acked: bool = False


@dataclass(frozen=True)
class Acked:
    """What the app answered to an envelope, and after how many sendings."""

    envelope_id: str
    payload: JSONDict | None
    attempts: int
    connection_id: int
    seconds: float
    """From the last sending to its ack."""


@dataclass(eq=False)
class _Connection:
    id: int
    websocket: WebSocket
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    draining: bool = False
    """Told to disconnect: no new envelopes go to it."""


@dataclass(eq=False)
class _Envelope:
    id: str
    type: str
    payload: JSONDict
    ack: asyncio.Future[JSONDict | None]


class SocketModeHub:
    """Slack's end of the Socket Mode connections of the app installed in ``workspace``."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self.redelivery_seconds = REDELIVERY_SECONDS
        self.disconnect_grace_seconds = DISCONNECT_GRACE_SECONDS
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: list[_Connection] = []
        self._connection_ids = itertools.count(1)
        self._turn = itertools.count()
        self._waiting: dict[str, _Envelope] = {}
        self._acks_to_lose = 0
        self._changed: asyncio.Condition | None = None
        self._deliveries: list[Delivery] = []
        self.connections_opened = 0
        self._closing: set[asyncio.Future[None]] = set()

    # -- what tests read ------------------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        """Every sending of an envelope so far, oldest first (a redelivery is a second entry)."""
        with self._workspace.lock:
            return list(self._deliveries)

    @property
    def open_connections(self) -> int:
        with self._workspace.lock:
            return sum(1 for c in self._connections if not c.draining)

    # -- what tests do --------------------------------------------------------------------------

    async def deliver(self, kind: str, payload: JSONDict, *, timeout: float = 30.0) -> Acked:
        """Send ``payload`` as an envelope of ``kind`` (``interactive``, ``events_api``...) and return its ack.

        Redelivered until acked; ``NoSocketModeConnection`` when nothing acked it within ``timeout``.
        """
        return await self._in_server_loop(self._deliver(kind, payload, timeout))

    async def wait_for_connections(self, count: int, *, timeout: float = 10.0) -> None:
        """Return once ``count`` connections are open (not told to disconnect)."""
        await self._in_server_loop(self._wait_for(count, timeout))

    async def disconnect(self, reason: str = "refresh_requested") -> int:
        """Send Slack's ``disconnect`` message on every open connection; close each after the grace.

        Returns how many connections were told.
        """
        return await self._in_server_loop(self._disconnect(reason))

    async def drop(self) -> int:
        """Cut every connection as a network fault would: no ``disconnect``, no close frame, the TCP
        connection reset. The app finds out by itself (a failed read, or its pings going unanswered).
        Returns how many were cut."""
        return await self._in_server_loop(self._drop())

    def lose_acks(self, count: int) -> None:
        """Ignore the next ``count`` acks, as if they were lost on the way: their envelopes are redelivered."""
        with self._workspace.lock:
            self._acks_to_lose = count

    # -- the transport --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            WebSocketRoute(SOCKET_MODE_PATH.rstrip("/"), self._serve),
            WebSocketRoute(SOCKET_MODE_PATH, self._serve),
        ]

    async def _serve(self, websocket: WebSocket) -> None:
        ticket = websocket.query_params.get("ticket", "")
        with self._workspace.lock:
            known = ticket in self._workspace.socket_tickets
            self._workspace.socket_tickets.discard(ticket)
        if not known:
            await websocket.close(code=NO_CONNECTION_CLOSE)
            return
        await websocket.accept()
        connection = _Connection(next(self._connection_ids), websocket)
        await websocket.send_text(json.dumps(self._hello(connection)))
        with self._workspace.lock:
            self._connections.append(connection)
            self.connections_opened += 1
        await self._notify()
        try:
            while True:
                self._on_message(await websocket.receive_text())
        except (WebSocketDisconnect, RuntimeError):
            pass  # closed by either side
        finally:
            with self._workspace.lock:
                self._connections.remove(connection)
            connection.closed.set()
            await self._notify()

    def _hello(self, connection: _Connection) -> JSONDict:
        return {
            "type": "hello",
            "num_connections": len(self._connections) + 1,
            "debug_info": {"host": "emulator", "connection_id": connection.id, "approximate_connection_time": 3600},
            "connection_info": {"app_id": self._workspace.app_id},
        }

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return  # Slack ignores what is not JSON
        if not isinstance(message, dict):
            return
        envelope = self._waiting.get(str(message.get("envelope_id", "")))
        if envelope is None or envelope.ack.done():
            return  # a late ack of an envelope already acked, or an unknown id
        with self._workspace.lock:
            if self._acks_to_lose > 0:
                self._acks_to_lose -= 1
                return
        payload = message.get("payload")
        envelope.ack.set_result(payload if isinstance(payload, dict) and payload else None)

    # -- delivering ------------------------------------------------------------------------------

    async def _deliver(self, kind: str, payload: JSONDict, timeout: float) -> Acked:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        envelope = _Envelope(str(uuid.uuid4()), kind, payload, loop.create_future())
        self._waiting[envelope.id] = envelope
        attempt, reason = 0, ""
        try:
            while True:
                connection = await self._next_connection(deadline)
                sent_at = time.monotonic()
                if await self._send(connection, envelope, attempt, reason):
                    closed: asyncio.Future[Any] = asyncio.ensure_future(connection.closed.wait())
                    acked: asyncio.Future[Any] = envelope.ack
                    try:
                        await asyncio.wait(
                            [acked, closed],
                            timeout=min(self.redelivery_seconds, max(deadline - loop.time(), 0.0)),
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    finally:
                        closed.cancel()
                    if envelope.ack.done():
                        self._record(envelope, connection, attempt, reason, acked=True)
                        seconds = time.monotonic() - sent_at
                        return Acked(envelope.id, envelope.ack.result(), attempt + 1, connection.id, seconds)
                    reason = "connection_closed" if connection.closed.is_set() else "timeout"
                else:
                    reason = "connection_closed"
                if loop.time() >= deadline:
                    raise NoSocketModeConnection(f"no ack for {kind} envelope {envelope.id} within {timeout} s")
                attempt += 1
        finally:
            self._waiting.pop(envelope.id, None)

    async def _send(self, connection: _Connection, envelope: _Envelope, attempt: int, reason: str) -> bool:
        message = {
            "envelope_id": envelope.id,
            "type": envelope.type,
            "payload": envelope.payload,
            "accepts_response_payload": envelope.type == "interactive",
            "retry_attempt": attempt,
            "retry_reason": reason,
        }
        self._record(envelope, connection, attempt, reason, acked=False)
        try:
            await connection.websocket.send_text(json.dumps(message))
        except (RuntimeError, OSError, WebSocketDisconnect):
            return False
        return True

    def _record(self, envelope: _Envelope, connection: _Connection, attempt: int, reason: str, *, acked: bool) -> None:
        with self._workspace.lock:
            self._deliveries.append(Delivery(envelope.id, envelope.type, connection.id, attempt, reason, acked))

    async def _next_connection(self, deadline: float) -> _Connection:
        """The next open connection in turn (Slack spreads envelopes over them), waiting for one if none is."""
        changed = self._condition()
        loop = asyncio.get_running_loop()
        async with changed:
            while True:
                live = [c for c in self._connections if not c.draining and not c.closed.is_set()]
                if live:
                    return live[next(self._turn) % len(live)]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise NoSocketModeConnection("no Socket Mode connection is open: is the app connected?")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)

    async def _wait_for(self, count: int, timeout: float) -> None:
        changed = self._condition()
        async with asyncio.timeout(timeout), changed:
            await changed.wait_for(lambda: sum(1 for c in self._connections if not c.draining) >= count)

    async def _disconnect(self, reason: str) -> int:
        told = [c for c in self._connections if not c.draining]
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "emulator"}})
        for connection in told:
            connection.draining = True
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await connection.websocket.send_text(message)
            asyncio.get_running_loop().call_later(self.disconnect_grace_seconds, self._close_later, connection)
        await self._notify()
        return len(told)

    async def _drop(self) -> int:
        dropped = list(self._connections)
        for connection in dropped:
            connection.draining = True
            transport = _transport_of(connection.websocket)
            if transport is not None:
                transport.abort()
                connection.closed.set()
            else:  # a server whose transport we cannot reach: close, at least without a disconnect
                await self._close(connection, code=1011)
        await self._notify()
        return len(dropped)

    def _close_later(self, connection: _Connection) -> None:
        closing = asyncio.ensure_future(self._close(connection))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _close(self, connection: _Connection, code: int = 1000) -> None:
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await connection.websocket.close(code=code)
        connection.closed.set()
        await self._notify()

    # -- the server's loop -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """The server's lifespan: the hub works in the loop the server runs."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Condition()
        try:
            yield
        finally:
            self._loop = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    async def _in_server_loop(self, work: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            work.close()
            raise RuntimeError("the emulator is not serving; start it first")
        if loop is asyncio.get_running_loop():
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))


def _transport_of(websocket: WebSocket) -> asyncio.Transport | None:
    """The TCP transport under a WebSocket uvicorn serves (its receive is a method of its protocol)."""
    protocol = getattr(websocket._receive, "__self__", None)
    transport = getattr(protocol, "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None
