"""Slack's Events API: ``/slack/events`` (signed, with the ``url_verification`` challenge) and the same
events over Socket Mode. slack_hitl subscribes to one, ``app_home_opened``: the App Home inbox.

``EventsHandler`` takes a verified, parsed Events API body and returns the ack body; it knows
nothing of HTTP or WebSockets (``slack_hitl.slack.endpoint`` serves it over HTTP,
``slack_hitl.slack.socket_mode`` over Socket Mode). Slow work (publishing the tab) runs after the ack.
"""

from __future__ import annotations

from typing import Any

import structlog

from slack_hitl.slack.app_home import AppHome
from slack_hitl.slack.interactions import AckBody, MalformedPayload

log = structlog.get_logger("slack_hitl.slack.events")

EVENTS_PATH = "/slack/events"
SUBSCRIBED_EVENTS = ("app_home_opened",)
"""The bot events slack_hitl subscribes to (the manifest lists them)."""


class EventsHandler:
    """Turns Events API bodies into work and returns what to ack."""

    def __init__(self, home: AppHome) -> None:
        self.home = home

    def handle(self, body: dict[str, Any]) -> AckBody:
        """The ack body for one Events API body. Raises ``MalformedPayload`` for what Slack never sends."""
        kind = body.get("type")
        if kind == "url_verification":
            challenge = body.get("challenge")
            if not isinstance(challenge, str) or not challenge:
                raise MalformedPayload("a url_verification body needs its challenge")
            return {"challenge": challenge}
        if kind != "event_callback":
            if not isinstance(kind, str):
                raise MalformedPayload("the Events API body has no type")
            return None  # app_rate_limited and the like: nothing to do
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise MalformedPayload("an event_callback body needs an event object with a type")
        if event["type"] == "app_home_opened" and event.get("tab", "home") == "home":
            user = event.get("user")
            if not isinstance(user, str) or not user:
                raise MalformedPayload("an app_home_opened event needs the user who opened the tab")
            log.info("app_home_opened", slack_user=user)
            self.home.opened(user)
        return None

    @property
    def busy(self) -> bool:
        return self.home.busy

    async def drain(self) -> None:
        await self.home.drain()
