"""Resume by calling back: POST the decisions, signed, to the URL the approval was opened with.

The POST's body is the approval's decisions as JSON (``webhook_body``). It is signed like
Slack signs its own requests, with the approval's callback secret::

    X-Slack-Hitl-Timestamp: <unix seconds>
    X-Slack-Hitl-Signature: v1=<hex HMAC-SHA256(secret, "v1:<timestamp>:" + raw body)>
    X-Slack-Hitl-Idempotency-Key: <approval id>   (the same on every attempt: dedupe on it)

A 2xx answer means the run resumed. Its body, when it is ``text/plain`` (or ``text/markdown``),
streams into the approval's Slack thread as it arrives; when it is ``application/x-ndjson``,
each line is one event (``{"type": "text" | "status" | "tool" | "done" | "failed" |
"nested_pause", ...}``) shown or acted on like an adapter's events. Any other body is ignored.
A non-2xx answer, a timeout, a refused connection, a broken answer or a ``failed`` event make
the resume fail: the approval stays retryable, the engine retries with backoff, then offers Retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from slack_hitl.approvals import Approval
from slack_hitl.errors import SlackHitlError
from slack_hitl.events import ContinuationEvent, Done, Failed, NestedPause, Status, TextDelta, ToolProgress
from slack_hitl.metrics import CALLBACK_SECONDS
from slack_hitl.service.callback_hosts import CallbackHostRefused, CallbackHosts, checked_transport
from slack_hitl.service.inputs import InputProblem, RequirementIn, to_requirements

log = structlog.get_logger("slack_hitl.service.webhook")

ADAPTER_NAME = "webhook"
TIMESTAMP_HEADER = "X-Slack-Hitl-Timestamp"
SIGNATURE_HEADER = "X-Slack-Hitl-Signature"
IDEMPOTENCY_HEADER = "X-Slack-Hitl-Idempotency-Key"
ATTEMPT_HEADER = "X-Slack-Hitl-Attempt"
SIGNATURE_VERSION = "v1"
MAX_AGE_SECONDS = 300
TEXT_TYPES = ("text/plain", "text/markdown")
EVENT_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
MAX_LINE_CHARS = 1_000_000
ERROR_BODY_CHARS = 300


class WebhookFailed(SlackHitlError):
    """The callback did not take the decisions (non-2xx, unreachable, too slow) or its answer was broken."""


class SignatureInvalid(SlackHitlError):
    """A callback POST's signature headers are missing, stale or do not match its body."""


