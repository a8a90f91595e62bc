"""slack_hitl as a service: ``slack-hitl serve``, the HTTP API ``/v1``, webhook resume, and embedding.

Import what you need from here; the parts load on first use, so the ``slack-hitl`` command
stays quick for subcommands that need none of them::

    from slack_hitl.service import SlackHitl, Settings, WebhookAdapter, verify_signature
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SlackHitl": "slack_hitl.service.app",
    "ServiceConfig": "slack_hitl.service.settings",
    "Settings": "slack_hitl.service.settings",
    "SettingsInvalid": "slack_hitl.service.settings",
    "load_settings": "slack_hitl.service.settings",
    "api_router": "slack_hitl.service.api",
    "ApprovalRequest": "slack_hitl.service.inputs",
    "CallbackIn": "slack_hitl.service.inputs",
    "RequirementIn": "slack_hitl.service.inputs",
    "WebhookAdapter": "slack_hitl.service.webhook",
    "WebhookFailed": "slack_hitl.service.webhook",
    "SignatureInvalid": "slack_hitl.service.webhook",
    "sign": "slack_hitl.service.webhook",
    "verify_signature": "slack_hitl.service.webhook",
    "app_manifest": "slack_hitl.service.manifest",
    "register": "slack_hitl.service.bolt",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slack_hitl.service' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
