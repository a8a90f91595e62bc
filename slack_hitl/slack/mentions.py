"""People and user groups in mrkdwn: a mention for a Slack id, escaped text for anything else.

Decider ids and the ids of who decided come from whoever opened or decided an approval (the
HTTP API, an adapter, Python code), not from Slack's signed payloads. Put as they are into
``<@...>``, an id like ``U0BOB> <!channel> <http://evil.example/x|login`` pings the channel and
hides a link. So only what has the shape of a Slack id becomes a mention; anything else is shown
as the escaped text it is. Everything that names a person in a message, a modal or an ephemeral
goes through here.
"""

from __future__ import annotations

import re

from slack_hitl.requirements import Deciders
from slack_hitl.slack.markdown import escape_line

NAME_CAP = 60
"""Characters of a person's name (or of an id that is not a Slack id) shown on one line."""
DECIDERS_SHOWN = 5
"""People and groups named where a row says who may decide it; more are counted, not named."""

# fullmatch, not match with ``$``: ``$`` also matches before a trailing newline.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")


def is_user_id(text: str) -> bool:
    """Whether ``text`` has the shape of a Slack user id (``U…`` or ``W…``, capitals and digits)."""
    return _USER_ID.fullmatch(text) is not None


def user_mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; anything else as escaped text on one line."""
    return f"<@{user_id}>" if is_user_id(user_id) else escape_line(user_id, NAME_CAP)


def group_mention(group_id: str) -> str:
    """``<!subteam^S…>`` for a Slack user group id; anything else as escaped text on one line."""
    return f"<!subteam^{group_id}>" if _GROUP_ID.fullmatch(group_id) else escape_line(group_id, NAME_CAP)


def deciders_text(deciders: Deciders) -> str:
    """Who may decide a row: its first ``DECIDERS_SHOWN`` people and groups, then how many more.

    Empty for a row anyone may decide.
    """
    names = [user_mention(user) for user in deciders.user_ids]
    names += [group_mention(group) for group in deciders.group_ids]
    shown = ", ".join(names[:DECIDERS_SHOWN])
    hidden = len(names) - DECIDERS_SHOWN
    return f"{shown} and {hidden} more" if hidden > 0 else shown
