"""The console's web app: one static page that looks like a Slack channel, and the few calls it makes.

A click in the browser becomes exactly what Slack sends: the console finds the button in the
message as the emulator holds it and ``SlackTestUser`` signs and posts the ``block_actions``
payload to the service; a modal's submission becomes a ``view_submission`` the same way, and
Slack's answer (close, errors, update) is applied to the emulated modal. The page is plain
HTML, CSS and JavaScript shipped in the package: no build step, nothing fetched from the internet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import httpx
import structlog
from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from slack_hitl.demo.samples import SampleKind
from slack_hitl.demo.session import PEOPLE, DemoSession, UnknownPerson
from slack_hitl.demo.snapshot import ConsoleSnapshot
from slack_hitl.testing.slack_user import (
    AckDeadlineExceededError,
    SlackTestUser,
    SlackTestUserError,
    rendered_buttons,
)

log = structlog.get_logger("slack_hitl.demo.console")

STATIC_DIR = Path(str(files("slack_hitl.demo") / "static"))

FilledValue = str | list[str]
"""What a person put into one input: its text, the value of the option chosen, or the values of those chosen."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClickRequest(_Request):
    user: str
    channel: str
    ts: str
    action_id: str = Field(min_length=1)
    value: str | None = None


class SubmitRequest(_Request):
    user: str
    view_id: str
    values: dict[str, FilledValue] = Field(default_factory=dict)
    """Keyed by input block_id; inputs not given keep what the modal showed."""


class CloseRequest(_Request):
    user: str
    view_id: str


class SampleRequest(_Request):
    kind: SampleKind = "release"


def build_console_app(session: DemoSession) -> FastAPI:
    """The console for a started ``session``: ``/`` is the page, ``/console/*`` what it calls."""
    people = {p.id: {"name": p.name, "real_name": p.real_name} for p in PEOPLE}
    snapshot = ConsoleSnapshot(session.hitl.emulator, session.channel, people)
    app = FastAPI(title="slack_hitl demo console", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/console/state")
    async def state(user: Annotated[str, Query()], since: Annotated[str | None, Query()] = None) -> Response:
        _person(session, user)
        # Reading and hashing the whole channel is CPU work: off the loop that acks Slack's requests.
        current = await asyncio.to_thread(snapshot.state, user)
        if since is not None and since == current["revision"]:
            return Response(status_code=204)
        return JSONResponse(current)

    @app.post("/console/click")
    async def click(request: ClickRequest) -> dict[str, Any]:
        person = _person(session, request.user)
        emulator = session.hitl.emulator
        try:
            message = emulator.message_payload(request.channel, request.ts)
        except KeyError:
            raise HTTPException(404, f"there is no message {request.ts} in {request.channel}") from None
        # By what the button stands for, not its block_id: block_ids change with every re-render.
        pressed = [
            b for b in rendered_buttons(message) if b.action_id == request.action_id and b.value == request.value
        ]
        if not pressed:
            raise HTTPException(409, "that button is no longer on the message; it changed since it was shown")
        log.info("console_click", slack_user=person.user_id, button=pressed[0].text, ts=request.ts)
        return await _answer(person.click_rendered(request.channel, message, pressed[0]))

    @app.post("/console/submit")
    async def submit(request: SubmitRequest) -> dict[str, Any]:
        person = _person(session, request.user)
        _own_open_view(session, person, request.view_id)
        return await _answer(person.submit_view(request.values, view_id=request.view_id))

    @app.post("/console/close")
    async def close(request: CloseRequest) -> dict[str, Any]:
        person = _person(session, request.user)
        _own_open_view(session, person, request.view_id)
        response = await person.close_view(view_id=request.view_id)
        return {"status": response.status_code if response is not None else None, "ack": None}

    @app.post("/console/samples")
    async def open_sample(request: SampleRequest) -> dict[str, Any]:
        approval = await session.open_sample(request.kind)
        return {"approval_id": approval.id, "ts": approval.message_ts, "rows": len(approval.rows)}

    return app


def _person(session: DemoSession, user_id: str) -> SlackTestUser:
    try:
        return session.person(user_id)
    except UnknownPerson as unknown:
        raise HTTPException(404, str(unknown)) from None


def _own_open_view(session: DemoSession, person: SlackTestUser, view_id: str) -> None:
    try:
        view = session.hitl.emulator.view(view_id)
    except KeyError:
        raise HTTPException(404, f"there is no view {view_id}") from None
    if view.user_id != person.user_id:
        raise HTTPException(403, f"view {view_id} was opened for {view.user_id}, not {person.user_id}")
    if not view.is_open:
        raise HTTPException(409, f"view {view_id} is closed")


async def _answer(sending: Awaitable[httpx.Response]) -> dict[str, Any]:
    """Send one interaction; the service's status and ack body, or why Slack's client would not send it."""
    try:
        response = await sending
    except AckDeadlineExceededError as late:
        raise HTTPException(504, str(late)) from None
    except SlackTestUserError as refused:  # what Slack's own client refuses before sending
        raise HTTPException(422, str(refused)) from None
    except httpx.HTTPError as error:
        raise HTTPException(502, f"the slack_hitl service did not answer: {error}") from None
    return {"status": response.status_code, "ack": _body(response)}


def _body(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
