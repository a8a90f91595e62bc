"""A local Slack Web API that the real slack_sdk clients talk to in tests.

`SlackEmulator` serves the subset of the Web API this project uses on 127.0.0.1, keeps
what was posted in memory, and rejects what Slack rejects (Block Kit limits, expired
trigger ids, streaming rules, rate limits on request). Point a client at it with
``AsyncWebClient(token="xoxb-test", base_url=emulator.base_url)``.

The package, one concept a module:

- ``emulator``: `SlackEmulator`, the workspace served over its transports, with the tests'
  knobs and read-backs;
- ``workspace``: the workspace's state and the rules every method shares (channels, ts, ids, clock);
- ``records``: what it keeps (messages, views, users, calls);
- ``validator``: Slack's Block Kit rules for blocks and views; ``elements``: for elements and
  their options; ``problems``: how a problem is worded (Slack's words, with a JSON pointer).
  Slack's numbers come from ``slack_hitl.slack.documented_limits``, shared with the product;
- ``params``: reading a call's parameters, JSON or form-encoded;
- ``errors``: Slack's error answers;
- ``dispatch``: one call answered (auth, rate limits and injected errors, the method), recorded;
- ``methods/``: the Web API methods, one module per family (auth, users, chat, streaming,
  conversations, views);
- ``response_urls``: what a POST to an interaction's response_url does;
- ``http_transport``: the HTTP routes (the Web API and the response URLs);
- ``socket_mode``: Socket Mode's WebSocket (hello, envelopes, acks, disconnects, redelivery);
- ``server``: uvicorn in a background thread (also for the app under test).

A new family of methods (``apps.connections.open``, say) is a module in ``methods/`` with a
``METHODS`` table, listed in ``methods.FAMILIES``; a new way in (Socket Mode's WebSocket) is a
function returning its routes, listed in ``emulator.TRANSPORTS``. Neither touches the rest.
"""

from slack_hitl.slack.documented_limits import blocks_text_length
from slack_hitl.testing.emulator.emulator import SlackEmulator
from slack_hitl.testing.emulator.errors import InvalidViewAckError
from slack_hitl.testing.emulator.methods.streaming import STREAMING_DISABLED_ERROR
from slack_hitl.testing.emulator.records import (
    CallRecord,
    EmulatedMessage,
    EmulatedUser,
    EmulatedUserGroup,
    EmulatedView,
    EphemeralMessage,
    JSONDict,
    StreamState,
    ThreadStatus,
)
from slack_hitl.testing.emulator.server import BackgroundServer, listening_socket
from slack_hitl.testing.emulator.socket_mode import Acked, Delivery, NoSocketModeConnection, SocketModeHub
from slack_hitl.testing.emulator.validator import message_block_problems, view_problems

__all__ = [
    "STREAMING_DISABLED_ERROR",
    "Acked",
    "BackgroundServer",
    "CallRecord",
    "Delivery",
    "EmulatedMessage",
    "EmulatedUser",
    "EmulatedUserGroup",
    "EmulatedView",
    "EphemeralMessage",
    "InvalidViewAckError",
    "JSONDict",
    "NoSocketModeConnection",
    "SlackEmulator",
    "SocketModeHub",
    "StreamState",
    "ThreadStatus",
    "blocks_text_length",
    "listening_socket",
    "message_block_problems",
    "view_problems",
]
