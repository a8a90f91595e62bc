"""How SlackTestUser reaches the app: one HTTP client per user, cheap to open, closed on request."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from slack_hitl.service import callback_hosts
from slack_hitl.service.tls import tls_context
from slack_hitl.testing import BackgroundServer, SlackEmulator, SlackTestUser, listening_socket

SIGNING_SECRET = "transport-secret"


class ClientPorts:
    """The client port of every request the app received: one port per TCP connection."""

    def __init__(self) -> None:
        self.ports: list[int] = []

    async def endpoint(self, request: Request) -> Response:
        assert request.client is not None
        self.ports.append(request.client.port)
        return Response(status_code=200)


@pytest.fixture
def ports() -> ClientPorts:
    return ClientPorts()


@pytest.fixture
def interactions_url(ports: ClientPorts) -> Iterator[str]:
    app = Starlette(routes=[Route("/slack/interactions", ports.endpoint, methods=["POST"])])
    with BackgroundServer(app) as server:
        yield f"{server.url}/slack/interactions"


def _user(emulator: SlackEmulator, url: str, user_id: str = "U0ALICE") -> SlackTestUser:
    return SlackTestUser(emulator, url, SIGNING_SECRET, user_id, user_id.lower())


@pytest.mark.anyio
async def test_a_user_sends_every_request_over_one_connection_until_closed(
    slack_emulator: SlackEmulator, interactions_url: str, ports: ClientPorts
) -> None:
    async with _user(slack_emulator, interactions_url) as alice:
        for _ in range(3):
            assert (await alice.send_payload({"type": "block_actions"})).status_code == 200
    assert len(ports.ports) == 3 and len(set(ports.ports)) == 1

    # Closed, the user opens a new client (a new connection) for its next request.
    assert (await alice.send_payload({"type": "block_actions"})).status_code == 200
    await alice.aclose()
    assert len(ports.ports) == 4 and ports.ports[3] != ports.ports[0]


def test_a_user_works_in_one_event_loop_after_another(
    slack_emulator: SlackEmulator, interactions_url: str, ports: ClientPorts
) -> None:
    alice = _user(slack_emulator, interactions_url)

    async def click() -> int:
        return (await alice.send_payload({"type": "block_actions"})).status_code

    # The first loop is closed when the second starts: its client must not be reused there.
    assert anyio.run(click, backend="asyncio") == 200
    assert anyio.run(click, backend="asyncio") == 200
    assert len(ports.ports) == 2


@pytest.mark.anyio
async def test_twenty_people_clicking_at_once_share_one_tls_context(
    slack_emulator: SlackEmulator, interactions_url: str, ports: ClientPorts
) -> None:
    # Loading a TLS context parses a whole CA bundle on the event loop the app under test shares:
    # one per client made twenty people clicking at once miss Slack's 3 s deadline.
    tls_context.cache_clear()
    people = [_user(slack_emulator, interactions_url, f"U0P{index:02d}") for index in range(20)]
    try:
        answers = await asyncio.gather(*(person.send_payload({"type": "block_actions"}) for person in people))
    finally:
        for person in people:
            await person.aclose()

    assert [answer.status_code for answer in answers] == [200] * 20
    assert len(set(ports.ports)) == 20  # twenty clients, twenty connections
    loaded = tls_context.cache_info()
    assert (loaded.misses, loaded.hits) == (1, 19)
    assert callback_hosts.tls_context is tls_context  # the callbacks' context is the same one, written once


@pytest.mark.anyio
async def test_served_connections_send_without_waiting_for_acks() -> None:
    # With Nagle's algorithm on, a keep-alive response whose body follows its headers waits
    # ~40 ms for the client's delayed ACK. asyncio turns it off only on sockets made for TCP.
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    sock = listening_socket("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert await asyncio.wait_for(accepted, 5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
