"""A local Slack Web API that the real slack_sdk clients talk to in tests.

`SlackEmulator` serves the subset of the Web API this project uses on 127.0.0.1, keeps
what was posted in memory, and rejects what Slack rejects (Block Kit limits, expired
trigger ids, streaming rules, rate limits on request). Point a client at it with
``AsyncWebClient(token="xoxb-test", base_url=emulator.base_url)``.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

JSONDict = dict[str, Any]

MESSAGE_BLOCK_LIMIT = 50
MODAL_BLOCK_LIMIT = 100
MESSAGE_TEXT_LIMIT = 4000
MESSAGE_BLOCKS_TEXT_LIMIT = 13_000
STREAM_TEXT_LIMIT = 12_000
VIEW_SIZE_LIMIT_BYTES = 250_000
VIEW_STACK_LIMIT = 3
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60

STREAMING_DISABLED_ERROR = "not_allowed_token_type"
"""What chat.startStream answers when ``streaming_enabled`` is False.

Slack documents no dedicated error for apps or workspaces that cannot stream;
`not_allowed_token_type` is the closest documented chat.startStream error."""

StreamState = Literal["streaming", "stopped", "expired"]


class InvalidViewAckError(ValueError):
    """The app acknowledged a view submission with a body Slack would refuse."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class CallRecord:
    """One Web API call the emulator answered."""

    method: str
    params: JSONDict
    response: JSONDict
    status_code: int
    timestamp: float

    @property
    def ok(self) -> bool:
        """Whether Slack would have reported success."""
        return bool(self.response.get("ok"))


@dataclass
class EmulatedMessage:
    """A message as the emulator stores it (a snapshot when returned by accessors)."""

    channel: str
    ts: str
    text: str
    blocks: list[JSONDict]
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None
    attachments: list[JSONDict] | None = None
    metadata: JSONDict | None = None
    edited_count: int = 0
    stream_state: StreamState | None = None
    stream_started_at: float | None = None
    stream_chunks: list[JSONDict] = field(default_factory=list)
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None

    @property
    def is_bot(self) -> bool:
        """Posted by the app (as opposed to a person)."""
        return self.bot_id is not None

    @property
    def streaming(self) -> bool:
        """Still accepting chat.appendStream."""
        return self.stream_state == "streaming"

    @property
    def is_reply(self) -> bool:
        """A reply inside a thread (not the thread's parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class EphemeralMessage:
    """A message only one user saw (chat.postEphemeral)."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[JSONDict]
    thread_ts: str | None = None


@dataclass
class EmulatedView:
    """A modal opened for one user."""

    id: str
    user_id: str
    trigger_id: str
    definition: JSONDict
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    is_open: bool = True
    errors: dict[str, str] | None = None

    @property
    def blocks(self) -> list[JSONDict]:
        """The view's blocks, with the ids Slack filled in."""
        return list(self.definition.get("blocks", []))

    @property
    def private_metadata(self) -> str:
        """What the app stored in the view for itself."""
        return str(self.definition.get("private_metadata", ""))

    @property
    def callback_id(self) -> str:
        """The app's name for this kind of view."""
        return str(self.definition.get("callback_id", ""))

    @property
    def external_id(self) -> str:
        """The app's unique id for this view, if it set one."""
        return str(self.definition.get("external_id", ""))

    @property
    def title(self) -> str:
        """The title text shown at the top of the modal."""
        title = self.definition.get("title") or {}
        return str(title.get("text", ""))


@dataclass
class ThreadStatus:
    """The assistant status line shown under a thread ("is thinking...")."""

    channel_id: str
    thread_ts: str
    status: str
    loading_messages: list[str] | None = None


@dataclass
class EmulatedUser:
    """A member of the emulated workspace."""

    id: str
    name: str
    real_name: str
    team_id: str
    is_bot: bool = False


@dataclass(frozen=True)
class EmulatedUserGroup:
    """A user group (``@handle``) of the emulated workspace and its members."""

    id: str
    handle: str
    user_ids: tuple[str, ...]


@dataclass
class _Trigger:
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class _RateLimit:
    fraction: float
    retry_after: int
    rng: random.Random


@dataclass
class _InjectedError:
    error: str
    remaining: int


@dataclass
class _ResponseUrl:
    channel: str
    message_ts: str
    user_id: str
    issued_at: float
    uses: int = 0


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> JSONDict:
        return {"ok": False, "error": self.error, **self.extra}


def _invalid_arguments(*messages: str) -> _ApiError:
    return _ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


def _invalid_blocks(problems: list[str]) -> _ApiError:
    return _ApiError(
        "invalid_blocks",
        errors=problems,
        response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
    )


# --------------------------------------------------------------------------- Block Kit rules

_BLOCK_TYPES = frozenset(
    {
        "actions",
        "alert",
        "call",
        "card",
        "carousel",
        "container",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "plan",
        "rich_text",
        "section",
        "table",
        "task_card",
        "video",
    }
)
_ELEMENT_TYPES = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "feedback_buttons",
        "file_input",
        "icon_button",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)
