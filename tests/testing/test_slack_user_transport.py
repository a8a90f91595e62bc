"""How SlackTestUser reaches the app: one HTTP client per user, cheap to open, closed on request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from slack_hitl.testing import BackgroundServer, SlackEmulator, SlackTestUser

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
async def test_twenty_people_clicking_at_once_do_not_block_the_event_loop(
    slack_emulator: SlackEmulator, interactions_url: str, ports: ClientPorts
) -> None:
    people = [_user(slack_emulator, interactions_url, f"U0P{index:02d}") for index in range(20)]
    longest_stall = 0.0
    clicking = True

    async def watch_the_loop() -> None:
        nonlocal longest_stall
        while clicking:
            started = time.monotonic()
            await asyncio.sleep(0.005)
            longest_stall = max(longest_stall, time.monotonic() - started)

    watcher = asyncio.create_task(watch_the_loop())
    await asyncio.sleep(0.02)
    try:
        answers = await asyncio.gather(*(person.send_payload({"type": "block_actions"}) for person in people))
    finally:
        clicking = False
        await watcher
        for person in people:
            await person.aclose()

    assert [answer.status_code for answer in answers] == [200] * 20
    assert len(ports.ports) == 20
    # A TLS context loaded per client blocked the loop ~45 ms each, ~0.9 s for twenty.
    assert longest_stall < 0.3, f"the event loop stalled {longest_stall:.3f} s"
