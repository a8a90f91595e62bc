"""The HTTP API ``/v1``: open approvals, read them (long-polling if asked), list and cancel them.

Every route wants ``Authorization: Bearer <SLACK_HITL_API_TOKEN>``; the token is checked
before the body is read, so a caller without it learns nothing, not even what is invalid.
A request is checked completely (shape, kinds, text limits, Slack's modal limits) before
anything is stored or posted: a refused request changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.types import Message, Receive

from slack_hitl.approvals import Actor, Approval, ExpiryPolicy, Reminders, Row
from slack_hitl.decisions import Decision, Outcome
from slack_hitl.engine import Engine
from slack_hitl.errors import ApprovalClosed, IdempotencyKeyReused, Location, UnknownApproval
from slack_hitl.inbox import decidable_rows as inbox_rows
from slack_hitl.inbox import pending_approvals
from slack_hitl.requirements import Kind
from slack_hitl.service.callback_hosts import CallbackHostRefused
from slack_hitl.service.inputs import ApprovalRequest, CancelRequest, InputProblem, to_requirements
from slack_hitl.service.webhook import ADAPTER_NAME, WebhookAdapter, callback_of, shown_url
from slack_hitl.slack.client import UserGroupDirectory
from slack_hitl.slack.endpoint import BodyTooLarge, Disconnected, read_body_within
from slack_hitl.slack.publisher import ApprovalNotPosted
from slack_hitl.status import FINAL_STATUSES, ApprovalStatus
from slack_hitl.storable import MAX_JSON_DEPTH, json_problems, shown_json

log = structlog.get_logger("slack_hitl.service.api")

MAX_BODY_BYTES = 512 * 1024
MAX_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.25
API_ACTOR = Actor(id="api", name="HTTP API")
IDEMPOTENCY_PREFIX = "api:"
"""API keys live in their own namespace, so a caller cannot collide with keys slack_hitl makes itself."""


# -- what the API answers ---------------------------------------------------------------------


class Person(BaseModel):
    id: str
    name: str | None = None


class VoteView(BaseModel):
    """One person's vote on a quorum row."""

    voter: Person
    outcome: Outcome
    reason: str | None
    at: dt.datetime


class RowView(BaseModel):
    """One row: its requirement's id, kind and title, and its decision once there is one."""

    id: str
    kind: Kind
    title: str
    description: str
    decision: Decision | None
    decided_by: Person | None
    decided_at: dt.datetime | None
    votes: list[VoteView] = Field(default_factory=list, description="a quorum row's votes, oldest first")


class ApprovalView(BaseModel):
    """An approval as the API shows it (never its callback secret)."""

    id: str
    title: str
    status: ApprovalStatus
    outcome: Literal["approved", "rejected", "completed"] | None
    channel: str | None
    thread_ts: str | None
    message_ts: str | None
    parent_id: str | None
    requested_by: str | None
    reminders: Reminders | None
    reminders_sent: int
    escalated: bool
    expires_at: dt.datetime | None
    expiry_policy: ExpiryPolicy
    expired: bool
    attempts: int
    last_error: str | None
    callback_url: str | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    rows: list[RowView]


class ApprovalList(BaseModel):
    approvals: list[ApprovalView]


class Problem(BaseModel):
    detail: str


def _row_view(row: Row) -> RowView:
    return RowView(
        id=row.id,
        kind=row.requirement.kind,
        title=row.requirement.title,
        description=row.requirement.description,
        decision=row.decision,
        decided_by=Person(id=row.decided_by, name=row.decided_by_name) if row.decided_by else None,
        decided_at=row.decided_at,
        votes=[
            VoteView(voter=Person(id=v.voter, name=v.voter_name), outcome=v.outcome, reason=v.reason, at=v.at)
            for v in row.votes
        ],
    )


def approval_view(approval: Approval) -> ApprovalView:
    callback = callback_of(approval)
    view = ApprovalView(
        id=approval.id,
        title=approval.title,
        status=approval.status,
        outcome=approval.outcome,  # type: ignore[arg-type]
        channel=approval.channel,
        thread_ts=approval.thread_ts,
        message_ts=approval.message_ts,
        parent_id=approval.parent_id,
        requested_by=approval.requested_by,
        reminders=approval.reminders,
        reminders_sent=approval.reminders_sent,
        escalated=approval.escalated,
        expires_at=approval.expires_at,
        expiry_policy=approval.expiry_policy,
        expired=approval.expired,
        attempts=approval.attempts,
        last_error=approval.last_error,
        callback_url=shown_url(callback["url"]) if callback else None,
        metadata=approval.metadata,
        created_at=approval.created_at,
        finished_at=approval.finished_at,
        rows=[_row_view(row) for row in approval.rows],
    )
    # What was stored before the input checks (or around them) may hold text or nesting that no
    # JSON answer can carry: it is shown cleaned and cut, never as a 500 for every caller.
    dumped = view.model_dump()
    if next(json_problems(dumped), None) is None:
        return view
    log.warning("approval_shown_cleaned", approval_id=approval.id)
    return ApprovalView.model_validate(shown_json(dumped))


