"""The emulator over HTTP: the Web API at ``/api/<method>`` and the response URLs it hands out.

A transport only turns requests into calls of `WebApi.answer` (or of the response URL rule) and
answers back; a second one (Socket Mode's WebSocket, say) contributes its own routes beside these.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from slack_hitl.testing.emulator.dispatch import WebApi
from slack_hitl.testing.emulator.errors import ApiError
from slack_hitl.testing.emulator.params import str_param
from slack_hitl.testing.emulator.records import JSONDict
from slack_hitl.testing.emulator.response_urls import SPENT_ERRORS, use_response_url
from slack_hitl.testing.emulator.workspace import Workspace


def http_routes(workspace: Workspace, api: WebApi) -> list[BaseRoute]:
    """The routes Slack serves over HTTPS, answered by ``api`` and ``workspace``."""

    async def web_api(request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params = await _read_params(request)
        except ApiError as error:
            return JSONResponse(error.body())
        token = _bearer_token(request) or str_param(params, "token")
        params.pop("token", None)
        answer = api.answer(method, token, params)
        if answer.delay:  # a slow or hung Slack, as a test asked for
            await asyncio.sleep(answer.delay)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    async def response_url(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        with workspace.lock:
            try:
                use_response_url(workspace, token, body)
            except ApiError as error:
                status = 404 if error.error in SPENT_ERRORS else 400
                return PlainTextResponse(error.error, status_code=status)
        return JSONResponse({"ok": True})

    return [
        Route("/api/{method:str}", web_api, methods=["GET", "POST"]),
        Route("/actions/{team_id:str}/{token:str}", response_url, methods=["POST"]),
    ]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _read_params(request: Request) -> JSONDict:
    """Query string plus body, for form-encoded, multipart and JSON posts alike."""
    params: JSONDict = dict(request.query_params)
    if request.method != "POST":
        return params
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                raise ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise ApiError("invalid_json")
            params.update(body)
        return params
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
        return params
    if await request.body():
        raise ApiError("invalid_post_type")
    return params
