"""The Slack Web API client slack_hitl talks through, and what it looks up with it.

slack_sdk does not retry a 429 by default; the client built here waits out ``Retry-After``
(and retries 500/503 and dropped connections), so callers see a rate limit only when it
outlasts every retry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

log = structlog.get_logger("slack_hitl.slack.client")

SLACK_API_URL = "https://slack.com/api/"


def build_slack_client(
    token: str,
    *,
    base_url: str | None = None,
    rate_limit_retries: int = 4,
    timeout_seconds: int = 30,
) -> AsyncWebClient:
    """An ``AsyncWebClient`` for ``base_url`` (Slack's by default) that retries 429s after ``Retry-After``."""
    return AsyncWebClient(
        token=token,
        base_url=base_url or SLACK_API_URL,
        timeout=timeout_seconds,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


@asynccontextmanager
async def kept_alive(client: AsyncWebClient) -> AsyncIterator[AsyncWebClient]:
    """Inside, ``client`` reuses one pool of HTTP connections instead of opening one per call.

    slack_sdk opens a new session (a new TCP and TLS handshake) for every call of a client
    built without one; a long-running app should not pay that per ``chat.update``.
    """
    if client.session is not None and not client.session.closed:
        yield client
        return
    # slack_sdk applies its timeout only to sessions it makes itself: without this, a call on the
    # kept-alive session could hang for aiohttp's default of 300 s.
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))
    client.session = session
    try:
        yield client
    finally:
        client.session = None
        await session.close()


def slack_error(error: SlackApiError) -> str:
    """The ``error`` code of a failed Web API call (``ratelimited``, ``invalid_blocks``...)."""
    data = error.response.data if error.response is not None else None
    return str(data.get("error", "unknown")) if isinstance(data, dict) else "unknown"


@dataclass(frozen=True)
class BotIdentity:
    """Who the app is in the workspace, from ``auth.test``."""

    user_id: str
    team_id: str


class BotIdentityCache:
    """``auth.test`` once per process: streams need the bot's team id, and it never changes."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._identity: BotIdentity | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> BotIdentity:
        async with self._lock:
            if self._identity is None:
                answer = await self._client.auth_test()
                self._identity = BotIdentity(user_id=str(answer["user_id"]), team_id=str(answer["team_id"]))
            return self._identity


LOOKUP_SECONDS = 1.5
"""How long a click waits for a group's members: the lookup is on the ack path, and Slack wants the ack within 3 s."""


class UserGroupDirectory:
    """Which of some user groups a person is in, from ``usergroups.users.list``, cached briefly.

    Only rows that name user groups need this. A group whose members cannot be listed (missing
    ``usergroups:read`` scope, unknown group, Slack failing or slower than ``lookup_seconds``)
    counts as one the person is not in: authorization fails closed. A failed lookup is cached
    too, for ``failure_ttl_seconds``, so a burst of clicks does not ask a failing Slack each time.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl_seconds: float = 60.0,
        failure_ttl_seconds: float = 10.0,
        lookup_seconds: float = LOOKUP_SECONDS,
    ) -> None:
        self._client = client
        self.ttl_seconds = ttl_seconds
        self.failure_ttl_seconds = failure_ttl_seconds
        self.lookup_seconds = lookup_seconds
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        """Group id -> (until when, members)."""

    async def groups_of(self, user_id: str, group_ids: Iterable[str]) -> tuple[str, ...]:
        """The ids among ``group_ids`` of the groups ``user_id`` belongs to."""
        return tuple([group for group in group_ids if user_id in await self._members_of(group)])

    async def _members_of(self, group_id: str) -> frozenset[str]:
        cached = self._members.get(group_id)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        try:
            async with asyncio.timeout(self.lookup_seconds):
                answer = await self._client.usergroups_users_list(usergroup=group_id)
        except (SlackApiError, OSError, aiohttp.ClientError) as error:  # TimeoutError too: the deadline above
            shown = slack_error(error) if isinstance(error, SlackApiError) else repr(error)
            log.warning("usergroup_members_unavailable", usergroup=group_id, error=shown)
            self._members[group_id] = (time.monotonic() + self.failure_ttl_seconds, frozenset())
            return frozenset()
        members = frozenset(str(user) for user in answer.get("users") or [])
        self._members[group_id] = (time.monotonic() + self.ttl_seconds, members)
        return members