def _unprocessable(problem: InputProblem) -> HTTPException:
    """The same shape as FastAPI's own validation errors: a list of {loc, msg, type}."""
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["body", *loc], "msg": reason, "type": "value_error"} for loc, reason in problem.problems],
    )


# -- the token, checked before anything else --------------------------------------------------


def _token_route(api_token: str) -> type[APIRoute]:
    expected = api_token.encode()

    class TokenCheckedRoute(APIRoute):
        """Refuses a request without the right bearer token (401) or with too big a body (413), before parsing it."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def checked(request: Request) -> Response:
                scheme, _, given = request.headers.get("authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
                    return JSONResponse(
                        {"detail": "a valid bearer token is required (Authorization: Bearer <SLACK_HITL_API_TOKEN>)"},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                declared = request.headers.get("content-length", "0")
                if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                    return _too_large()
                try:
                    # Read as it streams in: a chunked body declares no length, and is refused as
                    # soon as it passes the limit, not once it has been buffered whole.
                    body = await read_body_within(request.receive, MAX_BODY_BYTES)
                except BodyTooLarge:
                    return _too_large()
                except Disconnected:
                    return Response(status_code=400)
                refusal = _body_refusal(body)
                if refusal is not None:
                    return refusal
                return await handle(Request(request.scope, _replaying(body, request.receive)))

            return checked

    return TokenCheckedRoute


def _too_large() -> JSONResponse:
    return JSONResponse({"detail": f"the request body is larger than {MAX_BODY_BYTES} bytes"}, status_code=413)


def _body_refusal(body: bytes) -> JSONResponse | None:
    """A 4xx for a body that is not UTF-8, or whose JSON has text no database keeps or nests too deep."""
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return JSONResponse({"detail": f"the body is not valid UTF-8 (byte {error.start})"}, status_code=400)
    try:
        value = json.loads(text)
    except ValueError:
        return None  # FastAPI names what is wrong with it
    except RecursionError:
        value = None
        problems: list[tuple[Location, str]] = [((), f"is nested deeper than {MAX_JSON_DEPTH} levels")]
    else:
        problems = list(json_problems(value))
    if not problems:
        return None
    detail = [{"loc": ["body", *loc], "msg": reason, "type": "value_error"} for loc, reason in problems[:20]]
    return JSONResponse({"detail": detail}, status_code=422)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the route the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


_bearer = HTTPBearer(auto_error=False, description="SLACK_HITL_API_TOKEN")


def _documents_bearer(_: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Puts the bearer scheme into the OpenAPI schema; the route class has already checked the token."""


_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"model": Problem, "description": "missing or wrong token"}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no approval with this id"}}
_TOO_LARGE: dict[int | str, dict[str, Any]] = {413: {"model": Problem, "description": "the body is too large"}}
_UNREADABLE: dict[int | str, dict[str, Any]] = {400: {"model": Problem, "description": "the body cannot be parsed"}}


# -- the routes -------------------------------------------------------------------------------


SLACK_USER_PATTERN = r"^[UW][A-Z0-9]{2,20}$"