# -- signing, for the sender and for receivers -----------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Hitl-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds, as sent)."""
    message = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    max_age_seconds: float = MAX_AGE_SECONDS,
    now: float | None = None,
) -> None:
    """For receivers: return if ``body`` was signed with ``secret`` within ``max_age_seconds``; else raise ``SignatureInvalid``."""
    lowered = {key.lower(): value for key, value in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isascii() or not timestamp.isdigit() or not signature:
        raise SignatureInvalid("the request has no valid X-Slack-Hitl-Timestamp / X-Slack-Hitl-Signature headers")
    age = abs((time.time() if now is None else now) - int(timestamp))
    if age > max_age_seconds:
        raise SignatureInvalid(f"the request was signed {age:.0f} s from now; the limit is {max_age_seconds:g} s")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise SignatureInvalid("the signature does not match the body")


# -- what is sent -----------------------------------------------------------------------------


def callback_of(approval: Approval) -> dict[str, str] | None:
    """The approval's callback (``url`` and ``secret``) from its resume state, if it has one."""
    callback = approval.resume_state.get("callback")
    return callback if isinstance(callback, dict) and callback.get("url") else None


def webhook_body(approval: Approval) -> bytes:
    """The JSON the callback receives: the approval and every row's decision, who made it and when."""
    payload = {
        "type": "approval.decided",
        "approval_id": approval.id,
        "parent_id": approval.parent_id,
        "title": approval.title,
        "outcome": approval.outcome,
        "expired": approval.expired,
        "attempt": approval.attempts,
        "channel": approval.channel,
        "message_ts": approval.message_ts,
        "metadata": approval.metadata,
        "state": approval.resume_state.get("state"),
        "rows": [
            {
                "requirement_id": row.id,
                "kind": row.requirement.kind,
                "title": row.requirement.title,
                "decision": row.decision.model_dump(mode="json") if row.decision else None,
                "decided_by": {"id": row.decided_by, "name": row.decided_by_name} if row.decided_by else None,
                "decided_at": row.decided_at.isoformat() if row.decided_at else None,
            }
            for row in approval.rows
        ],
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def shown_url(url: str) -> str:
    """A URL as logs and Slack may show it: no credentials, no query (either may hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# -- what comes back --------------------------------------------------------------------------


class _NestedPauseLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["nested_pause"]
    title: str = Field(min_length=1, max_length=150)
    requirements: list[RequirementIn] = Field(min_length=1, max_length=200)
    state: dict[str, Any] = Field(default_factory=dict)


_PLAIN_EVENT: TypeAdapter[Status | TextDelta | ToolProgress | Done | Failed] = TypeAdapter(
    Annotated[Status | TextDelta | ToolProgress | Done | Failed, Field(discriminator="type")]
)


def parse_event_line(line: str, callback: dict[str, str]) -> ContinuationEvent:
    """One NDJSON line of a callback's answer as a continuation event; ``ValueError`` says what is wrong.

    A ``nested_pause`` line opens a new approval in the same thread whose decisions go to the
    same callback, with the line's ``state`` sent back in the body (``"state"``).
    """
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    try:
        if raw.get("type") == "nested_pause":
            pause = _NestedPauseLine.model_validate(raw)
            return NestedPause(
                title=pause.title,
                requirements=tuple(to_requirements(pause.requirements)),
                resume_state={"callback": callback, "state": pause.state},
            )
        return _PLAIN_EVENT.validate_python(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ValueError(f"{where}: {problem['msg']}" if where else str(problem["msg"])) from None
    except InputProblem as problem:
        raise ValueError(str(problem)) from None


async def _relay_text(response: httpx.Response) -> AsyncIterator[ContinuationEvent]:
    async for chunk in response.aiter_text():
        if chunk:
            yield TextDelta(text=chunk)


async def _relay_events(response: httpx.Response, callback: dict[str, str]) -> AsyncIterator[ContinuationEvent]:
    number = 0
    async for line in response.aiter_lines():
        number += 1
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise WebhookFailed(f"line {number} of the callback's answer is longer than {MAX_LINE_CHARS} characters")
        try:
            yield parse_event_line(line, callback)
        except ValueError as problem:
            raise WebhookFailed(f"line {number} of the callback's answer is not a valid event: {problem}") from None


def _relay(response: httpx.Response, callback: dict[str, str]) -> AsyncIterator[ContinuationEvent] | None:
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in TEXT_TYPES:
        return _relay_text(response)
    if media_type in EVENT_TYPES:
        return _relay_events(response, callback)
    return None


async def _error_snippet(response: httpx.Response) -> str:
    collected = b""
    async for chunk in response.aiter_bytes():
        collected += chunk
        if len(collected) >= ERROR_BODY_CHARS:
            break
    text = " ".join(collected.decode("utf-8", errors="replace").split())
    return text[:ERROR_BODY_CHARS]


class WebhookAdapter:
    """The adapter named ``webhook``: resumes by POSTing the decisions to the approval's callback.

    An approval opened without a callback has nothing to call: its resume succeeds at once,
    and its outcome is read with ``GET /v1/approvals/{id}`` (or ``SlackHitl.wait``).
    ``timeout_seconds`` bounds connecting and each wait for the answer's next bytes, not the
    whole answer, so a callback may stream a long continuation.
    """

    name = ADAPTER_NAME

    def __init__(self, *, timeout_seconds: float = 30.0, allowed_hosts: CallbackHosts | None = None) -> None:
        self.timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
        self.allowed_hosts = allowed_hosts or CallbackHosts()
        """Internal hosts callbacks may reach (``SLACK_HITL_CALLBACK_ALLOWED_HOSTS``); public ones always may."""

    async def check_callback(self, url: str) -> None:
        """``CallbackHostRefused`` if ``url`` points inside the network and its host is not allowed."""
        await self.allowed_hosts.check_url(url)

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        callback = callback_of(approval)
        if callback is None:
            return
        where = shown_url(callback["url"])
        bound = log.bind(approval_id=approval.id, callback=where, attempt=approval.attempts)
        body = webhook_body(approval)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Accept": ", ".join([*EVENT_TYPES[:1], *TEXT_TYPES, "*/*;q=0.1"]),
            "User-Agent": "slack-hitl-webhook",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(callback["secret"], timestamp, body),
            IDEMPOTENCY_HEADER: idempotency_key,
            ATTEMPT_HEADER: str(approval.attempts),
        }
        relayed = 0
        asked = time.perf_counter()
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout,
                    follow_redirects=False,
                    transport=checked_transport(self.allowed_hosts),
                ) as client,
                client.stream("POST", callback["url"], content=body, headers=headers) as response,
            ):
                CALLBACK_SECONDS.labels(str(response.status_code)).observe(time.perf_counter() - asked)
                if not response.is_success:
                    snippet = await _error_snippet(response)
                    bound.warning("webhook_refused", status=response.status_code)
                    raise WebhookFailed(
                        f"the callback {where} answered HTTP {response.status_code}"
                        + (f": {snippet}" if snippet else "")
                    )
                bound.info("webhook_accepted", status=response.status_code)
                if approval.attempts > 1:
                    yield TextDelta(text=f"_The callback took the decisions on attempt {approval.attempts}._\n")
                events = _relay(response, callback)
                if events is not None:
                    async for event in events:
                        relayed += 1
                        yield event
        except httpx.TimeoutException:
            if not relayed:
                CALLBACK_SECONDS.labels("timeout").observe(time.perf_counter() - asked)
            bound.warning("webhook_timed_out", relayed=relayed)
            raise WebhookFailed(
                f"the callback {where} did not answer within {self.timeout.read:g} s"
                + (f" (after {relayed} events)" if relayed else "")
            ) from None
        except CallbackHostRefused as refused:
            bound.warning("webhook_host_refused", error=str(refused))
            raise WebhookFailed(str(refused)) from None
        except httpx.HTTPError as error:
            # The reason stays in the log: the thread and last_error only say that it failed, so
            # they cannot be used to tell a closed port from an open one that speaks no HTTP.
            if not relayed:
                CALLBACK_SECONDS.labels("unreachable").observe(time.perf_counter() - asked)
            bound.warning("webhook_unreachable", error=f"{type(error).__name__}: {error}", relayed=relayed)
            if relayed:
                raise WebhookFailed(f"the answer of {where} broke off after {relayed} events") from None
            raise WebhookFailed(f"the callback {where} could not be reached or gave no HTTP answer") from None


__all__ = [
    "ADAPTER_NAME",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureInvalid",
    "WebhookAdapter",
    "WebhookFailed",
    "callback_of",
    "parse_event_line",
    "sign",
    "verify_signature",
    "webhook_body",
]
