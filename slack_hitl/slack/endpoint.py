"""Slack's request URLs: bare ASGI apps in front of ``InteractionHandler`` and ``EventsHandler``.

Every click waits on this endpoint, and Slack gives it 3 seconds; a burst of clicks is the
heaviest load slack_hitl sees. So it is plain ASGI: read the body, verify Slack's signature on
the raw bytes (nothing that does not verify is acted on), decode the payload, answer with what
the handler says. FastAPI's per-request machinery (request objects, dependency solving,
exception wrappers) cost more than the rest of an ack put together
(``benchmarks/bench_interactions.py`` measures acks against the least a durable ack can do).

``interactions_router`` mounts it into any FastAPI app; ``build_app`` serves it ahead of
FastAPI's routing.
"""

from __future__ import annotations

import binascii
import json
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from fastapi import APIRouter
from pydantic_core import from_json
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from slack_hitl.slack.events import EVENTS_PATH, EventsHandler
from slack_hitl.slack.interactions import AckBody, InteractionHandler, MalformedPayload, refuse_unstorable_text
from slack_hitl.slack.signature import SignatureRejected, SlackSignature

log = structlog.get_logger("slack_hitl.slack.endpoint")

INTERACTIONS_PATH = "/slack/interactions"
MAX_BODY_BYTES = 1 << 20
"""Far above anything Slack sends (a payload carries at most one message or one modal)."""

_TIMESTAMP_HEADER = b"x-slack-request-timestamp"
_SIGNATURE_HEADER = b"x-slack-signature"


class _SignedEndpoint:
    """A POST from Slack: the body read within a limit, its signature verified, then answered."""

    def __init__(self, signing_secret: str, max_body_bytes: int) -> None:
        self.signature = SlackSignature(signing_secret)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _verified_body(scope, receive, send, self.signature, self.max_body_bytes)
        if body is None:
            return
        try:
            ack = await self.answer(body)
        except MalformedPayload as malformed:
            log.warning("payload_malformed", detail=str(malformed))
            await _answer(send, 400, {"error": "malformed_payload", "detail": str(malformed)})
            return
        await _answer(send, 200, ack)

    async def answer(self, body: bytes) -> AckBody:
        raise NotImplementedError


