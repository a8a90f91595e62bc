"""The Slack app manifest: what to paste at api.slack.com/apps > Create New App > From a manifest.

It asks for the scopes slack_hitl uses and nothing more: ``chat:write`` (post and update
approvals, ephemeral answers, streamed replies and the thread status), ``chat:write.public``
(post in public channels without being invited) and ``usergroups:read`` (rows decided by the
members of a user group). It turns the App Home tab on and subscribes to ``app_home_opened``
(the inbox).

Two ways for Slack to reach slack_hitl: request URLs (``app_manifest(request_url)``: Slack POSTs
to ``/slack/interactions`` and ``/slack/events``, so it needs a public https URL) or Socket Mode
(``socket_mode_manifest()``: no URL; slack_hitl opens a WebSocket with an app-level token, which
the manifest cannot create: generate one with the ``connections:write`` scope under Basic
Information > App-Level Tokens).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from slack_hitl.slack.endpoint import INTERACTIONS_PATH
from slack_hitl.slack.events import EVENTS_PATH, SUBSCRIBED_EVENTS

BOT_SCOPES = ("chat:write", "chat:write.public", "usergroups:read")
APP_NAME_LIMIT = 35
ManifestFormat = Literal["yaml", "json"]


def interactivity_url(request_url: str) -> str:
    """The interactivity request URL: ``request_url``, or its ``/slack/interactions`` when given a bare host.

    ``ValueError`` unless it is https: Slack sends interactions only to https URLs.
    """
    parts = urlsplit(request_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"the request URL must be an https:// URL Slack can reach, got {request_url!r}")
    if parts.path in ("", "/"):
        return f"https://{parts.netloc}{INTERACTIONS_PATH}"
    return request_url


def events_url(request_url: str) -> str:
    """The Events API request URL beside the interactivity one: ``/slack/events`` on the same host,
    or, for an interactivity URL ending in ``/interactions``, the same path ending in ``/events``."""
    interactions = interactivity_url(request_url)
    parts = urlsplit(interactions)
    if parts.path.endswith("/interactions"):
        return f"https://{parts.netloc}{parts.path.removesuffix('/interactions')}/events"
    return f"https://{parts.netloc}{EVENTS_PATH}"


def app_manifest(request_url: str, *, name: str = "Approvals") -> dict[str, Any]:
    """The manifest of a Slack app named ``name`` whose interactions go to ``request_url``."""
    manifest = _manifest(name, socket_mode=False)
    manifest["settings"]["interactivity"]["request_url"] = interactivity_url(request_url)
    manifest["settings"]["event_subscriptions"]["request_url"] = events_url(request_url)
    return manifest


def socket_mode_manifest(*, name: str = "Approvals") -> dict[str, Any]:
    """The manifest of a Slack app named ``name`` that slack_hitl reaches over Socket Mode: no request URLs."""
    return _manifest(name, socket_mode=True)


def _manifest(name: str, *, socket_mode: bool) -> dict[str, Any]:
    if not 1 <= len(name) <= APP_NAME_LIMIT:
        raise ValueError(f"the app name must be 1 to {APP_NAME_LIMIT} characters, got {len(name)}")
    return {
        "_metadata": {"major_version": 2, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Decisions a paused run needs, as rows of one message.",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": False},
            "bot_user": {"display_name": name.lower().replace(" ", "-"), "always_online": True},
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": {"bot_events": list(SUBSCRIBED_EVENTS)},
            "interactivity": {"is_enabled": True},
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def render_manifest(manifest: dict[str, Any], fmt: ManifestFormat = "yaml") -> str:
    """The manifest as YAML (what Slack's dialog shows first) or JSON."""
    if fmt == "json":
        import json

        return json.dumps(manifest, indent=2) + "\n"
    import yaml  # PyYAML comes with uvicorn[standard]

    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
