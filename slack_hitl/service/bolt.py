"""Run slack_hitl inside an existing Bolt app, behind the app's one interactivity URL.

``register`` adds two listeners to a slack-bolt ``AsyncApp``: one for the buttons whose
action_id starts with ``slack_hitl:`` and one for the ``slack_hitl:decide`` modal. Bolt has
already verified the request's signature; the listener hands the payload to slack_hitl's
``InteractionHandler`` (which stores the decision) and then acks with its answer, so a modal's
field errors are shown with ``ack(response_action="errors", errors=...)``. The app's other
listeners never see slack_hitl's actions and slack_hitl never sees theirs.
"""

from __future__ import annotations

import re
from typing import Any

import structlog

from slack_hitl.slack.ids import ACTION_PREFIX, MODAL_CALLBACK_ID
from slack_hitl.slack.interactions import InteractionHandler, MalformedPayload

try:
    from slack_bolt.async_app import AsyncAck, AsyncApp
except ImportError as missing:  # slack-bolt is the optional "bolt" extra
    raise ImportError("slack_hitl.service.bolt needs slack-bolt: pip install 'slack-hitl[bolt]'") from missing

log = structlog.get_logger("slack_hitl.service.bolt")

ACTION_PATTERN = re.compile(f"^{re.escape(ACTION_PREFIX)}:")


async def _ack_with_answer(handler: InteractionHandler, ack: AsyncAck, body: dict[str, Any]) -> None:
    try:
        answer = await handler.handle(body)
    except MalformedPayload as malformed:
        # A signed request we did not render: act on nothing, and let Slack stop retrying.
        log.warning("payload_malformed", detail=str(malformed))
        answer = None
    if answer is None:
        await ack()
    else:
        await ack(**answer)


def register(app: AsyncApp, handler: InteractionHandler) -> None:
    """Add slack_hitl's listeners to ``app``; ``handler`` is ``SlackHitl.handler`` (or your own)."""

    async def slack_hitl_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await _ack_with_answer(handler, ack, body)

    async def slack_hitl_modal(ack: AsyncAck, body: dict[str, Any]) -> None:
        await _ack_with_answer(handler, ack, body)

    app.action(ACTION_PATTERN)(slack_hitl_action)
    app.view(MODAL_CALLBACK_ID)(slack_hitl_modal)
