"""users.*, usergroups.* and conversations.*: who is in the workspace, and reading messages back."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import SlackEmulator
from tests.testing.support import CHANNEL, api_error

pytestmark = pytest.mark.anyio


async def test_users_info_knows_registered_users(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.add_user("U0ALICE", "alice", real_name="Alice Liddell")

    response = await client.users_info(user="U0ALICE")

    assert response["user"]["real_name"] == "Alice Liddell"
    assert (await api_error(client.users_info(user="U0NOBODY")))["error"] == "user_not_found"


async def test_usergroups_users_list_answers_members_like_slack(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.add_user_group("S0OPS", "ops", ["U0ALICE", "U0BOB"])

    response = await client.usergroups_users_list(usergroup="S0OPS")

    assert response.data == {"ok": True, "users": ["U0ALICE", "U0BOB"]}
    assert (await api_error(client.usergroups_users_list(usergroup="S0NOPE")))["error"] == "no_such_subteam"
    slack_emulator.add_user_group("S0OPS", "ops", ["U0CAROL"])
    assert (await client.usergroups_users_list(usergroup="S0OPS"))["users"] == ["U0CAROL"]


def test_user_groups_need_slack_shaped_ids_and_members(sync_client: WebClient, slack_emulator: SlackEmulator) -> None:
    with pytest.raises(ValueError, match="start with 'S'"):
        slack_emulator.add_user_group("G0OPS", "ops", ["U0ALICE"])
    with pytest.raises(ValueError, match="not the string"):
        slack_emulator.add_user_group("S0OPS", "ops", "U0ALICE")
    with pytest.raises(ValueError, match="non-empty strings"):
        slack_emulator.add_user_group("S0OPS", "ops", [""])
    with pytest.raises(SlackApiError) as refused:
        sync_client.usergroups_users_list(usergroup="S0OPS")
    assert refused.value.response["error"] == "no_such_subteam"  # nothing was defined


def test_threads_and_history_page_like_slack(sync_client: WebClient, slack_emulator: SlackEmulator) -> None:
    root = sync_client.chat_postMessage(channel=CHANNEL, text="root")["ts"]
    replies = [sync_client.chat_postMessage(channel=CHANNEL, text=f"r{i}", thread_ts=root)["ts"] for i in range(3)]

    first = sync_client.conversations_replies(channel=CHANNEL, ts=root, limit=2)
    rest = sync_client.conversations_replies(channel=CHANNEL, ts=root, cursor=first["response_metadata"]["next_cursor"])

    assert [m["ts"] for m in first["messages"]] + [m["ts"] for m in rest["messages"]] == [root, *replies]
    assert first["has_more"] is True and rest["has_more"] is False
    assert first["messages"][0]["reply_count"] == 3
    assert [m.text for m in slack_emulator.thread(CHANNEL, root)] == ["r0", "r1", "r2"]
    assert [m["text"] for m in sync_client.conversations_history(channel=CHANNEL)["messages"]] == ["root"]


async def test_replies_to_unknown_threads_fail(client: AsyncWebClient) -> None:
    assert (await api_error(client.conversations_replies(channel=CHANNEL, ts="1.000001")))["error"] == (
        "thread_not_found"
    )
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1.000001"))
    assert error["error"] == "invalid_thread_ts"
