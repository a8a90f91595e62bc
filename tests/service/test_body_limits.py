"""Body limits are enforced while the body streams in, on every route that reads one, against
``slack-hitl serve``: a chunked body declares no length, so only counting as it arrives stops it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from slack_hitl.service.api import MAX_BODY_BYTES
from slack_hitl.slack.endpoint import MAX_BODY_BYTES as INTERACTIONS_MAX_BODY_BYTES
from slack_hitl.testing.emulator import SlackEmulator
from tests.service.support import API_TOKEN, ServeProcess, service_env, serving

pytestmark = pytest.mark.anyio

CHUNK = 64 * 1024


def _chunked_post(server: ServeProcess, path: str, *, never_ending_after: int) -> tuple[bytes, int]:
    """POST a chunked body of ``never_ending_after`` bytes that never ends (no last chunk).

    Returns what the server answered and how many body bytes were sent. A server that buffers the
    whole body before answering never answers this request; one that counts as it reads answers
    once the limit is passed, without waiting for the rest.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        sent = 0
        chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
        try:
            while sent < never_ending_after:
                sock.sendall(chunk)
                sent += CHUNK
        except OSError:  # the server answered and closed while we were still sending: that is the point
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                part = sock.recv(65536)
                if not part:
                    break
                answer += part
        except TimeoutError:
            pass
        return answer, sent


async def test_a_chunked_body_past_the_limit_is_refused_before_it_ends_on_every_route(
    emulator: SlackEmulator, tmp_path: Path
) -> None:
    env = service_env(emulator.base_url, f"sqlite:///{tmp_path / 'hitl.db'}")
    async with serving(env, tmp_path / "serve.log") as server:
        for path, limit in (("/v1/approvals", MAX_BODY_BYTES), ("/slack/interactions", INTERACTIONS_MAX_BODY_BYTES)):
            answer, sent = _chunked_post(server, path, never_ending_after=8 * limit)
            assert answer.startswith(b"HTTP/1.1 413"), (path, answer[:200], sent)
        log = server.log()
    assert "Traceback" not in log, log
