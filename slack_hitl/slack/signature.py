"""Verify that a request really comes from Slack, before anything in it is acted on.

Slack signs every request with the app's signing secret: ``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{raw body}``, compared in constant time. The HMAC runs over the raw bytes as
they came: slack_sdk's ``SignatureVerifier`` decodes the body and formats it into a new string
first, two copies of a body that carries a whole message (tens of kB) on every click
(``benchmarks/bench_instructions.py`` counts an ack's instructions). This module also refuses
headers that are not what Slack sends, and says why a request was refused, for the log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Literal

from slack_sdk.signature import Clock

from slack_hitl.errors import SlackHitlError

MAX_AGE_SECONDS = 60 * 5
"""Slack's replay window: a request signed longer ago than this is refused."""

TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"

# Unix seconds as ASCII digits: int() alone would also take "+1", " 1" and other scripts' digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")

RefusalReason = Literal["missing", "malformed", "stale", "mismatch"]


class SignatureRejected(SlackHitlError):
    """The request's Slack signature is missing, malformed, too old or wrong; ``reason`` says which."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


class SlackSignature:
    """Checks Slack's signature headers against the raw body of a request."""

    def __init__(
        self, signing_secret: str, *, max_age_seconds: int = MAX_AGE_SECONDS, clock: Clock | None = None
    ) -> None:
        self._clock = clock or Clock()
        self._secret = signing_secret.encode()
        self.max_age_seconds = max_age_seconds

    def check(self, body: bytes, timestamp: str | None, signature: str | None) -> None:
        """Return if ``body`` was signed by Slack with our secret just now; raise ``SignatureRejected`` if not.

        ``timestamp`` and ``signature`` are the values of Slack's two headers (None when absent).
        """
        if not timestamp or not signature:
            raise SignatureRejected("missing", "the request has no Slack signature headers")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SignatureRejected("malformed", f"the Slack request timestamp {timestamp[:40]!r} is not Unix seconds")
        if not _SIGNATURE.fullmatch(signature):
            raise SignatureRejected("malformed", "the Slack signature is not of the form v0=<64 hex digits>")
        age = abs(self._clock.now() - int(timestamp))
        if age > self.max_age_seconds:
            raise SignatureRejected("stale", f"the request was signed {age:.0f} s from now; the limit is 5 minutes")
        if not body.isascii():  # as every form-encoded body is: only another one is decoded to check it
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise SignatureRejected("malformed", "the request body is not UTF-8") from None
        if not hmac.compare_digest(_signature(self._secret, timestamp, body), signature):
            raise SignatureRejected("mismatch", "the Slack signature does not match the body")


def sign_request(signing_secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack would send with ``body``: for tests, benchmarks and local tools."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": _signature(signing_secret.encode(), stamp, body)}


def _signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``v0=`` and the HMAC-SHA256 of ``v0:{timestamp}:{body}``, over the raw bytes (the body is not copied)."""
    digest = hmac.new(secret, f"v0:{timestamp}:".encode(), hashlib.sha256)
    digest.update(body)
    return f"v0={digest.hexdigest()}"
