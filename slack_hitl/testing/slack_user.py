"""A person in the emulated workspace who clicks what the app really rendered.

`SlackTestUser` reads messages and views from a `SlackEmulator`, builds the interaction
payloads Slack would send (``block_actions``, ``view_submission``, ``view_closed``),
signs them with the app's signing secret and posts them to the app's interactions URL, or,
over Socket Mode (``transport="socket_mode"``), hands them to the emulator to send as
envelopes over the app's WebSocket. Opening the App Home sends ``app_home_opened`` the same
two ways (to the events URL, or as an ``events_api`` envelope).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from slack_hitl.service.tls import tls_context
from slack_hitl.slack.documented_limits import slack_length
from slack_hitl.testing.emulator import EmulatedView, InvalidViewAckError, JSONDict, SlackEmulator
from slack_hitl.testing.emulator.socket_mode import Acked

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
Transport = Literal["http", "socket_mode"]
"""How Slack reaches the app: POSTs to its request URLs, or envelopes over its Socket Mode WebSocket."""


class SlackTestUserError(AssertionError):
    """The test user could not do what the test asked, the way a person in Slack could not."""


class ElementNotFoundError(SlackTestUserError):
    """Nothing rendered matches what the test asked to click or fill."""


class AmbiguousElementError(SlackTestUserError):
    """More than one rendered element matches; the test must be more specific."""


class ClientValidationError(SlackTestUserError):
    """Slack's own client would refuse this input before sending anything to the app."""


class AckDeadlineExceededError(SlackTestUserError):
    """The app answered after Slack's 3-second deadline; a person would have seen an error."""