class InteractionsEndpoint(_SignedEndpoint):
    """The ASGI app behind Slack's interactivity request URL (POST only: route only POSTs to it)."""

    def __init__(
        self, handler: InteractionHandler, signing_secret: str, *, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        super().__init__(signing_secret, max_body_bytes)
        self.handler = handler

    async def answer(self, body: bytes) -> AckBody:
        return await self.handler.handle(parse_interaction_body(body))


class EventsEndpoint(_SignedEndpoint):
    """The ASGI app behind the Events API request URL (``/slack/events``): a signed JSON body per event."""

    def __init__(self, handler: EventsHandler, signing_secret: str, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(signing_secret, max_body_bytes)
        self.handler = handler

    async def answer(self, body: bytes) -> AckBody:
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise MalformedPayload("the Events API body must be JSON in UTF-8") from None
        if not isinstance(event, dict):
            raise MalformedPayload("the Events API body must be a JSON object")
        return self.handler.handle(event)


def interactions_router(
    handler: InteractionHandler,
    signing_secret: str,
    *,
    path: str = INTERACTIONS_PATH,
    events: EventsHandler | None = None,
) -> APIRouter:
    """A router serving Slack's interactivity request URL (and, given ``events``, the Events API's);
    include it in any FastAPI app."""
    router = APIRouter()
    router.routes.append(Route(path, InteractionsEndpoint(handler, signing_secret), methods=["POST"]))
    if events is not None:
        router.routes.append(Route(EVENTS_PATH, EventsEndpoint(events, signing_secret), methods=["POST"]))
    return router


def parse_interaction_body(body: bytes) -> dict[str, Any]:
    """The JSON ``payload`` field of Slack's form-encoded interaction request."""
    payload_field = _only_payload_field(body)
    for pair in body.split(b"&") if payload_field is None else ():
        name, equals, value = pair.partition(b"=")
        if not equals:
            raise MalformedPayload("the body must be form-encoded with one JSON `payload` field")
        if payload_field is None and form_decode(name) == b"payload":
            payload_field = value
    if payload_field is None:
        raise MalformedPayload("the body must be form-encoded with one JSON `payload` field")
    try:
        text = form_decode(payload_field).decode("utf-8")
        payload = json_loads(text)
    except (UnicodeDecodeError, ValueError):
        raise MalformedPayload("the `payload` field must be JSON in UTF-8") from None
    except RecursionError:
        raise MalformedPayload("the interaction payload is nested too deep") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("the interaction payload must be a JSON object")
    # Only a \u escape can make a lone surrogate or a NUL: a payload without one is not walked.
    if "\\u" in text:
        refuse_unstorable_text(payload)
    return payload


def json_loads(text: str) -> Any:
    """``json.loads(text)``, parsed by pydantic-core's parser wherever it parses: it builds the
    message a click carries (tens of kB of blocks) in about 60% of json's instructions
    (``benchmarks/bench_instructions.py`` counts an ack's). What it refuses and json takes (a lone
    surrogate escape, nesting deeper than 200) json parses, so a payload is taken or refused as ever."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


def _only_payload_field(body: bytes) -> bytes | None:
    """The value of the body's one field when it is ``payload`` (all Slack sends), found without
    splitting a copy of the whole body into pairs; None for any other body."""
    if body.startswith(b"payload=") and b"&" not in body:
        return body[len(b"payload=") :]
    return None


def form_decode(value: bytes) -> bytes:
    """One form-urlencoded name or value, decoded (``+`` is a space, ``%XX`` a byte), exactly as urllib does.

    urllib's unquote is pure Python, the largest cost of an ack for a payload of a few kB
    (``benchmarks/bench_interactions.py`` measures acks). Quoted-printable is the same ``%XX``
    rule spelled ``=XX``, which ``binascii.a2b_qp`` decodes in C once every ``%`` is an ``=``.
    Where quoted-printable reads differently (a raw ``=`` or line break, which form encoding
    never produces, or a ``%`` without two hex digits after it, which shows as a length that did
    not shrink by two per ``%``) urllib decodes it instead.
    """
    value = value.replace(b"+", b" ")
    if b"=" not in value and b"\r" not in value and b"\n" not in value:
        decoded = binascii.a2b_qp(value.replace(b"%", b"="))
        if len(decoded) == len(value) - 2 * value.count(b"%"):
            return decoded
    return unquote_to_bytes(value)


class BodyTooLarge(Exception):
    """The body grew past the limit; the rest of it was never read."""


class Disconnected(Exception):
    """The client hung up before sending the whole body."""


async def _verified_body(
    scope: Scope, receive: Receive, send: Send, signature: SlackSignature, limit: int
) -> bytes | None:
    """The request's body once its signature verifies; else None, the refusal already answered."""
    try:
        body = await read_body_within(receive, limit)
    except BodyTooLarge:
        detail = f"the body is larger than {limit} bytes"
        log.warning("payload_too_large", detail=detail)
        await _answer(send, 413, {"error": "payload_too_large", "detail": detail})
        return None
    except Disconnected:
        return None  # Slack hung up before sending everything: there is nothing to act on
    timestamp, signed = _signature_headers(scope["headers"])
    try:
        signature.check(body, timestamp, signed)
    except SignatureRejected as rejected:
        log.warning("signature_rejected", reason=rejected.reason, detail=str(rejected))
        await _answer(send, 401, {"error": "invalid_signature", "detail": str(rejected)})
        return None
    return body


async def read_body_within(receive: Receive, limit: int) -> bytes:
    """The request body, read as it streams in: ``BodyTooLarge`` as soon as it passes ``limit`` bytes,
    whatever the request declared (a chunked body declares nothing)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _signature_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    timestamp = signature = None
    for name, value in headers:  # ASGI header names are lower case
        if name == _TIMESTAMP_HEADER:
            timestamp = value.decode("latin-1")
        elif name == _SIGNATURE_HEADER:
            signature = value.decode("latin-1")
    return timestamp, signature


async def _answer(send: Send, status: int, body: AckBody) -> None:
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    headers = [(b"content-length", str(len(content)).encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
