"""apps.*: ``apps.connections.open``, where a Socket Mode app gets the URL of its next WebSocket.

It takes the app-level token (``xapp-``), not the bot token; each URL carries a ticket good for
one connection (``socket_mode`` serves it).
"""

from __future__ import annotations

import secrets

from slack_hitl.testing.emulator.records import JSONDict
from slack_hitl.testing.emulator.workspace import MethodHandler, Workspace

SOCKET_MODE_PATH = "/socket-mode/link/"


def connections_open(workspace: Workspace, params: JSONDict) -> JSONDict:
    ticket = secrets.token_hex(16)
    workspace.socket_tickets.add(ticket)
    root = workspace.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return {"ok": True, "url": f"{root}{SOCKET_MODE_PATH}?ticket={ticket}&app_id={workspace.app_id}"}


METHODS: dict[str, MethodHandler] = {"apps.connections.open": connections_open}
TOKEN_PREFIX = "xapp-"
"""The kind of token these methods take (the others take the bot token, ``xoxb-``)."""
