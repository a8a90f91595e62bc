"""The Web API methods the emulator answers, one module per family.

A family is a module with a ``METHODS`` table (method name -> `MethodHandler`); adding one
(``apps.connections.open`` for Socket Mode, say) is a new module and one line below.
"""

from __future__ import annotations

from slack_hitl.testing.emulator.methods import auth, chat, conversations, streaming, users, views
from slack_hitl.testing.emulator.workspace import MethodHandler

FAMILIES = (auth, users, chat, streaming, conversations, views)


def web_api_methods() -> dict[str, MethodHandler]:
    """Every method of every family, by its Web API name."""
    methods: dict[str, MethodHandler] = {}
    for family in FAMILIES:
        clash = methods.keys() & family.METHODS.keys()
        if clash:
            raise RuntimeError(f"{family.__name__} defines methods another family defines: {sorted(clash)}")
        methods.update(family.METHODS)
    return methods
