"""The emulated Web API as a whole, driven by the real slack_sdk clients: auth, tokens, the call
log, thread safety, rate limits and injected errors (``dispatch``)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import SlackEmulator
from tests.testing.support import CHANNEL, api_error

pytestmark = pytest.mark.anyio


async def test_auth_test_answers_like_slack(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    response = await client.auth_test()

    assert response["ok"] is True
    assert response["team_id"] == slack_emulator.team_id
    assert response["user_id"] == slack_emulator.bot_user_id
    assert response["bot_id"] == slack_emulator.bot_id


async def test_tokens_other_than_bot_tokens_are_refused(slack_emulator: SlackEmulator) -> None:
    user_token = AsyncWebClient(token="xoxp-user", base_url=slack_emulator.base_url)
    no_token = AsyncWebClient(base_url=slack_emulator.base_url)

    assert (await api_error(user_token.auth_test()))["error"] == "invalid_auth"
    assert (await api_error(no_token.auth_test()))["error"] == "not_authed"


async def test_methods_the_emulator_does_not_serve_are_unknown(client: AsyncWebClient) -> None:
    error = await api_error(client.api_call("apps.uninstall"))

    assert error == {"ok": False, "error": "unknown_method"}


async def test_every_call_is_recorded(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    await client.auth_test()
    await api_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))

    assert [c.method for c in slack_emulator.calls] == ["auth.test", "chat.update"]
    [update] = slack_emulator.calls_to("chat.update")
    assert update.params == {"channel": CHANNEL, "ts": "1.000001", "text": "x"}
    assert update.response == {"ok": False, "error": "message_not_found"}
    assert update.ok is False and update.status_code == 200


def test_state_is_safe_across_threads(slack_emulator: SlackEmulator) -> None:
    def post_ten(worker: int) -> list[str]:
        client = WebClient(token="xoxb-test", base_url=slack_emulator.base_url)
        return [client.chat_postMessage(channel=CHANNEL, text=f"{worker}-{i}")["ts"] for i in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        stamps = [ts for batch in pool.map(post_ten, range(8)) for ts in batch]

    assert len(set(stamps)) == 80
    assert len(slack_emulator.messages(CHANNEL)) == 80


async def test_rate_limited_calls_get_429_with_retry_after(slack_emulator: SlackEmulator) -> None:
    slack_emulator.rate_limit("chat.postMessage", fraction=1.0, retry_after=7)

    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{slack_emulator.base_url}chat.postMessage",
            json={"channel": CHANNEL, "text": "x"},
            headers={"Authorization": "Bearer xoxb-test"},
        )

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"ok": False, "error": "ratelimited"}
    assert slack_emulator.calls_to("chat.postMessage")[0].status_code == 429


async def test_rate_limits_without_a_retry_handler_raise(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.rate_limit("auth.test")

    with pytest.raises(SlackApiError) as raised:
        await client.auth_test()

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] in ("1", ["1"])


def _seed_limiting_only_the_first_call(fraction: float) -> int:
    for seed in range(1000):
        rng = random.Random(seed)
        if rng.random() < fraction <= rng.random():
            return seed
    raise AssertionError("no seed found")


async def test_sdk_retry_handler_ends_in_success(slack_emulator: SlackEmulator) -> None:
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=slack_emulator.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
    )
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1")
    seed = _seed_limiting_only_the_first_call(0.2)
    slack_emulator.rate_limit("chat.update", fraction=0.2, retry_after=1, seed=seed)

    response = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2")

    assert response["ok"] is True
    assert [c.status_code for c in slack_emulator.calls_to("chat.update")] == [429, 200]
    assert slack_emulator.message(CHANNEL, posted["ts"]).text == "v2"


def _status_of_auth_test(client: WebClient) -> int:
    try:
        return client.auth_test().status_code
    except SlackApiError as error:
        return int(error.response.status_code)


def test_rate_limiting_is_deterministic_with_a_seed(sync_client: WebClient, slack_emulator: SlackEmulator) -> None:
    def statuses() -> list[int]:
        slack_emulator.rate_limit("auth.test", fraction=0.3, seed=42)
        return [_status_of_auth_test(sync_client) for _ in range(30)]

    first, second = statuses(), statuses()

    assert first == second
    assert 429 in first and 200 in first
    slack_emulator.rate_limit("auth.test", fraction=0.0)
    assert sync_client.auth_test()["ok"] is True


async def test_injected_errors_fail_the_next_calls(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.inject_error("chat.postMessage", "internal_error", times=2)

    errors = [(await api_error(client.chat_postMessage(channel=CHANNEL, text="x")))["error"] for _ in range(2)]

    assert errors == ["internal_error", "internal_error"]
    assert (await client.chat_postMessage(channel=CHANNEL, text="x"))["ok"] is True
