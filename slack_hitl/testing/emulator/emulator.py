"""`SlackEmulator`: the emulated workspace served over HTTP, with the knobs and read-backs tests use."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from slack_hitl.testing.emulator.dispatch import WebApi
from slack_hitl.testing.emulator.http_transport import http_routes
from slack_hitl.testing.emulator.methods import token_prefixes, web_api_methods
from slack_hitl.testing.emulator.methods import views as view_rules
from slack_hitl.testing.emulator.records import (
    CallRecord,
    EmulatedMessage,
    EmulatedUser,
    EmulatedUserGroup,
    EmulatedView,
    EphemeralMessage,
    JSONDict,
    ResponseUrl,
    ThreadStatus,
    Trigger,
)
from slack_hitl.testing.emulator.server import BackgroundServer
from slack_hitl.testing.emulator.socket_mode import SocketModeHub
from slack_hitl.testing.emulator.workspace import Workspace

Transport = Callable[[Workspace, WebApi], list[BaseRoute]]
"""A way to reach the workspace: the routes it serves, answering through the workspace and its Web API."""

TRANSPORTS: tuple[Transport, ...] = (http_routes,)
"""Every stateless transport the emulator serves on its one port; Socket Mode's WebSocket (``socket_mode``,
which keeps its connections) is served beside them."""


class SlackEmulator(Workspace):
    """An in-memory Slack workspace served over HTTP for the real slack_sdk clients.

    Start it (or use it as a context manager), point clients at `base_url`, then
    inspect what the app did with `message`, `thread`, `ephemerals`, `open_view`,
    `thread_status` and `calls`. Everything is safe to read from the test thread
    while the server thread answers requests.

    Errors are Slack's own: `invalid_blocks` (with ``errors`` and JSON pointers) and
    `msg_blocks_too_long` for messages, `msg_too_long` for a chat.update text over 4,000
    characters (a posted text is kept up to 40,000 and cut past it, with Slack's
    ``message_truncated`` warning); `invalid_arguments` (with
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
        super().__init__(
            team_id=team_id,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            verification_token=verification_token,
        )
        self._api = WebApi(self, web_api_methods(), token_prefixes())
        self.socket_mode = SocketModeHub(self)
        """Slack's end of the app's Socket Mode connections: deliver envelopes, disconnect, drop."""
        routes = [route for transport in TRANSPORTS for route in transport(self, self._api)]
        routes += self.socket_mode.routes()
        self._server = BackgroundServer(Starlette(routes=routes, lifespan=self.socket_mode.lifespan))
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
        with self.lock:
            trigger_id = self.new_trigger_id()
            self.triggers[trigger_id] = Trigger(user_id=user_id, issued_at=self.now())
            return trigger_id

    def issue_response_url(self, channel: str, message_ts: str, user_id: str) -> str:
        """A response_url for an interaction on a message (5 uses within 30 minutes)."""
        with self.lock:
            token = secrets.token_hex(12)
            self.response_urls[token] = ResponseUrl(channel, message_ts, user_id, self.now())
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
        self._api.rate_limit(method, fraction=fraction, retry_after=retry_after, seed=seed)

    def inject_error(self, method: str, error: str, *, times: int = 1) -> None:
        """Make the next `times` calls to `method` fail with ``{"ok": false, "error": error}``."""
        self._api.inject_error(method, error, times=times)

    def outage(
        self,
        method: str,
        *,
        seconds: float,
        status: int | None = 500,
        retry_after: int | None = None,
        delay: float = 0.0,
        processed: bool = False,
    ) -> None:
        """For the next `seconds` (wall clock), Slack fails `method` over HTTP: each call is answered
        after `delay` seconds with HTTP `status` (``Retry-After: retry_after`` if given), or, with
        ``status=None``, answered as usual but only after `delay` (a slow or hung Slack). With
        `processed`, Slack did the work of a failed call (a message is posted) and only the answer is
        lost, as with a 504 from Slack's edge."""
        self._api.outage(
            method, seconds=seconds, status=status, retry_after=retry_after, delay=delay, processed=processed
        )

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (expires triggers and streams without sleeping)."""
        with self.lock:
            self.clock_offset += seconds

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
        with self.lock:
            self.users[user_id] = EmulatedUser(
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
        with self.lock:
            self.user_groups[group_id] = EmulatedUserGroup(id=group_id, handle=handle, user_ids=members)

    def add_channel(self, channel_id: str, name: str) -> None:
        """Name a channel, so posts may address it as ``#name`` and payloads carry its name."""
        with self.lock:
            self.channel_names[channel_id] = name

    def channel_name(self, channel_id: str) -> str:
        """The channel's name (its id in lower case unless `add_channel` named it)."""
        with self.lock:
            return self.channel_names.get(channel_id, channel_id.lower())

    def post_user_message(
        self,
        channel: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
    ) -> str:
        """Post a message as a person (e.g. the request a streamed reply answers); returns its ts."""
        with self.lock:
            root = self.thread_root(channel, thread_ts) if thread_ts else None
            message = EmulatedMessage(channel=channel, ts=self.new_ts(), text=text, blocks=[], user=user_id)
            message.thread_ts = root
            self.store(message)
            return message.ts

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[CallRecord]:
        """Every Web API call answered so far, oldest first."""
        return self._api.calls

    def calls_to(self, method: str) -> list[CallRecord]:
        """The recorded calls to one method, e.g. ``"chat.update"``."""
        return [call for call in self._api.calls if call.method == method]

    def message(self, channel: str, ts: str) -> EmulatedMessage:
        """A snapshot of one stored message; raises KeyError if there is none."""
        with self.lock:
            return copy.deepcopy(self._stored_message(channel, ts))

    def messages(self, channel: str) -> list[EmulatedMessage]:
        """Snapshots of the channel's top-level messages, oldest first."""
        with self.lock:
            found = [m for m in self.channel(channel).values() if not m.is_reply]
            return [copy.deepcopy(self.refreshed(m)) for m in found]

    def thread(self, channel: str, thread_ts: str) -> list[EmulatedMessage]:
        """Snapshots of the replies in a thread, oldest first (streamed text assembled)."""
        with self.lock:
            replies = [m for m in self.channel(channel).values() if m.is_reply and m.thread_ts == thread_ts]
            return [copy.deepcopy(self.refreshed(m)) for m in replies]

    def message_payload(self, channel: str, ts: str) -> JSONDict:
        """The message as Slack shows it in API responses and interaction payloads."""
        with self.lock:
            return self.to_slack(self._stored_message(channel, ts))

    def ephemerals(self, user_id: str) -> list[EphemeralMessage]:
        """Ephemeral messages shown to one user, oldest first."""
        with self.lock:
            return [copy.deepcopy(e) for e in self.ephemeral_messages if e.user == user_id]

    def view(self, view_id: str) -> EmulatedView:
        """A snapshot of one view, open or closed; raises KeyError if unknown."""
        with self.lock:
            return copy.deepcopy(self.views_by_id[view_id])

    def views(self, user_id: str | None = None) -> list[EmulatedView]:
        """Snapshots of all views (of one user if given), in the order they were opened."""
        with self.lock:
            return [copy.deepcopy(v) for v in self.views_by_id.values() if user_id in (None, v.user_id)]

    def home_view(self, user_id: str) -> EmulatedView | None:
        """The App Home tab the app last published for the user (views.publish), if any."""
        with self.lock:
            home = self.home_views.get(user_id)
            return copy.deepcopy(home) if home else None

    def home_payload(self, user_id: str) -> JSONDict:
        """The user's App Home view as Slack shows it in payloads (KeyError if none was published)."""
        with self.lock:
            return view_rules.view_payload(self, self.home_views[user_id])

    def open_view(self, user_id: str) -> EmulatedView | None:
        """The view the user is looking at (top of the stack), if any."""
        with self.lock:
            top = view_rules.top_view(self, user_id)
            return copy.deepcopy(top) if top else None

    def view_payload(self, view_id: str) -> JSONDict:
        """The view as Slack shows it in API responses and interaction payloads."""
        with self.lock:
            return view_rules.view_payload(self, self.views_by_id[view_id])

    def thread_status(self, channel: str, thread_ts: str) -> ThreadStatus | None:
        """The assistant status shown under a thread, or None once cleared."""
        with self.lock:
            status = self.statuses.get((channel, thread_ts))
            return copy.deepcopy(status) if status else None

    def _stored_message(self, channel: str, ts: str) -> EmulatedMessage:
        message = self.channel_messages.get(channel, {}).get(ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel}")
        return self.refreshed(message)

    # ----------------------------------------------------------------- view lifecycle (used by SlackTestUser)

    def close_view(self, view_id: str, *, clear: bool = False) -> None:
        """Close a view as the user would; `clear` closes the whole stack it belongs to."""
        with self.lock:
            view_rules.close_view(self, view_id, clear=clear)

    def apply_view_submission_ack(self, view_id: str, ack: JSONDict | None) -> None:
        """Do to the view what Slack does with the app's answer to a view_submission.

        An empty answer closes the view; ``response_action`` ``clear``, ``update``, ``push``
        and ``errors`` behave as on Slack. Raises `InvalidViewAckError` for answers
        Slack would refuse (unknown action, errors not keyed by an input block_id...).
        """
        with self.lock:
            view_rules.apply_view_submission_ack(self, view_id, ack)