@dataclass(frozen=True)
class RenderedButton:
    """A button as it appears in a stored message, with the text shown near it."""

    message_ts: str
    block_id: str
    action_id: str
    text: str
    value: str | None
    style: str | None
    near_text: str

    def describe(self) -> str:
        """One line naming the button and where it is."""
        near = " ".join(self.near_text.split())
        near = near if len(near) <= 80 else f"{near[:77]}..."
        return (
            f"[{self.text}] near {near!r} "
            f"(message {self.message_ts}, block_id={self.block_id}, action_id={self.action_id})"
        )

    def action(self) -> JSONDict:
        """The entry Slack puts in a block_actions payload's ``actions`` for this button."""
        action: JSONDict = {
            "action_id": self.action_id,
            "block_id": self.block_id,
            "text": {"type": "plain_text", "text": self.text, "emoji": True},
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        if self.value is not None:
            action["value"] = self.value
        if self.style is not None:
            action["style"] = self.style
        return action


# --------------------------------------------------------------------------- reading rendered blocks


def _text_of(obj: object) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def block_text(block: JSONDict) -> str:
    """The visible text of a section, header, context or markdown block."""
    kind = block.get("type")
    if kind == "section":
        parts = [_text_of(block.get("text"))] + [_text_of(f) for f in block.get("fields") or []]
        return "\n".join(p for p in parts if p)
    if kind == "header":
        return _text_of(block.get("text"))
    if kind == "context":
        return "\n".join(_text_of(e) for e in block.get("elements") or [] if _text_of(e))
    if kind == "markdown":
        return str(block.get("text", ""))
    return ""


def _button(message_ts: str, block_id: str, element: JSONDict, near: list[str]) -> RenderedButton:
    return RenderedButton(
        message_ts=message_ts,
        block_id=block_id,
        action_id=str(element.get("action_id", "")),
        text=_text_of(element.get("text")),
        value=element.get("value"),
        style=element.get("style"),
        near_text="\n".join(near),
    )


def rendered_buttons(message: JSONDict) -> list[RenderedButton]:
    """Every button of a message, each with the text of the blocks right above it.

    The text near an actions block is the run of section/header/context blocks since
    the previous row (actions block, section with a button, divider or anything else).
    A section's accessory button is near that run including the section itself.
    """
    buttons: list[RenderedButton] = []
    near: list[str] = []
    ts = str(message.get("ts", ""))
    for block in message.get("blocks") or []:
        kind = block.get("type")
        block_id = str(block.get("block_id", ""))
        if kind in ("section", "header", "context", "markdown"):
            near.append(block_text(block))
            accessory = block.get("accessory")
            if kind == "section" and isinstance(accessory, dict) and accessory.get("type") == "button":
                buttons.append(_button(ts, block_id, accessory, near))
                near = []
        elif kind == "actions":
            for element in block.get("elements") or []:
                if element.get("type") == "button":
                    buttons.append(_button(ts, block_id, element, near))
            near = []
        else:
            near = []
    return buttons


def find_button(
    messages: Iterable[JSONDict],
    *,
    button_text: str,
    near: str | None = None,
) -> tuple[JSONDict, RenderedButton]:
    """The one button labelled `button_text` (near text containing `near`) and its message.

    Raises `ElementNotFoundError` or `AmbiguousElementError` listing what was rendered.
    """
    seen: list[tuple[JSONDict, RenderedButton]] = []
    for message in messages:
        seen.extend((message, button) for button in rendered_buttons(message))
    matches = [
        (message, button)
        for message, button in seen
        if button.text == button_text and (near is None or near in button.near_text)
    ]
    wanted = f"button {button_text!r}" + (f" near {near!r}" if near is not None else "")
    listing = "\n".join(f"  - {button.describe()}" for _, button in seen) or "  (no buttons at all)"
    if not matches:
        raise ElementNotFoundError(f"no {wanted} is rendered. Buttons seen:\n{listing}")
    if len(matches) > 1:
        found = "\n".join(f"  - {button.describe()}" for _, button in matches)
        raise AmbiguousElementError(f"{len(matches)} buttons match {wanted}; pass a narrower `near`:\n{found}")
    return matches[0]


def block_actions_payload(
    emulator: SlackEmulator, user: JSONDict, channel: str, message: JSONDict, button: RenderedButton
) -> JSONDict:
    """The ``block_actions`` payload Slack sends when ``user`` (``{id, username, name, team_id}``)
    clicks ``button`` of ``message`` (a ``message_payload``, carried whole as Slack does), with a
    fresh trigger_id and response_url."""
    container: JSONDict = {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False}
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": user,
        "api_app_id": emulator.app_id,
        "token": emulator.verification_token,
        "container": container,
        "trigger_id": emulator.issue_trigger_id(user["id"]),
        "team": {"id": user["team_id"], "domain": emulator.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": emulator.channel_name(channel)},
        "message": message,
        "state": {"values": {}},
        "response_url": emulator.issue_response_url(channel, message["ts"], user["id"]),
        "actions": [button.action()],
    }


# --------------------------------------------------------------------------- filling modals


def _options_of(element: JSONDict) -> list[JSONDict]:
    if "option_groups" in element:
        return [o for group in element["option_groups"] for o in group.get("options", [])]
    return list(element.get("options") or [])


def _pick_option(element: JSONDict, wanted: object, label: str) -> JSONDict:
    options = _options_of(element)
    for option in options:
        if wanted in (_text_of(option.get("text")), option.get("value")):
            return dict(option)
    shown = [f"{_text_of(o.get('text'))!r} (value {o.get('value')!r})" for o in options]
    raise ElementNotFoundError(f"{label!r} has no option {wanted!r}; options: {', '.join(shown)}")


def _pick_options(element: JSONDict, wanted: object, label: str) -> list[JSONDict]:
    options = _options_of(element)
    if isinstance(wanted, bool):
        if len(options) != 1:
            raise ClientValidationError(f"{label!r} has {len(options)} options; give their texts, not a bool")
        return [dict(options[0])] if wanted else []
    if isinstance(wanted, str) or not isinstance(wanted, Iterable):
        wanted = [wanted]
    return [_pick_option(element, item, label) for item in wanted]


def _date_text(value: object, label: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ClientValidationError(f"{label!r} needs a date (YYYY-MM-DD), got {value!r}") from None


def _check_text_length(element: JSONDict, text: str, label: str) -> None:
    # Slack's client counts as its limits do, in UTF-16 units: an emoji takes two of max_length.
    length = slack_length(text)
    max_length = element.get("max_length")
    min_length = element.get("min_length")
    if isinstance(max_length, int) and length > max_length:
        raise ClientValidationError(f"{label!r} accepts at most {max_length} characters, got {length}")
    if isinstance(min_length, int) and length < min_length:
        raise ClientValidationError(f"{label!r} needs at least {min_length} characters, got {length}")


def _number_text(element: JSONDict, value: object, label: str) -> str:
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        raise ClientValidationError(f"{label!r} needs a number, got {value!r}") from None
    if not element.get("is_decimal_allowed") and not number.is_integer():
        raise ClientValidationError(f"{label!r} accepts whole numbers only, got {value!r}")
    for bound, too_far in (("min_value", number.__lt__), ("max_value", number.__gt__)):
        if element.get(bound) is not None and too_far(float(element[bound])):
            raise ClientValidationError(f"{label!r} must respect {bound}={element[bound]}, got {value!r}")
    return text


def _as_strings(value: object) -> list[str]:
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [str(item) for item in value]
    return [str(value)]


def _rich_text(text: str) -> JSONDict:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return {"type": "rich_text", "elements": [section]}


_TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input")
_SINGLE_SELECTS = {
    "users_select": ("selected_user", "initial_user"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "channels_select": ("selected_channel", "initial_channel"),
}
_MULTI_SELECTS = {
    "multi_users_select": ("selected_users", "initial_users"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
}


def _filled_state(element: JSONDict, value: object, label: str) -> JSONDict:
    """The state Slack reports for an element the person filled with `value`."""
    kind = element["type"]
    state: JSONDict = {"type": kind}
    if kind in _TEXT_INPUTS:
        state["value"] = str(value)
        _check_text_length(element, state["value"], label)
    elif kind == "number_input":
        state["value"] = _number_text(element, value, label)
    elif kind in ("static_select", "radio_buttons"):
        state["selected_option"] = _pick_option(element, value, label)
    elif kind in ("multi_static_select", "checkboxes"):
        state["selected_options"] = _pick_options(element, value, label)
    elif kind == "datepicker":
        state["selected_date"] = _date_text(value, label)
    elif kind == "timepicker":
        state["selected_time"] = value.strftime("%H:%M") if isinstance(value, dt.time) else str(value)
    elif kind == "datetimepicker":
        state["selected_date_time"] = int(value.timestamp()) if isinstance(value, dt.datetime) else int(str(value))
    elif kind in _SINGLE_SELECTS:
        state[_SINGLE_SELECTS[kind][0]] = str(value)
    elif kind in _MULTI_SELECTS:
        state[_MULTI_SELECTS[kind][0]] = _as_strings(value)
    elif kind == "rich_text_input":
        state["rich_text_value"] = _rich_text(str(value))
    else:
        raise ClientValidationError(f"{label!r}: the test user cannot fill a {kind} element")
    return state


def _untouched_state(element: JSONDict) -> JSONDict:
    """The state Slack reports for an element the person left as it was rendered."""
    kind = element["type"]
    state: JSONDict = {"type": kind}
    if kind in (*_TEXT_INPUTS, "number_input"):
        state["value"] = element.get("initial_value")
    elif kind in ("static_select", "radio_buttons"):
        state["selected_option"] = element.get("initial_option")
    elif kind in ("multi_static_select", "checkboxes"):
        state["selected_options"] = list(element.get("initial_options") or [])
    elif kind == "datepicker":
        state["selected_date"] = element.get("initial_date")
    elif kind == "timepicker":
        state["selected_time"] = element.get("initial_time")
    elif kind == "datetimepicker":
        state["selected_date_time"] = element.get("initial_date_time")
    elif kind in _SINGLE_SELECTS:
        selected, initial = _SINGLE_SELECTS[kind]
        state[selected] = element.get(initial)
    elif kind in _MULTI_SELECTS:
        selected, initial = _MULTI_SELECTS[kind]
        state[selected] = list(element.get(initial) or [])
    elif kind == "rich_text_input":
        state["rich_text_value"] = element.get("initial_value")
    return state


def _is_empty(state: JSONDict) -> bool:
    return all(value in (None, "", []) for key, value in state.items() if key != "type")


def _input_label(block: JSONDict) -> str:
    return _text_of(block.get("label"))


def _match_inputs(inputs: list[JSONDict], values: Mapping[str, object]) -> dict[str, object]:
    """Values keyed by block_id, looked up by each key as a label text or a block_id."""
    by_block: dict[str, object] = {}
    for key, value in values.items():
        matches = [b for b in inputs if key in (_input_label(b), b.get("block_id"))]
        if not matches:
            shown = ", ".join(f"{_input_label(b)!r} (block_id {b.get('block_id')!r})" for b in inputs)
            raise ElementNotFoundError(f"the view has no input {key!r}; inputs: {shown or '(none)'}")
        if len(matches) > 1:
            raise AmbiguousElementError(f"{len(matches)} inputs are labelled {key!r}; use their block_id")
        by_block[str(matches[0]["block_id"])] = value
    return by_block


def view_state_values(
    blocks: list[JSONDict],
    values: Mapping[str, object],
    *,
    allow_missing_required: bool = False,
) -> dict[str, dict[str, JSONDict]]:
    """``view.state.values`` as Slack builds it when a person fills `values` and submits.

    Keys of `values` are input labels or block_ids. Inputs left alone keep their initial
    value (or are empty). A required input left empty raises `ClientValidationError`, as
    Slack's client refuses to submit, unless `allow_missing_required` is set.
    """
    inputs = [b for b in blocks if b.get("type") == "input" and isinstance(b.get("element"), dict)]
    filled = _match_inputs(inputs, values)
    state: dict[str, dict[str, JSONDict]] = {}
    for block in inputs:
        block_id = str(block["block_id"])
        element = block["element"]
        label = _input_label(block)
        if block_id in filled:
            element_state = _filled_state(element, filled[block_id], label)
        else:
            element_state = _untouched_state(element)
        if _is_empty(element_state) and not block.get("optional") and not allow_missing_required:
            raise ClientValidationError(f"{label!r} is required; Slack would not submit the view without it")
        state[block_id] = {str(element["action_id"]): element_state}
    return state


# --------------------------------------------------------------------------- the person


class SlackTestUser:
    """A person who clicks buttons and fills modals the app rendered in a `SlackEmulator`.

    Every interaction is sent to `interactions_url` the way Slack sends it: a form post
    with one ``payload`` field, signed with `signing_secret`. The user keeps one HTTP client
    for all its requests; close it with `aclose` (or use the user as ``async with``).

    With ``transport="socket_mode"`` the same payloads go as ``interactive`` envelopes over the
    app's Socket Mode connection (the emulator redelivers what is not acked); the answer is then
    the ack's payload, returned as a 200 response so callers read it the same way.
    ``events_url`` is where Events API requests go over HTTP (``/slack/events`` beside the
    interactions URL by default).
    """

    def __init__(
        self,
        emulator: SlackEmulator,
        interactions_url: str,
        signing_secret: str,
        user_id: str = "U0TESTER",
        user_name: str = "tester",
        team_id: str | None = None,
        *,
        ack_deadline_seconds: float | None = 3.0,
        timeout_seconds: float = 30.0,
        transport: Transport = "http",
        events_url: str | None = None,
    ) -> None:
        self.emulator = emulator
        self.interactions_url = interactions_url
        self.transport: Transport = transport
        self.events_url = events_url or interactions_url.removesuffix("/interactions") + "/events"
        self.last_ack: Acked | None = None
        """Over Socket Mode: the last envelope's ack (its attempts, its connection)."""
        self._last_payload: Mapping[str, Any] | None = None
        self.signing_secret = signing_secret
        self.user_id = user_id
        self.user_name = user_name
        self.team_id = team_id or emulator.team_id
        self.ack_deadline_seconds = ack_deadline_seconds
        """Raise `AckDeadlineExceededError` when the app answers slower (None disables)."""
        self.timeout_seconds = timeout_seconds
        self._last_body: bytes | None = None
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        emulator.add_user(user_id, user_name, team_id=self.team_id)

    async def aclose(self) -> None:
        """Close the user's HTTP client (a later request opens a new one)."""
        http, self._http, self._http_loop = self._http, None, None
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- interactions

    async def click(self, channel: str, ts: str, *, button_text: str, near: str | None = None) -> httpx.Response:
        """Click the button labelled `button_text` in the message `ts` or its thread.

        `near` picks among buttons of the same label: a text contained in the blocks
        just above the button's row. Returns the app's HTTP response.
        """
        candidates = [self.emulator.message_payload(channel, ts)]
        candidates += [self.emulator.message_payload(channel, m.ts) for m in self.emulator.thread(channel, ts)]
        message, button = find_button(candidates, button_text=button_text, near=near)
        return await self.click_rendered(channel, message, button)

    async def click_rendered(self, channel: str, message: JSONDict, button: RenderedButton) -> httpx.Response:
        """Click `button` of `message` (a `message_payload`), for callers that already know which button.

        A console showing the emulator's messages knows exactly what a person pressed; it
        finds the `RenderedButton` with `rendered_buttons` and sends the same payload `click` would.
        """
        return await self.send_payload(self._block_actions_payload(channel, message, button))

    async def submit_view(
        self,
        values: Mapping[str, object] | None = None,
        *,
        view_id: str | None = None,
        allow_missing_required: bool = False,
    ) -> httpx.Response:
        """Fill the open view's inputs (by label or block_id) and press its submit button.

        Defaults to the view on top of this user's stack. The app's answer is applied
        to the emulator as Slack would: an empty 200 closes the view, ``update``
        replaces it, ``errors`` keeps it open with the errors shown.
        """
        view = self._target_view(view_id)
        state = view_state_values(view.blocks, values or {}, allow_missing_required=allow_missing_required)
        view_payload = self.emulator.view_payload(view.id)
        view_payload["state"] = {"values": state}
        payload: JSONDict = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(),
            "api_app_id": self.emulator.app_id,
            "token": self.emulator.verification_token,
            "trigger_id": self.emulator.issue_trigger_id(self.user_id),
            "view": view_payload,
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        response = await self.send_payload(payload)
        if response.status_code == 200:
            self.emulator.apply_view_submission_ack(view.id, _ack_body(response))
        return response

    async def close_view(self, *, view_id: str | None = None) -> httpx.Response | None:
        """Press the view's close button.

        The view closes in the emulator; like Slack, the app hears about it
        (``view_closed``) only if the view set ``notify_on_close``, else None is returned.
        """
        view = self._target_view(view_id)
        view_payload = self.emulator.view_payload(view.id)
        cleared = bool(view_payload.get("clear_on_close"))
        self.emulator.close_view(view.id, clear=cleared)
        if not view_payload.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(),
            "api_app_id": self.emulator.app_id,
            "token": self.emulator.verification_token,
            "view": view_payload,
            "is_cleared": cleared,
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return await self.send_payload(payload)

    async def redeliver(self, *, retry_num: int = 1, reason: str = "http_timeout") -> httpx.Response:
        """Send the last interaction again, as Slack retries a request it thinks failed."""
        if self._last_body is None or self._last_payload is None:
            raise SlackTestUserError("nothing was sent yet, so there is nothing to redeliver")
        if self.transport == "socket_mode":
            return await self._deliver_envelope(self._last_payload)
        headers = self._form_headers(self._last_body)
        headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason})
        return await self.post_raw(self._last_body, headers)

    # ----------------------------------------------------------------- transport

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The signature headers Slack would send with `body` (now, unless `timestamp`)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(self.signing_secret).generate_signature(timestamp=stamp, body=body)
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature or ""}

    async def post_raw(self, body: bytes, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """POST exactly `body` with exactly `headers` (for tampered or unsigned requests)."""
        return await self._client().post(self.interactions_url, content=body, headers=dict(headers or {}))

    async def send_payload(self, payload: Mapping[str, Any]) -> httpx.Response:
        """Form-encode, sign and post an interaction payload; enforce Slack's ack deadline."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        self._last_body = body
        self._last_payload = payload
        if self.transport == "socket_mode":
            return await self._deliver_envelope(payload)
        started = time.monotonic()
        response = await self.post_raw(body, self._form_headers(body))
        elapsed = time.monotonic() - started
        if self.ack_deadline_seconds is not None and elapsed > self.ack_deadline_seconds:
            raise AckDeadlineExceededError(
                f"the app acknowledged a {payload.get('type')} after {elapsed:.2f} s; "
                f"Slack gives up after {self.ack_deadline_seconds} s"
            )
        return response

    async def _deliver_envelope(self, payload: Mapping[str, Any]) -> httpx.Response:
        acked = await self.emulator.socket_mode.deliver("interactive", dict(payload), timeout=self.timeout_seconds)
        self.last_ack = acked
        if self.ack_deadline_seconds is not None and acked.seconds > self.ack_deadline_seconds:
            raise AckDeadlineExceededError(
                f"the app acknowledged a {payload.get('type')} envelope after {acked.seconds:.2f} s; "
                f"Slack gives up after {self.ack_deadline_seconds} s"
            )
        if acked.payload is None:
            return httpx.Response(200)
        return httpx.Response(200, json=acked.payload)

    # ----------------------------------------------------------------- the App Home

    async def open_app_home(self) -> httpx.Response:
        """Open the app's Home tab: Slack sends the app an ``app_home_opened`` event."""
        home = self.emulator.home_view(self.user_id)
        event: JSONDict = {
            "type": "app_home_opened",
            "user": self.user_id,
            "channel": f"D{self.user_id.removeprefix('U')}",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        if home is not None:
            event["view"] = self.emulator.home_payload(self.user_id)
        body: JSONDict = {
            "token": self.emulator.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.emulator.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{int(time.time() * 1e6)}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": self.emulator.bot_user_id, "is_bot": True}],
            "is_ext_shared_channel": False,
        }
        if self.transport == "socket_mode":
            acked = await self.emulator.socket_mode.deliver("events_api", body, timeout=self.timeout_seconds)
            self.last_ack = acked
            return httpx.Response(200)
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "User-Agent": SLACK_USER_AGENT, **self.sign(raw)}
        return await self._client().post(self.events_url, content=raw, headers=headers)

    async def click_home(self, *, button_text: str, near: str | None = None) -> httpx.Response:
        """Click a button of the user's App Home tab (as the app last published it)."""
        home = self.emulator.home_view(self.user_id)
        if home is None:
            raise ElementNotFoundError(f"the app has published no App Home for {self.user_id}")
        view = self.emulator.home_payload(self.user_id)
        _, button = find_button([{"ts": "", "blocks": home.blocks}], button_text=button_text, near=near)
        payload: JSONDict = {
            "type": "block_actions",
            "user": self._user(),
            "api_app_id": self.emulator.app_id,
            "token": self.emulator.verification_token,
            "container": {"type": "view", "view_id": home.id},
            "trigger_id": self.emulator.issue_trigger_id(self.user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [button.action()],
        }
        return await self.send_payload(payload)

    def _client(self) -> httpx.AsyncClient:
        # One client per user, per event loop (a client's connections cannot move to another loop).
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._http_loop is not loop:
            self._http = httpx.AsyncClient(timeout=self.timeout_seconds, verify=tls_context())
            self._http_loop = loop
        return self._http

    def _form_headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": SLACK_USER_AGENT,
            **self.sign(body),
        }

    # ----------------------------------------------------------------- payload parts

    def _user(self) -> JSONDict:
        return {"id": self.user_id, "username": self.user_name, "name": self.user_name, "team_id": self.team_id}

    def _team(self) -> JSONDict:
        return {"id": self.team_id, "domain": self.emulator.team_domain}

    def _block_actions_payload(self, channel: str, message: JSONDict, button: RenderedButton) -> JSONDict:
        return block_actions_payload(self.emulator, self._user(), channel, message, button)

    def _target_view(self, view_id: str | None) -> EmulatedView:
        if view_id is not None:
            view = self.emulator.view(view_id)
            if not view.is_open:
                raise ElementNotFoundError(f"view {view_id} is closed")
            return view
        top = self.emulator.open_view(self.user_id)
        if top is None:
            opened = [v.id for v in self.emulator.views(self.user_id)]
            raise ElementNotFoundError(f"{self.user_id} has no open view (views ever opened: {opened})")
        return top


def _ack_body(response: httpx.Response) -> JSONDict | None:
    if not response.content.strip():
        return None
    try:
        body = response.json()
    except json.JSONDecodeError:
        raise InvalidViewAckError(f"Slack expects an empty or JSON ack, got {response.text[:200]!r}") from None
    if not isinstance(body, dict):
        raise InvalidViewAckError(f"Slack expects a JSON object ack, got {body!r}")
    return body
