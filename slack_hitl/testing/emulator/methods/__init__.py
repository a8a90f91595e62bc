"""The Web API methods the emulator answers, one module per family.

A family is a module with a ``METHODS`` table (method name -> `MethodHandler`); adding one
(``apps.connections.open`` for Socket Mode, say) is a new module and one line below.
"""

from __future__ import annotations

from slack_hitl.testing.emulator.methods import apps, auth, chat, conversations, streaming, users, views
from slack_hitl.testing.emulator.workspace import MethodHandler

FAMILIES = (auth, users, chat, streaming, conversations, views, apps)
BOT_TOKEN_PREFIX = "xoxb-"


def web_api_methods() -> dict[str, MethodHandler]:
    """Every method of every family, by its Web API name."""
    methods: dict[str, MethodHandler] = {}
    for family in FAMILIES:
        clash = methods.keys() & family.METHODS.keys()
        if clash:
            raise RuntimeError(f"{family.__name__} defines methods another family defines: {sorted(clash)}")
        methods.update(family.METHODS)
    return methods


def token_prefixes() -> dict[str, str]:
    """The kind of token each method takes, by its prefix: the bot token unless its family says otherwise."""
    return {
        method: getattr(family, "TOKEN_PREFIX", BOT_TOKEN_PREFIX) for family in FAMILIES for method in family.METHODS
    }
