"""Callbacks reach no internal address unless ``SLACK_HITL_CALLBACK_ALLOWED_HOSTS`` lists it: refused
when the approval is opened (``slack-hitl serve``, a 422, nothing stored) and again when it is
called, on the address actually connected to; and a failed call does not tell a closed port from
an open one."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slack_hitl.service.callback_hosts import CallbackHosts, checked_transport, is_internal
from slack_hitl.service.tls import tls_context
from slack_hitl.service.webhook import WebhookAdapter, WebhookFailed
from slack_hitl.testing.emulator import SlackEmulator
from tests.service.support import (
    CALLBACK_SECRET,
    CHANNEL,
    Answer,
    CallbackReceiver,
    auth,
    free_port,
    service_env,
    serving,
)
from tests.service.test_webhook import decided_approval

pytestmark = pytest.mark.anyio

INTERNAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/hook",
    "http://0.0.0.0:8080/hook",
    "http://localhost:8080/hook",
    "http://10.1.2.3/hook",
    "http://192.168.1.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fd00::1]/hook",
]


async def test_serve_refuses_callbacks_to_internal_addresses_by_default(
    emulator: SlackEmulator, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}", SLACK_HITL_CALLBACK_ALLOWED_HOSTS="")
    async with (
        serving(env, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api,
    ):
        for url in INTERNAL_URLS:
            answer = await api.post(
                "/v1/approvals",
                json={
                    "channel": CHANNEL,
                    "title": "Deploy",
                    "requirements": [{"id": "deploy", "title": "deploy", "requires_confirmation": True}],
                    "callback": {"url": url, "secret": CALLBACK_SECRET},
                },
            )
            assert answer.status_code == 422, (url, answer.text)
            (problem,) = answer.json()["detail"]
            assert problem["loc"] == ["body", "callback", "url"]
            assert "SLACK_HITL_CALLBACK_ALLOWED_HOSTS" in problem["msg"], url
        assert (await api.get("/v1/approvals")).json() == {"approvals": []}
    assert emulator.calls_to("chat.postMessage") == []


async def test_the_call_checks_the_address_it_connects_to(receiver: CallbackReceiver) -> None:
    # A name that passed (or was not resolvable) when the approval was opened, and resolves to
    # loopback when it is called, as with DNS rebinding: refused at the call, nothing sent.
    port = receiver.url.split(":")[2].split("/")[0]
    approval = decided_approval({"url": f"http://localhost:{port}/hook", "secret": CALLBACK_SECRET})
    with pytest.raises(WebhookFailed, match="internal address"):
        _ = [event async for event in WebhookAdapter().resume(approval, idempotency_key=approval.id)]
    assert receiver.received() == []

    receiver.answers = [Answer(chunks=["ok"])]
    for listed in ("localhost", "127.0.0.0/8, ::1"):
        allowed = WebhookAdapter(allowed_hosts=CallbackHosts.parse(listed))
        assert [event async for event in allowed.resume(approval, idempotency_key=approval.id)]
    assert len(receiver.received()) == 2


@pytest.fixture
def port_that_speaks_no_http() -> Iterator[int]:
    """A port that accepts a connection and closes it without a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    listener.close()


async def test_a_closed_port_and_an_open_one_fail_with_the_same_words(port_that_speaks_no_http: int) -> None:
    adapter = WebhookAdapter(allowed_hosts=CallbackHosts.parse("127.0.0.1"))
    errors = []
    for port in (free_port(), port_that_speaks_no_http):
        approval = decided_approval({"url": f"http://127.0.0.1:{port}/hook", "secret": CALLBACK_SECRET})
        with pytest.raises(WebhookFailed) as failed:
            _ = [event async for event in adapter.resume(approval, idempotency_key=approval.id)]
        errors.append(str(failed.value).replace(str(port), "PORT"))
    assert (
        errors[0] == errors[1] == "the callback http://127.0.0.1:PORT/hook could not be reached or gave no HTTP answer"
    )


def test_what_counts_as_internal_and_how_the_setting_reads() -> None:
    import ipaddress

    assert all(
        is_internal(ipaddress.ip_address(a))
        for a in ("127.0.0.1", "169.254.169.254", "::1", "0.0.0.0", "10.0.0.1", "::ffff:10.0.0.1")
    )
    assert not any(is_internal(ipaddress.ip_address(a)) for a in ("93.184.216.34", "2606:2800:220:1::1"))
    hosts = CallbackHosts.parse(" ci.internal , 10.1.2.3, 192.168.0.0/16,[::1] ")
    assert hosts.names == frozenset({"ci.internal"})
    assert hosts.allows("ci.internal", ipaddress.ip_address("10.9.9.9"))
    assert hosts.allows("x", ipaddress.ip_address("192.168.4.4")) and not hosts.allows(
        "x", ipaddress.ip_address("10.1.2.4")
    )
    with pytest.raises(ValueError, match="not a host name"):
        CallbackHosts.parse("http://x/")


def test_a_callback_transport_loads_no_certificates_of_its_own(monkeypatch) -> None:
    # Loading the CA bundle costs about 16 ms of CPU: a callback's transport must use the shared context.
    tls_context()
    loads: list[object] = []
    load = ssl.SSLContext.load_verify_locations
    monkeypatch.setattr(
        ssl.SSLContext,
        "load_verify_locations",
        lambda self, *args, **kwargs: (loads.append(args), load(self, *args, **kwargs))[1],
    )
    transport = checked_transport(CallbackHosts())
    assert loads == []
    httpx.AsyncHTTPTransport(trust_env=False)  # what it was built on: that loads the bundle, the spy sees it
    assert len(loads) == 1
    assert transport._pool._ssl_context is tls_context()
