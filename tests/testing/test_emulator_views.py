"""views.*: modals opened with a trigger_id (once, within 3 seconds), updated by hash, stacked."""

from __future__ import annotations

import anyio
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl.testing import SlackEmulator
from tests.testing.support import api_error, modal, section

pytestmark = pytest.mark.anyio


async def test_views_open_records_the_view_for_the_trigger_user(
    client: AsyncWebClient, slack_emulator: SlackEmulator
) -> None:
    view = modal([section("hi")], callback_id="cb", private_metadata="approval=1")

    response = await client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=view)

    opened = slack_emulator.open_view("U0ALICE")
    assert opened is not None
    assert (opened.id, opened.hash) == (response["view"]["id"], response["view"]["hash"])
    assert (opened.callback_id, opened.private_metadata, opened.is_open) == ("cb", "approval=1", True)
    assert response["view"]["root_view_id"] == opened.id


async def test_trigger_ids_work_once(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    trigger_id = slack_emulator.issue_trigger_id("U0ALICE")
    await client.views_open(trigger_id=trigger_id, view=modal([section()]))

    assert (await api_error(client.views_open(trigger_id=trigger_id, view=modal([section()]))))["error"] == (
        "exchanged_trigger_id"
    )


async def test_unknown_trigger_ids_are_invalid(client: AsyncWebClient) -> None:
    error = await api_error(client.views_open(trigger_id="123.456.abc", view=modal([section()])))

    assert error["error"] == "invalid_trigger_id"


async def test_trigger_ids_expire_after_3_seconds(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    fresh = slack_emulator.issue_trigger_id("U0ALICE")
    slack_emulator.advance_clock(2.9)
    assert (await client.views_open(trigger_id=fresh, view=modal([section()])))["ok"] is True

    stale = slack_emulator.issue_trigger_id("U0ALICE")
    slack_emulator.advance_clock(3.1)
    assert (await api_error(client.views_open(trigger_id=stale, view=modal([section()]))))["error"] == (
        "expired_trigger_id"
    )


async def test_trigger_ids_expire_in_real_time_too(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.trigger_lifetime_seconds = 0.05
    trigger_id = slack_emulator.issue_trigger_id("U0ALICE")
    await anyio.sleep(0.1)

    error = await api_error(client.views_open(trigger_id=trigger_id, view=modal([section()])))

    assert error["error"] == "expired_trigger_id"


async def test_views_update_checks_the_hash(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    opened = await client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))
    view_id, old_hash = opened["view"]["id"], opened["view"]["hash"]

    updated = await client.views_update(view_id=view_id, hash=old_hash, view=modal([section("v2")]))
    stale = client.views_update(view_id=view_id, hash=old_hash, view=modal([section("v3")]))

    assert (await api_error(stale))["error"] == "hash_conflict"
    assert updated["view"]["hash"] != old_hash
    assert slack_emulator.view(view_id).blocks[0]["text"]["text"] == "v2"
    missing = client.views_update(view_id="V0NOPE", view=modal([section()]))
    assert (await api_error(missing))["error"] == "not_found"


async def test_views_push_stacks_at_most_three(client: AsyncWebClient, slack_emulator: SlackEmulator) -> None:
    root = await client.views_open(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))
    for _ in range(2):
        await client.views_push(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))

    fourth = client.views_push(trigger_id=slack_emulator.issue_trigger_id("U0ALICE"), view=modal([section()]))

    assert (await api_error(fourth))["error"] == "push_limit_reached"
    top = slack_emulator.open_view("U0ALICE")
    assert top is not None and top.root_view_id == root["view"]["id"]