_OPTION_LIMITS: dict[str, int] = {
    "static_select": 100,
    "multi_static_select": 100,
    "overflow": 5,
    "checkboxes": 10,
    "radio_buttons": 10,
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Problems:
    """Collects Block Kit violations worded like Slack's, each with its JSON pointer."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.messages.append(f"{message} [json-pointer:{pointer}]")

    def max_length(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def max_items(self, items: object, limit: int, pointer: str) -> None:
        if isinstance(items, list) and len(items) > limit:
            self.add(f"no more than {limit} items allowed", pointer)


def _check_text_object(
    problems: _Problems,
    obj: object,
    pointer: str,
    *,
    limit: int | None,
    plain_only: bool = False,
) -> None:
    if not isinstance(obj, dict):
        problems.add("must provide an object", pointer)
        return
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        problems.add(f"must be one of: {', '.join(allowed)}", f"{pointer}/type")
    text = obj.get("text")
    if not isinstance(text, str):
        problems.add("missing required field: text", pointer)
    elif not text:
        problems.add("must be more than 0 characters", f"{pointer}/text")
    elif limit is not None:
        problems.max_length(text, limit, f"{pointer}/text")


def _check_options(problems: _Problems, options: object, limit: int, pointer: str) -> None:
    if not isinstance(options, list):
        problems.add("must provide an array", pointer)
        return
    problems.max_items(options, limit, pointer)
    for index, option in enumerate(options):
        option_pointer = f"{pointer}/{index}"
        if not isinstance(option, dict):
            problems.add("must provide an object", option_pointer)
            continue
        _check_text_object(problems, option.get("text"), f"{option_pointer}/text", limit=75)
        problems.max_length(option.get("value"), 150, f"{option_pointer}/value")


def _check_option_source(problems: _Problems, element: JSONDict, pointer: str) -> None:
    limit = _OPTION_LIMITS[element["type"]]
    if "option_groups" in element:
        groups = element["option_groups"]
        problems.max_items(groups, limit, f"{pointer}/option_groups")
        for index, group in enumerate(groups if isinstance(groups, list) else []):
            if isinstance(group, dict):
                group_pointer = f"{pointer}/option_groups/{index}/options"
                _check_options(problems, group.get("options"), limit, group_pointer)
        return
    if "options" not in element:
        problems.add("must provide either options or option_groups", pointer)
        return
    _check_options(problems, element["options"], limit, f"{pointer}/options")


def _check_button(problems: _Problems, element: JSONDict, pointer: str) -> None:
    _check_text_object(problems, element.get("text"), f"{pointer}/text", limit=75, plain_only=True)
    problems.max_length(element.get("value"), 2000, f"{pointer}/value")
    problems.max_length(element.get("url"), 3000, f"{pointer}/url")
    if "style" in element and element["style"] not in ("primary", "danger"):
        problems.add("must be one of: primary, danger", f"{pointer}/style")


def _check_plain_text_input(problems: _Problems, element: JSONDict, pointer: str) -> None:
    max_length = element.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or not 1 <= max_length <= 3000):
        problems.add("must be between 1 and 3000", f"{pointer}/max_length")
    min_length = element.get("min_length")
    if min_length is not None and (not isinstance(min_length, int) or not 0 <= min_length <= 3000):
        problems.add("must be between 0 and 3000", f"{pointer}/min_length")


def _check_number_input(problems: _Problems, element: JSONDict, pointer: str) -> None:
    if not isinstance(element.get("is_decimal_allowed"), bool):
        problems.add("missing required field: is_decimal_allowed", pointer)


def _check_datepicker(problems: _Problems, element: JSONDict, pointer: str) -> None:
    initial = element.get("initial_date")
    if initial is not None and not (isinstance(initial, str) and _DATE_RE.match(initial)):
        problems.add("must match format YYYY-MM-DD", f"{pointer}/initial_date")


_ELEMENT_CHECKS: dict[str, Callable[[_Problems, JSONDict, str], None]] = {
    "button": _check_button,
    "static_select": _check_option_source,
    "multi_static_select": _check_option_source,
    "overflow": _check_option_source,
    "checkboxes": _check_option_source,
    "radio_buttons": _check_option_source,
    "plain_text_input": _check_plain_text_input,
    "number_input": _check_number_input,
    "datepicker": _check_datepicker,
}


def _check_element(problems: _Problems, element: object, pointer: str) -> None:
    if not isinstance(element, dict):
        problems.add("must provide an object", pointer)
        return
    element_type = element.get("type")
    if element_type not in _ELEMENT_TYPES:
        problems.add(f"unsupported element type `{element_type}`", f"{pointer}/type")
        return
    problems.max_length(element.get("action_id"), 255, f"{pointer}/action_id")
    check = _ELEMENT_CHECKS.get(element_type)
    if check is not None:
        check(problems, element, pointer)


def _check_section(problems: _Problems, block: JSONDict, pointer: str) -> None:
    if "text" not in block and "fields" not in block:
        problems.add("must provide either text or fields", pointer)
    if "text" in block:
        _check_text_object(problems, block["text"], f"{pointer}/text", limit=3000)
    if "fields" in block:
        fields = block["fields"]
        problems.max_items(fields, 10, f"{pointer}/fields")
        for index, item in enumerate(fields if isinstance(fields, list) else []):
            _check_text_object(problems, item, f"{pointer}/fields/{index}", limit=2000)
    if "accessory" in block:
        _check_element(problems, block["accessory"], f"{pointer}/accessory")


def _check_header(problems: _Problems, block: JSONDict, pointer: str) -> None:
    _check_text_object(problems, block.get("text"), f"{pointer}/text", limit=150, plain_only=True)


def _check_context(problems: _Problems, block: JSONDict, pointer: str) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.add("missing required field: elements", pointer)
        return
    problems.max_items(elements, 10, f"{pointer}/elements")
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            continue
        _check_text_object(problems, element, element_pointer, limit=None)


def _check_actions(problems: _Problems, block: JSONDict, pointer: str) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.add("missing required field: elements", pointer)
        return
    problems.max_items(elements, 25, f"{pointer}/elements")
    seen: set[str] = set()
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        _check_element(problems, element, element_pointer)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen:
                problems.add(f"duplicate action_id `{action_id}`", f"{element_pointer}/action_id")
            seen.add(action_id)


def _check_input(problems: _Problems, block: JSONDict, pointer: str) -> None:
    _check_text_object(problems, block.get("label"), f"{pointer}/label", limit=2000, plain_only=True)
    if "hint" in block:
        _check_text_object(problems, block["hint"], f"{pointer}/hint", limit=2000, plain_only=True)
    if "element" not in block:
        problems.add("missing required field: element", pointer)
        return
    _check_element(problems, block["element"], f"{pointer}/element")


_BLOCK_CHECKS: dict[str, Callable[[_Problems, JSONDict, str], None]] = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
}


def _check_blocks(problems: _Problems, blocks: list[Any], pointer: str, *, limit: int) -> None:
    problems.max_items(blocks, limit, pointer)
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        block_pointer = f"{pointer}/{index}"
        if not isinstance(block, dict):
            problems.add("must provide an object", block_pointer)
            continue
        block_type = block.get("type")
        if block_type not in _BLOCK_TYPES:
            problems.add(f"unsupported block type `{block_type}`", f"{block_pointer}/type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            problems.max_length(block_id, 255, f"{block_pointer}/block_id")
            if block_id in seen_block_ids:
                problems.add(f"duplicate block_id `{block_id}`", f"{block_pointer}/block_id")
            seen_block_ids.add(block_id)
        check = _BLOCK_CHECKS.get(block_type)
        if check is not None:
            check(problems, block, block_pointer)


def message_block_problems(blocks: list[Any]) -> list[str]:
    """Slack's `invalid_blocks` messages for the blocks of one message (empty when valid)."""
    problems = _Problems()
    _check_blocks(problems, blocks, "/blocks", limit=MESSAGE_BLOCK_LIMIT)
    return problems.messages


def view_problems(view: JSONDict) -> list[str]:
    """Slack's `invalid_arguments` messages for a modal definition (empty when valid)."""
    problems = _Problems()
    if view.get("type") != "modal":
        problems.add("must be one of: modal", "/view/type")
    if "title" not in view:
        problems.add("missing required field: title", "/view")
    else:
        _check_text_object(problems, view["title"], "/view/title", limit=24, plain_only=True)
    for name in ("submit", "close"):
        if view.get(name) is not None:
            _check_text_object(problems, view[name], f"/view/{name}", limit=24, plain_only=True)
    problems.max_length(view.get("private_metadata"), 3000, "/view/private_metadata")
    problems.max_length(view.get("callback_id"), 255, "/view/callback_id")
    problems.max_length(view.get("external_id"), 255, "/view/external_id")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        problems.add("missing required field: blocks", "/view")
        return problems.messages
    _check_blocks(problems, blocks, "/view/blocks", limit=MODAL_BLOCK_LIMIT)
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if has_input and view.get("submit") is None:
        problems.add("missing required field: submit (a modal with input blocks needs one)", "/view")
    return problems.messages


def blocks_text_length(value: object) -> int:
    """Total characters of every ``text`` string inside the given blocks."""
    if isinstance(value, list):
        return sum(blocks_text_length(item) for item in value)
    if isinstance(value, dict):
        total = 0
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                total += len(item)
            else:
                total += blocks_text_length(item)
        return total
    return 0


# --------------------------------------------------------------------------- parameters


def _decode_json(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


_JSON_PARAMS = ("blocks", "attachments", "view", "chunks", "metadata", "loading_messages")


def _normalized_params(params: Mapping[str, Any]) -> JSONDict:
    """Params with JSON-encoded form fields decoded, so both transports look alike."""
    normalized = dict(params)
    for name in _JSON_PARAMS:
        if name in normalized:
            normalized[name] = _decode_json(normalized[name])
    return normalized


def _str_param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _required(params: Mapping[str, Any], name: str, *, error: str | None = None) -> str:
    value = _str_param(params, name)
    if not value:
        if error is not None:
            raise _ApiError(error)
        raise _invalid_arguments(f"missing required field: {name}")
    return value


def _bool_param(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise _invalid_arguments(f"{name} must be an integer") from None


def _fresh_copy(value: Any) -> Any:
    """A copy sharing no objects, unlike deepcopy, so ids filled in later never alias."""
    return json.loads(json.dumps(value))


def _parse_blocks(params: Mapping[str, Any], name: str = "blocks") -> list[JSONDict] | None:
    if name not in params or params[name] is None:
        return None
    raw = params[name]
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise _ApiError("invalid_blocks_format") from None
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise _ApiError("invalid_blocks_format")
    return _fresh_copy(raw)


def _parse_view(params: Mapping[str, Any]) -> JSONDict:
    raw = params.get("view")
    if raw is None:
        raise _invalid_arguments("missing required field: view")
    if isinstance(raw, str):
        if len(raw.encode()) > VIEW_SIZE_LIMIT_BYTES:
            raise _ApiError("view_too_large")
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise _invalid_arguments("view must be a JSON-encoded object [json-pointer:/view]") from None
    if not isinstance(raw, dict):
        raise _invalid_arguments("must provide an object [json-pointer:/view]")
    if len(json.dumps(raw).encode()) > VIEW_SIZE_LIMIT_BYTES:
        raise _ApiError("view_too_large")
    problems = view_problems(raw)
    if problems:
        raise _invalid_arguments(*problems)
    return _fresh_copy(raw)


def _parse_chunks(params: Mapping[str, Any]) -> list[JSONDict]:
    raw = params.get("chunks")
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = _decode_json(raw)
    if not isinstance(raw, list) or not all(isinstance(c, dict) and "type" in c for c in raw):
        raise _invalid_arguments("chunks must be an array of objects with a type [json-pointer:/chunks]")
    return copy.deepcopy(raw)


def _stream_chunks(params: Mapping[str, Any]) -> list[JSONDict]:
    chunks = []
    markdown_text = _str_param(params, "markdown_text")
    if markdown_text:
        chunks.append({"type": "markdown_text", "text": markdown_text})
    chunks.extend(_parse_chunks(params))
    return chunks


def _markdown_of(chunks: Iterable[JSONDict]) -> str:
    return "".join(str(c.get("text", "")) for c in chunks if c.get("type") == "markdown_text")


def _check_message_blocks(blocks: list[JSONDict]) -> None:
    problems = message_block_problems(blocks)
    if problems:
        raise _invalid_blocks(problems)
    if blocks_text_length(blocks) > MESSAGE_BLOCKS_TEXT_LIMIT:
        raise _ApiError("msg_blocks_too_long")


def _check_message_text(text: str | None, markdown_text: str | None) -> None:
    if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
        raise _ApiError("msg_too_long")
    if markdown_text is not None and len(markdown_text) > STREAM_TEXT_LIMIT:
        raise _ApiError("msg_too_long")


def _is_channel_id(value: str) -> bool:
    return re.fullmatch(r"[CGD][A-Z0-9]+", value) is not None


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.b64decode(cursor).decode().partition(":")
        if kind != "offset":
            raise ValueError(cursor)
        return int(offset)
    except ValueError:
        raise _ApiError("invalid_cursor") from None


# --------------------------------------------------------------------------- background server


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0 for any free port), to hand to uvicorn as ``sockets=[...]``.

    It is made with ``IPPROTO_TCP`` on purpose: asyncio turns Nagle's algorithm off only on
    sockets whose protocol says TCP. Without that, a keep-alive response whose body is written
    after its headers waits for the client's delayed ACK: about 40 ms on every request.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class BackgroundServer:
    """Serves an ASGI app with uvicorn in a background thread on 127.0.0.1.

    Useful in tests to run the app under test next to the emulator::

        with BackgroundServer(app) as server:
            user = SlackTestUser(emulator, f"{server.url}/slack/interactions", secret)
    """

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """Root URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._port is None:
            raise RuntimeError("the server is not running; call start() first")
        return f"http://{self._host}:{self._port}"

    def start(self, timeout: float = 10.0) -> None:
        """Bind a port and serve until `stop()`; returns once the server accepts requests."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        sock = listening_socket(self._host, self._requested_port)
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            loop="asyncio",
            http="h11",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"uvicorn-{self._port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_started(timeout)

    def _wait_until_started(self, timeout: float) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._reset()
                raise RuntimeError("the server thread exited before it started serving")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the server thread to finish."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._reset()

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None
        self._port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- the emulator

_Handler = Callable[[JSONDict], JSONDict]


class SlackEmulator:
    """An in-memory Slack workspace served over HTTP for the real slack_sdk clients.

    Start it (or use it as a context manager), point clients at `base_url`, then
    inspect what the app did with `message`, `thread`, `ephemerals`, `open_view`,
    `thread_status` and `calls`. Everything is safe to read from the test thread
    while the server thread answers requests.

    Errors are Slack's own: `invalid_blocks` (with ``errors`` and JSON pointers) and
    `msg_blocks_too_long` / `msg_too_long` for messages; `invalid_arguments` (with
    ``response_metadata.messages``) and `view_too_large` for views; `invalid_trigger_id`,
    `exchanged_trigger_id` (used twice) and `expired_trigger_id` (after 3 s);
    `missing_recipient_team_id` / `missing_recipient_user_id`,
    `message_not_in_streaming_state` and `streaming_state_conflict` for streams;
    `no_such_subteam` for a user group that `add_user_group` did not define;
    HTTP 429 ``ratelimited`` with ``Retry-After`` when `rate_limit` says so.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0EMULATED",
        team_domain: str = "emulated",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0EMULATED",
        verification_token: str = "emulated-verification-token",
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.verification_token = verification_token
        self.streaming_enabled = True
        """When False, chat.startStream fails with `STREAMING_DISABLED_ERROR`."""
        self.stream_lifetime_seconds = 300.0
        """After this long a stream is closed by "Slack" (message_not_in_streaming_state)."""
        self.trigger_lifetime_seconds = 3.0
        """How long an issued trigger_id can open a view."""

        self._lock = threading.RLock()
        self._server = BackgroundServer(self._build_app())
        self._clock_offset = 0.0
        self._next_ts = 1_700_000_000 * 1_000_000
        self._next_view = 0
        self._ids = random.Random(0)
        self._calls: list[CallRecord] = []
        self._messages: dict[str, dict[str, EmulatedMessage]] = {}
        self._ephemerals: list[EphemeralMessage] = []
        self._views: dict[str, EmulatedView] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._statuses: dict[tuple[str, str], ThreadStatus] = {}
        self._users: dict[str, EmulatedUser] = {}
        self._user_groups: dict[str, EmulatedUserGroup] = {}
        self._channel_names: dict[str, str] = {}
        self._rate_limits: dict[str, _RateLimit] = {}
        self._injected: dict[str, _InjectedError] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._handlers: dict[str, _Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "assistant.threads.setStatus": self._assistant_set_status,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }
        self.add_user(bot_user_id, "emulated_bot", is_bot=True)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start serving on a free port of 127.0.0.1."""
        self._server.start()

    def stop(self) -> None:
        """Stop serving. Recorded state stays readable."""
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL of the emulator, e.g. ``http://127.0.0.1:54321``."""
        return self._server.url

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give slack_sdk clients, e.g. ``http://127.0.0.1:54321/api/``."""
        return f"{self.url}/api/"

    # ----------------------------------------------------------------- knobs

    def issue_trigger_id(self, user_id: str) -> str:
        """A fresh trigger_id, as Slack sends with an interaction by `user_id`."""
        with self._lock:
            trigger_id = f"{self._next_ts // 1000}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = _Trigger(user_id=user_id, issued_at=self._now())
            return trigger_id

    def issue_response_url(self, channel: str, message_ts: str, user_id: str) -> str:
        """A response_url for an interaction on a message (5 uses within 30 minutes)."""
        with self._lock:
            token = secrets.token_hex(12)
            self._response_urls[token] = _ResponseUrl(channel, message_ts, user_id, self._now())
            return f"{self.url}/actions/{self.team_id}/{token}"

    def rate_limit(
        self,
        method: str,
        *,
        fraction: float = 1.0,
        retry_after: int = 1,
        seed: int | None = None,
    ) -> None:
        """Answer `fraction` of the calls to `method` with HTTP 429 and ``Retry-After``.

        With a `seed`, which calls are limited is the same on every run.
        ``fraction=0`` lifts the limit.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within 0..1, got {fraction}")
        with self._lock:
            if fraction == 0.0:
                self._rate_limits.pop(method, None)
                return
            self._rate_limits[method] = _RateLimit(fraction, retry_after, random.Random(seed))

    def inject_error(self, method: str, error: str, *, times: int = 1) -> None:
        """Make the next `times` calls to `method` fail with ``{"ok": false, "error": error}``."""
        with self._lock:
            self._injected[method] = _InjectedError(error, times)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (expires triggers and streams without sleeping)."""
        with self._lock:
            self._clock_offset += seconds

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        team_id: str | None = None,
        is_bot: bool = False,
    ) -> None:
        """Register a workspace member (answered by users.info)."""
        with self._lock:
            self._users[user_id] = EmulatedUser(
                id=user_id,
                name=name,
                real_name=real_name or name,
                team_id=team_id or self.team_id,
                is_bot=is_bot,
            )

    def add_user_group(self, group_id: str, handle: str, user_ids: Iterable[str]) -> None:
        """Define (or redefine) a user group; ``usergroups.users.list`` answers with its members."""
        if isinstance(user_ids, str):
            raise ValueError(f"user_ids must be a list of user ids, not the string {user_ids!r}")
        members = tuple(user_ids)
        if not group_id.startswith("S"):
            raise ValueError(f"Slack user group ids start with 'S', got {group_id!r}")
        if any(not isinstance(member, str) or not member for member in members):
            raise ValueError(f"user_ids must be non-empty strings, got {members!r}")
        with self._lock:
            self._user_groups[group_id] = EmulatedUserGroup(id=group_id, handle=handle, user_ids=members)

    def add_channel(self, channel_id: str, name: str) -> None:
        """Name a channel, so posts may address it as ``#name`` and payloads carry its name."""
        with self._lock:
            self._channel_names[channel_id] = name

    def channel_name(self, channel_id: str) -> str:
        """The channel's name (its id in lower case unless `add_channel` named it)."""
        with self._lock:
            return self._channel_names.get(channel_id, channel_id.lower())

    def post_user_message(
        self,
        channel: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
    ) -> str:
        """Post a message as a person (e.g. the request a streamed reply answers); returns its ts."""
        with self._lock:
            root = self._thread_root(channel, thread_ts) if thread_ts else None
            message = EmulatedMessage(channel=channel, ts=self._new_ts(), text=text, blocks=[], user=user_id)
            message.thread_ts = root
            self._store(message)
            return message.ts

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[CallRecord]:
        """Every Web API call answered so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[CallRecord]:
        """The recorded calls to one method, e.g. ``"chat.update"``."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def message(self, channel: str, ts: str) -> EmulatedMessage:
        """A snapshot of one stored message; raises KeyError if there is none."""
        with self._lock:
            return copy.deepcopy(self._get_message(channel, ts))

    def messages(self, channel: str) -> list[EmulatedMessage]:
        """Snapshots of the channel's top-level messages, oldest first."""
        with self._lock:
            found = [m for m in self._channel(channel).values() if not m.is_reply]
            return [copy.deepcopy(self._refreshed(m)) for m in found]

    def thread(self, channel: str, thread_ts: str) -> list[EmulatedMessage]:
        """Snapshots of the replies in a thread, oldest first (streamed text assembled)."""
        with self._lock:
            replies = [m for m in self._channel(channel).values() if m.is_reply and m.thread_ts == thread_ts]
            return [copy.deepcopy(self._refreshed(m)) for m in replies]

    def message_payload(self, channel: str, ts: str) -> JSONDict:
        """The message as Slack shows it in API responses and interaction payloads."""
        with self._lock:
            return self._to_slack(self._get_message(channel, ts))

    def ephemerals(self, user_id: str) -> list[EphemeralMessage]:
        """Ephemeral messages shown to one user, oldest first."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._ephemerals if e.user == user_id]

    def view(self, view_id: str) -> EmulatedView:
        """A snapshot of one view, open or closed; raises KeyError if unknown."""
        with self._lock:
            return copy.deepcopy(self._views[view_id])

    def views(self, user_id: str | None = None) -> list[EmulatedView]:
        """Snapshots of all views (of one user if given), in the order they were opened."""
        with self._lock:
            return [copy.deepcopy(v) for v in self._views.values() if user_id in (None, v.user_id)]

    def open_view(self, user_id: str) -> EmulatedView | None:
        """The view the user is looking at (top of the stack), if any."""
        with self._lock:
            top = self._top_view(user_id)
            return copy.deepcopy(top) if top else None

    def thread_status(self, channel: str, thread_ts: str) -> ThreadStatus | None:
        """The assistant status shown under a thread, or None once cleared."""
        with self._lock:
            status = self._statuses.get((channel, thread_ts))
            return copy.deepcopy(status) if status else None

    # ----------------------------------------------------------------- view lifecycle (used by SlackTestUser)

    def close_view(self, view_id: str, *, clear: bool = False) -> None:
        """Close a view as the user would; `clear` closes the whole stack it belongs to."""
        with self._lock:
            view = self._views[view_id]
            stack = [v for v in self._views.values() if v.root_view_id == view.root_view_id and v.is_open]
            for closing in stack if clear else [view]:
                closing.is_open = False

    def apply_view_submission_ack(self, view_id: str, ack: JSONDict | None) -> None:
        """Do to the view what Slack does with the app's answer to a view_submission.

        An empty answer closes the view; ``response_action`` ``clear``, ``update``, ``push``
        and ``errors`` behave as on Slack. Raises `InvalidViewAckError` for answers
        Slack would refuse (unknown action, errors not keyed by an input block_id...).
        """
        with self._lock:
            view = self._views[view_id]
            action = (ack or {}).get("response_action")
            view.errors = None
            if not ack:
                view.is_open = False
            elif action == "clear":
                self.close_view(view_id, clear=True)
            elif action == "errors":
                view.errors = self._checked_errors(view, ack.get("errors"))
            elif action == "update":
                self._replace_definition(view, self._checked_ack_view(ack))
            elif action == "push":
                self._push_view(view.user_id, view.trigger_id, self._checked_ack_view(ack))
            else:
                raise InvalidViewAckError(f"unknown response_action {action!r} in {ack!r}")

    def _checked_errors(self, view: EmulatedView, errors: object) -> dict[str, str]:
        if not isinstance(errors, dict) or not errors:
            raise InvalidViewAckError(f"response_action errors needs a non-empty errors object, got {errors!r}")
        input_ids = {b.get("block_id") for b in view.blocks if b.get("type") == "input"}
        unknown = sorted(str(k) for k in errors if k not in input_ids)
        if unknown:
            raise InvalidViewAckError(
                f"errors must be keyed by input block_ids {sorted(map(str, input_ids))}, got {unknown}"
            )
        return {str(k): str(v) for k, v in errors.items()}

    def _checked_ack_view(self, ack: JSONDict) -> JSONDict:
        try:
            return _parse_view({"view": ack.get("view")})
        except _ApiError as error:
            raise InvalidViewAckError(f"Slack would refuse the view in the ack: {error.body()}") from None

    # ----------------------------------------------------------------- HTTP layer

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method:str}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/actions/{team_id:str}/{token:str}", self._response_url_endpoint, methods=["POST"]),
            ]
        )

    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params = await _read_params(request)
        except _ApiError as error:
            return JSONResponse(error.body())
        token = _bearer_token(request) or _str_param(params, "token")
        params.pop("token", None)
        status, body, headers = self._answer(method, token, params)
        return JSONResponse(body, status_code=status, headers=headers)

    def _answer(self, method: str, token: str | None, params: JSONDict) -> tuple[int, JSONDict, dict[str, str]]:
        with self._lock:
            status, headers = 200, {}
            try:
                body = self._dispatch(method, token, params)
            except _RateLimited as limited:
                status, headers = 429, {"Retry-After": str(limited.retry_after)}
                body = {"ok": False, "error": "ratelimited"}
            except _ApiError as error:
                body = error.body()
            record = CallRecord(
                method=method,
                params=copy.deepcopy(_normalized_params(params)),
                response=copy.deepcopy(body),
                status_code=status,
                timestamp=time.time(),
            )
            self._calls.append(record)
            return status, body, headers

    def _dispatch(self, method: str, token: str | None, params: JSONDict) -> JSONDict:
        handler = self._handlers.get(method)
        if handler is None:
            raise _ApiError("unknown_method")
        if not token:
            raise _ApiError("not_authed")
        if not token.startswith("xoxb-"):
            raise _ApiError("invalid_auth")
        self._apply_rate_limit(method)
        self._apply_injected_error(method)
        return handler(params)

    def _apply_rate_limit(self, method: str) -> None:
        rule = self._rate_limits.get(method)
        if rule is not None and rule.rng.random() < rule.fraction:
            raise _RateLimited(rule.retry_after)

    def _apply_injected_error(self, method: str) -> None:
        injected = self._injected.get(method)
        if injected is None:
            return
        injected.remaining -= 1
        if injected.remaining <= 0:
            del self._injected[method]
        raise _ApiError(injected.error)

    async def _response_url_endpoint(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        with self._lock:
            try:
                self._use_response_url(token, body)
            except _ApiError as error:
                status = 404 if error.error in ("used_url", "expired_url", "no_active_hooks") else 400
                return PlainTextResponse(error.error, status_code=status)
        return JSONResponse({"ok": True})

    # ----------------------------------------------------------------- state helpers

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    def _new_ts(self) -> str:
        self._next_ts += 100
        return f"{self._next_ts // 1_000_000}.{self._next_ts % 1_000_000:06d}"

    def _new_id(self, length: int = 5) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self._ids.choice(alphabet) for _ in range(length))

    def _resolve_channel(self, channel: str | None) -> str:
        if not channel:
            raise _ApiError("channel_not_found")
        name = channel.removeprefix("#")
        for channel_id, known in self._channel_names.items():
            if known == name:
                return channel_id
        if _is_channel_id(channel):
            return channel
        raise _ApiError("channel_not_found")

    def _channel(self, channel: str) -> dict[str, EmulatedMessage]:
        return self._messages.setdefault(channel, {})

    def _get_message(self, channel: str, ts: str) -> EmulatedMessage:
        message = self._messages.get(channel, {}).get(ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel}")
        return self._refreshed(message)

    def _find_message(self, channel: str, ts: str | None) -> EmulatedMessage:
        message = self._messages.get(channel, {}).get(ts or "")
        if message is None:
            raise _ApiError("message_not_found")
        return self._refreshed(message)

    def _refreshed(self, message: EmulatedMessage) -> EmulatedMessage:
        started = message.stream_started_at
        expired = started is not None and self._now() - started > self.stream_lifetime_seconds
        if message.streaming and expired:
            message.stream_state = "expired"
        return message

    def _thread_root(self, channel: str, thread_ts: str) -> str:
        parent = self._messages.get(channel, {}).get(thread_ts)
        if parent is None:
            raise _ApiError("invalid_thread_ts")
        return parent.thread_ts if parent.is_reply and parent.thread_ts else parent.ts

    def _store(self, message: EmulatedMessage) -> None:
        self._channel(message.channel)[message.ts] = message
        if message.thread_ts and message.is_bot:
            self._statuses.pop((message.channel, message.thread_ts), None)

    def _fill_ids(self, blocks: list[JSONDict]) -> list[JSONDict]:
        """Give blocks and elements without ids the random ids Slack assigns."""
        for block in blocks:
            block.setdefault("block_id", self._new_id())
            elements = list(block.get("elements") or [])
            elements += [block[key] for key in ("accessory", "element") if isinstance(block.get(key), dict)]
            for element in elements:
                if isinstance(element, dict) and element.get("type") in _ELEMENT_TYPES - {"image"}:
                    element.setdefault("action_id", self._new_id())
        return blocks

    def _to_slack(self, message: EmulatedMessage) -> JSONDict:
        payload: JSONDict = {"type": "message", "user": message.user, "text": message.text, "ts": message.ts}
        author = self._users.get(message.user)
        payload["team"] = author.team_id if author else self.team_id
        if message.is_bot:
            payload.update(bot_id=message.bot_id, app_id=self.app_id)
        if message.blocks:
            payload["blocks"] = copy.deepcopy(message.blocks)
        if message.attachments:
            payload["attachments"] = copy.deepcopy(message.attachments)
        if message.metadata:
            payload["metadata"] = copy.deepcopy(message.metadata)
        if message.edited_count:
            payload["edited"] = {"user": message.user, "ts": message.ts}
        if message.thread_ts:
            payload["thread_ts"] = message.thread_ts
        if message.is_reply:
            parent = self._messages[message.channel].get(message.thread_ts or "")
            payload["parent_user_id"] = parent.user if parent else None
        else:
            payload.update(self._reply_summary(message))
        return payload

    def _reply_summary(self, parent: EmulatedMessage) -> JSONDict:
        replies = [m for m in self._channel(parent.channel).values() if m.is_reply and m.thread_ts == parent.ts]
        if not replies:
            return {}
        return {
            "thread_ts": parent.ts,
            "reply_count": len(replies),
            "reply_users": sorted({m.user for m in replies}),
            "latest_reply": replies[-1].ts,
        }

    # ----------------------------------------------------------------- methods: auth, users

    def _auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain,
            "user": self._users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, params: JSONDict) -> JSONDict:
        user = self._users.get(_required(params, "user", error="user_not_found"))
        if user is None:
            raise _ApiError("user_not_found")
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": user.team_id,
                "name": user.name,
                "real_name": user.real_name,
                "deleted": False,
                "is_bot": user.is_bot,
                "is_app_user": False,
                "tz": "Europe/Berlin",
                "profile": {"real_name": user.real_name, "display_name": user.name, "team": user.team_id},
            },
        }

    def _usergroups_users_list(self, params: JSONDict) -> JSONDict:
        # Slack answers an unknown (or missing) group id with no_such_subteam.
        group = self._user_groups.get(_required(params, "usergroup", error="no_such_subteam"))
        if group is None:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(group.user_ids)}

    # ----------------------------------------------------------------- methods: chat

    def _message_content(self, params: JSONDict) -> tuple[str | None, list[JSONDict] | None]:
        """Validated (text, blocks) of a post or update, as Slack checks them."""
        text = _str_param(params, "text")
        markdown_text = _str_param(params, "markdown_text")
        blocks = _parse_blocks(params)
        if markdown_text is not None and (text is not None or blocks is not None):
            raise _ApiError("markdown_text_conflict")
        if blocks is not None:
            _check_message_blocks(blocks)
        _check_message_text(text, markdown_text)
        return (markdown_text if markdown_text is not None else text), blocks

    def _chat_post_message(self, params: JSONDict) -> JSONDict:
        channel = self._resolve_channel(_str_param(params, "channel"))
        text, blocks = self._message_content(params)
        attachments = _decode_json(params.get("attachments"))
        if not text and not blocks and not attachments:
            raise _ApiError("no_text")
        thread_ts = _str_param(params, "thread_ts")
        message = EmulatedMessage(
            channel=channel,
            ts=self._new_ts(),
            text=text or "",
            blocks=self._fill_ids(blocks or []),
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=self._thread_root(channel, thread_ts) if thread_ts else None,
            attachments=attachments if isinstance(attachments, list) else None,
            metadata=_json_object(params.get("metadata")),
        )
        self._store(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": self._to_slack(message)}

    def _chat_update(self, params: JSONDict) -> JSONDict:
        channel = self._resolve_channel(_str_param(params, "channel"))
        message = self._find_message(channel, _str_param(params, "ts"))
        if not message.is_bot:
            raise _ApiError("cant_update_message")
        if message.streaming:
            raise _ApiError("streaming_state_conflict")
        text, blocks = self._message_content(params)
        if text is None and blocks is None and "attachments" not in params:
            raise _ApiError("no_text")
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self._fill_ids(blocks)
        if "attachments" in params:
            attachments = _decode_json(params["attachments"])
            message.attachments = attachments if isinstance(attachments, list) else None
        message.edited_count += 1
        payload = self._to_slack(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text, "message": payload}

    def _chat_post_ephemeral(self, params: JSONDict) -> JSONDict:
        channel = self._resolve_channel(_str_param(params, "channel"))
        user = _required(params, "user", error="user_not_found")
        if user not in self._users:
            raise _ApiError("user_not_in_channel")
        text, blocks = self._message_content(params)
        if not text and not blocks and not params.get("attachments"):
            raise _ApiError("no_text")
        thread_ts = _str_param(params, "thread_ts")
        ephemeral = EphemeralMessage(
            channel=channel,
            user=user,
            message_ts=self._new_ts(),
            text=text or "",
            blocks=self._fill_ids(blocks or []),
            thread_ts=thread_ts,
        )
        self._ephemerals.append(ephemeral)
        return {"ok": True, "message_ts": ephemeral.message_ts}

    def _chat_delete(self, params: JSONDict) -> JSONDict:
        channel = self._resolve_channel(_str_param(params, "channel"))
        message = self._find_message(channel, _str_param(params, "ts"))
        if not message.is_bot:
            raise _ApiError("cant_delete_message")
        del self._messages[channel][message.ts]
        return {"ok": True, "channel": channel, "ts": message.ts}

    # ----------------------------------------------------------------- methods: streaming

    def _chat_start_stream(self, params: JSONDict) -> JSONDict:
        if not self.streaming_enabled:
            raise _ApiError(STREAMING_DISABLED_ERROR)
        channel = self._resolve_channel(_str_param(params, "channel"))
        thread_ts = self._thread_root(channel, _required(params, "thread_ts"))
        recipient_team_id = _str_param(params, "recipient_team_id")
        recipient_user_id = _str_param(params, "recipient_user_id")
        if not channel.startswith("D"):
            if not recipient_team_id:
                raise _ApiError("missing_recipient_team_id")
            if not recipient_user_id:
                raise _ApiError("missing_recipient_user_id")
        if "blocks" in params:
            raise _invalid_arguments("blocks are only accepted by chat.stopStream [json-pointer:/blocks]")
        chunks = _stream_chunks(params)
        self._check_stream_length(_markdown_of(chunks))
        message = EmulatedMessage(
            channel=channel,
            ts=self._new_ts(),
            text=_markdown_of(chunks),
            blocks=[],
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=thread_ts,
            stream_state="streaming",
            stream_started_at=self._now(),
            stream_chunks=chunks,
            recipient_user_id=recipient_user_id,
            recipient_team_id=recipient_team_id,
        )
        self._store(message)
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _streaming_message(self, params: JSONDict) -> EmulatedMessage:
        channel = self._resolve_channel(_str_param(params, "channel"))
        message = self._find_message(channel, _str_param(params, "ts"))
        if not message.streaming:
            raise _ApiError("message_not_in_streaming_state")
        return message

    def _check_stream_length(self, text: str) -> None:
        if len(text) > STREAM_TEXT_LIMIT:
            raise _ApiError("msg_too_long")

    def _append_chunks(self, message: EmulatedMessage, chunks: list[JSONDict]) -> None:
        combined = message.stream_chunks + chunks
        self._check_stream_length(_markdown_of(combined))
        message.stream_chunks = combined
        message.text = _markdown_of(combined)

    def _chat_append_stream(self, params: JSONDict) -> JSONDict:
        message = self._streaming_message(params)
        chunks = _stream_chunks(params)
        if not chunks:
            raise _ApiError("no_text")
        self._append_chunks(message, chunks)
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_stop_stream(self, params: JSONDict) -> JSONDict:
        message = self._streaming_message(params)
        blocks = _parse_blocks(params)
        if blocks is not None:
            _check_message_blocks(blocks)
        self._append_chunks(message, _stream_chunks(params))
        if blocks is not None:
            message.blocks = self._fill_ids(blocks)
        message.metadata = _json_object(params.get("metadata")) or message.metadata
        message.stream_state = "stopped"
        return {"ok": True, "channel": message.channel, "ts": message.ts, "message": self._to_slack(message)}

    def _assistant_set_status(self, params: JSONDict) -> JSONDict:
        channel = self._resolve_channel(_str_param(params, "channel_id"))
        thread_ts = self._thread_root(channel, _required(params, "thread_ts"))
        if "status" not in params:
            raise _invalid_arguments("missing required field: status")
        status = _str_param(params, "status") or ""
        if not status:
            self._statuses.pop((channel, thread_ts), None)
            return {"ok": True}
        loading = _decode_json(params.get("loading_messages"))
        self._statuses[(channel, thread_ts)] = ThreadStatus(
            channel_id=channel,
            thread_ts=thread_ts,
            status=status,
            loading_messages=[str(m) for m in loading] if isinstance(loading, list) else None,
        )
        return {"ok": True}

    # ----------------------------------------------------------------- methods: conversations

    def _page(self, messages: list[EmulatedMessage], params: JSONDict, *, default_limit: int) -> JSONDict:
        limit = max(1, _int_param(params, "limit", default_limit))
        offset = _decode_cursor(_str_param(params, "cursor"))
        page = messages[offset : offset + limit]
        has_more = offset + limit < len(messages)
        body: JSONDict = {"ok": True, "messages": [self._to_slack(m) for m in page], "has_more": has_more}
        body["response_metadata"] = {"next_cursor": _encode_cursor(offset + limit) if has_more else ""}
        return body

    def _conversations_history(self, params: JSONDict) -> JSONDict:
        channel = self._resolve_channel(_str_param(params, "channel"))
        found = [self._refreshed(m) for m in self._channel(channel).values() if not m.is_reply]
        found = _within(found, params)
        found.sort(key=lambda m: _ts_key(m.ts), reverse=True)
        return self._page(found, params, default_limit=100)

    def _conversations_replies(self, params: JSONDict) -> JSONDict:
        channel = self._resolve_channel(_str_param(params, "channel"))
        ts = _required(params, "ts", error="thread_not_found")
        parent = self._messages.get(channel, {}).get(ts)
        if parent is None:
            raise _ApiError("thread_not_found")
        root = parent.thread_ts if parent.is_reply and parent.thread_ts else parent.ts
        thread = [m for m in self._channel(channel).values() if m.ts == root or m.thread_ts == root]
        thread = [self._refreshed(m) for m in thread]
        thread.sort(key=lambda m: _ts_key(m.ts))
        return self._page(thread, params, default_limit=1000)

    # ----------------------------------------------------------------- methods: views

    def _usable_trigger(self, params: JSONDict) -> tuple[str, _Trigger]:
        """The request's trigger_id if it can still open a view (the caller spends it)."""
        trigger_id = _required(params, "trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if self._now() - trigger.issued_at > self.trigger_lifetime_seconds:
            raise _ApiError("expired_trigger_id")
        return trigger_id, trigger

    def _check_external_id(self, definition: JSONDict, *, except_view: str | None = None) -> None:
        external_id = definition.get("external_id")
        if not external_id:
            return
        for view in self._views.values():
            if view.id != except_view and view.external_id == external_id:
                raise _ApiError("duplicate_external_id")

    def _new_view(self, user_id: str, trigger_id: str, definition: JSONDict) -> EmulatedView:
        self._next_view += 1
        view_id = f"V{self._next_view:08d}"
        self._fill_ids(definition.setdefault("blocks", []))
        view = EmulatedView(
            id=view_id,
            user_id=user_id,
            trigger_id=trigger_id,
            definition=definition,
            hash=self._new_hash(),
            root_view_id=view_id,
        )
        self._views[view_id] = view
        return view

    def _new_hash(self) -> str:
        return f"{int(time.time())}.{secrets.token_hex(4)}"

    def _top_view(self, user_id: str) -> EmulatedView | None:
        open_views = [v for v in self._views.values() if v.user_id == user_id and v.is_open]
        return open_views[-1] if open_views else None

    def _view_payload(self, view: EmulatedView) -> JSONDict:
        definition = view.definition
        return {
            "id": view.id,
            "team_id": self.team_id,
            "type": definition.get("type", "modal"),
            "title": definition.get("title"),
            "submit": definition.get("submit"),
            "close": definition.get("close"),
            "blocks": copy.deepcopy(definition.get("blocks", [])),
            "private_metadata": definition.get("private_metadata", ""),
            "callback_id": definition.get("callback_id", ""),
            "external_id": definition.get("external_id", ""),
            "state": {"values": {}},
            "hash": view.hash,
            "clear_on_close": bool(definition.get("clear_on_close", False)),
            "notify_on_close": bool(definition.get("notify_on_close", False)),
            "root_view_id": view.root_view_id,
            "previous_view_id": view.previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def view_payload(self, view_id: str) -> JSONDict:
        """The view as Slack shows it in API responses and interaction payloads."""
        with self._lock:
            return self._view_payload(self._views[view_id])

    def _views_open(self, params: JSONDict) -> JSONDict:
        trigger_id, trigger = self._usable_trigger(params)
        definition = _parse_view(params)
        self._check_external_id(definition)
        for view in self._views.values():
            if view.user_id == trigger.user_id:
                view.is_open = False
        view = self._new_view(trigger.user_id, trigger_id, definition)
        trigger.used = True
        return {"ok": True, "view": self._view_payload(view)}

    def _push_view(self, user_id: str, trigger_id: str, definition: JSONDict) -> EmulatedView:
        top = self._top_view(user_id)
        if top is None:
            raise _ApiError("not_found")
        stack = [v for v in self._views.values() if v.root_view_id == top.root_view_id and v.is_open]
        if len(stack) >= VIEW_STACK_LIMIT:
            raise _ApiError("push_limit_reached")
        view = self._new_view(user_id, trigger_id, definition)
        view.root_view_id = top.root_view_id
        view.previous_view_id = top.id
        return view

    def _views_push(self, params: JSONDict) -> JSONDict:
        trigger_id, trigger = self._usable_trigger(params)
        definition = _parse_view(params)
        self._check_external_id(definition)
        view = self._push_view(trigger.user_id, trigger_id, definition)
        trigger.used = True
        return {"ok": True, "view": self._view_payload(view)}

    def _replace_definition(self, view: EmulatedView, definition: JSONDict) -> None:
        self._fill_ids(definition.setdefault("blocks", []))
        view.definition = definition
        view.hash = self._new_hash()

    def _views_update(self, params: JSONDict) -> JSONDict:
        view = self._view_to_update(params)
        expected_hash = _str_param(params, "hash")
        if expected_hash and expected_hash != view.hash:
            raise _ApiError("hash_conflict")
        definition = _parse_view(params)
        self._check_external_id(definition, except_view=view.id)
        self._replace_definition(view, definition)
        return {"ok": True, "view": self._view_payload(view)}

    def _view_to_update(self, params: JSONDict) -> EmulatedView:
        view_id = _str_param(params, "view_id")
        external_id = _str_param(params, "external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("either view_id or external_id is required")
        for view in self._views.values():
            if (view_id and view.id == view_id) or (external_id and view.external_id == external_id):
                if not view.is_open:
                    raise _ApiError("not_found")
                return view
        raise _ApiError("not_found")

    # ----------------------------------------------------------------- response_url

    def _use_response_url(self, token: str, body: JSONDict) -> None:
        hook = self._response_urls.get(token)
        if hook is None:
            raise _ApiError("no_active_hooks")
        if self._now() - hook.issued_at > RESPONSE_URL_LIFETIME_SECONDS:
            raise _ApiError("expired_url")
        if hook.uses >= RESPONSE_URL_USES:
            raise _ApiError("used_url")
        hook.uses += 1
        if _bool_param(body, "delete_original"):
            self._messages.get(hook.channel, {}).pop(hook.message_ts, None)
            return
        text, blocks = self._message_content(body)
        if _bool_param(body, "replace_original"):
            message = self._find_message(hook.channel, hook.message_ts)
            message.text = text if text is not None else message.text
            message.blocks = self._fill_ids(blocks) if blocks is not None else message.blocks
            message.edited_count += 1
        elif body.get("response_type") == "in_channel":
            message = EmulatedMessage(
                channel=hook.channel,
                ts=self._new_ts(),
                text=text or "",
                blocks=self._fill_ids(blocks or []),
                user=self.bot_user_id,
                bot_id=self.bot_id,
                thread_ts=_str_param(body, "thread_ts"),
            )
            self._store(message)
        else:
            ephemeral = EphemeralMessage(hook.channel, hook.user_id, self._new_ts(), text or "", blocks or [])
            self._ephemerals.append(ephemeral)


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


def _json_object(value: object) -> JSONDict | None:
    decoded = _decode_json(value)
    return decoded if isinstance(decoded, dict) else None


def _within(messages: list[EmulatedMessage], params: JSONDict) -> list[EmulatedMessage]:
    inclusive = _bool_param(params, "inclusive")
    oldest = _str_param(params, "oldest")
    latest = _str_param(params, "latest")

    def keep(message: EmulatedMessage) -> bool:
        key = _ts_key(message.ts)
        if oldest and (key < _ts_key(oldest) or (key == _ts_key(oldest) and not inclusive)):
            return False
        return not (latest and (key > _ts_key(latest) or (key == _ts_key(latest) and not inclusive)))

    return [m for m in messages if keep(m)]


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
                raise _ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise _ApiError("invalid_json")
            params.update(body)
        return params
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
        return params
    if await request.body():
        raise _ApiError("invalid_post_type")
    return params
