"""One TLS context for every HTTPS client slack_hitl makes (webhook callbacks, the test user's clicks)."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings, made once: httpx loads its certificate bundle again for each client it makes
    by default, which parses a whole CA bundle on the event loop. It cost a resume tens of ms of CPU
    before its callback left (benchmarks/bench_idle.py, last click -> callback), and made twenty test
    users clicking at once miss Slack's 3 s deadline (tests/testing/test_slack_user_transport.py)."""
    return httpx.create_ssl_context()