def api_router(engine: Engine, *, api_token: str, user_groups: UserGroupDirectory | None = None) -> APIRouter:
    """The ``/v1`` routes over ``engine``, which must have the ``webhook`` adapter (``WebhookAdapter``).

    ``user_groups`` says who is in the user groups that may decide rows (for ``?decider=``); without
    it, only rows that name the person, or anyone, are theirs.
    """
    if ADAPTER_NAME not in engine.adapters:
        raise ValueError("the engine has no webhook adapter: build it with Engine(..., adapters=[WebhookAdapter()])")
    router = APIRouter(
        prefix="/v1",
        tags=["approvals"],
        route_class=_token_route(api_token),
        dependencies=[Depends(_documents_bearer)],
        responses={**_UNAUTHORIZED, **_TOO_LARGE},
    )
    store = engine.store
    webhook = engine.adapters[ADAPTER_NAME]
    if not isinstance(webhook, WebhookAdapter):
        raise TypeError(f"the engine's {ADAPTER_NAME!r} adapter is not a WebhookAdapter")

    @router.post(
        "/approvals",
        status_code=201,
        response_model=ApprovalView,
        responses={
            **_UNREADABLE,
            409: {"model": Problem, "description": "the idempotency key was given for another request"},
        },
    )
    async def open_approval(request: ApprovalRequest) -> ApprovalView:
        """Open an approval: store it and post its message. The same idempotency key returns the same approval."""
        try:
            requirements = to_requirements(request.requirements)
        except InputProblem as problem:
            raise _unprocessable(problem) from None
        if request.callback is not None:
            try:
                await webhook.check_callback(str(request.callback.url))
            except CallbackHostRefused as refused:
                raise _unprocessable(InputProblem([(("callback", "url"), str(refused))])) from None
        key = IDEMPOTENCY_PREFIX + request.idempotency_key if request.idempotency_key else None
        options: dict[str, Any] = {
            "title": request.title,
            "requirements": requirements,
            "adapter": ADAPTER_NAME,
            "resume_state": {"callback": request.callback.model_dump(mode="json")} if request.callback else {},
            "channel": request.channel,
            "thread_ts": request.thread_ts,
            "expires_at": request.expires_at,
            "expiry_policy": request.expiry_policy,
            "idempotency_key": key,
            "metadata": request.metadata,
            "actor": API_ACTOR,
            "requested_by": request.requested_by,
            "reminders": request.reminders,
        }
        try:
            # The store answers a key given before for this same request with its approval, also
            # when two such requests race; a key given for another request is refused.
            approval = await engine.open_approval(**options)
        except InputProblem as problem:  # the engine's own check: texts, nesting, what Slack can show
            raise _unprocessable(problem) from None
        except IdempotencyKeyReused as reused:
            raise HTTPException(409, str(reused).replace(repr(reused.key), repr(request.idempotency_key))) from None
        except ApprovalNotPosted as refused:
            # Nothing may stay open that nobody can see: the stored approval is cancelled, and the
            # caller learns which setting to fix.
            await engine.cancel(refused.approval_id, API_ACTOR, reason=f"Slack refused the post: {refused.slack_error}")
            refusal = f"Slack refused to post in {request.channel!r}: {refused.slack_error}"
            raise _unprocessable(InputProblem([(("channel",), refusal)])) from None
        return approval_view(await store.get(approval.id))

    @router.get("/approvals", response_model=ApprovalList)
    async def list_approvals(
        status: ApprovalStatus | None = None,
        limit: int = Query(50, ge=1, le=200),
        offset: int = Query(0, ge=0, le=100_000),
        decider: str | None = Query(
            None,
            pattern=SLACK_USER_PATTERN,
            description="a Slack user id: only the rows this person may still decide, and the approvals that have any",
        ),
    ) -> ApprovalList:
        """Approvals, newest first, optionally only those with ``status``; with ``decider``, only the rows
        that person may still decide (the App Home's inbox), in the pending approvals that have any."""
        if decider is None:
            approvals = await store.list_approvals(status=status, limit=limit, offset=offset)
            return ApprovalList(approvals=[approval_view(approval) for approval in approvals])
        if status not in (None, "pending"):
            return ApprovalList(approvals=[])  # only a pending approval has rows left to decide
        pending = await pending_approvals(store)
        group_ids = sorted({g for a in pending for r in a.rows for g in r.requirement.deciders.group_ids})
        groups = await user_groups.groups_of(decider, group_ids) if user_groups and group_ids else ()
        rows = inbox_rows(pending, Actor(id=decider, group_ids=groups))
        views: dict[str, ApprovalView] = {}
        for item in rows:
            view = views.setdefault(item.approval.id, approval_view(item.approval).model_copy(update={"rows": []}))
            view.rows.append(_row_view(item.row))
        return ApprovalList(approvals=list(views.values())[offset : offset + limit])

    @router.get("/approvals/{approval_id}", response_model=ApprovalView, responses=_NOT_FOUND)
    async def get_approval(
        approval_id: str = Path(max_length=64),
        wait: float = Query(
            0, ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the status to change before answering"
        ),
    ) -> ApprovalView:
        """One approval. With ``wait``, answers when its status changes or ``wait`` seconds pass, whichever is first."""
        approval = await _get(approval_id)
        deadline = time.monotonic() + wait
        first = approval.status
        while approval.status == first and first not in FINAL_STATUSES and time.monotonic() < deadline:
            await asyncio.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
            approval = await _get(approval_id)
        return approval_view(approval)

    @router.post(
        "/approvals/{approval_id}/cancel",
        response_model=ApprovalView,
        responses={
            **_NOT_FOUND,
            **_UNREADABLE,
            409: {"model": Problem, "description": "the approval no longer takes decisions"},
        },
    )
    async def cancel_approval(
        approval_id: str = Path(max_length=64), request: CancelRequest | None = None
    ) -> ApprovalView:
        """Cancel a pending approval: it takes no more decisions and is never resumed."""
        await _get(approval_id)
        try:
            await engine.cancel(approval_id, API_ACTOR, reason=request.reason if request else None)
        except ApprovalClosed as closed:
            raise HTTPException(409, str(closed)) from None
        return approval_view(await _get(approval_id))

    async def _get(approval_id: str) -> Approval:
        try:
            return await store.get(approval_id)
        except UnknownApproval as unknown:
            raise HTTPException(404, str(unknown)) from None

    return router
