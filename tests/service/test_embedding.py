"""A team that already runs a Slack app routes slack_hitl's actions from its one interactivity URL:
(a) slack_hitl's router included in an existing FastAPI app, (b) slack_hitl's listeners registered
into an existing Bolt app beside the team's own, (c) the in-process Python API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from slack_hitl import Approval, Confirmation, Done, Requirement, TextDelta
from slack_hitl.events import ContinuationEvent
from slack_hitl.service import SlackHitl, register
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import CHANNEL, SIGNING_SECRET, auth, eventually, served, settings_for, thread_texts

pytestmark = pytest.mark.anyio

TEAM_BUTTON = "team_lunch_vote"


def release_requirements() -> list[Requirement]:
    return [
        Requirement(id="deploy", kind="confirmation", title="deploy billing"),
        Requirement(
            id="purge",
            kind="confirmation",
            title="purge the CDN",
            confirmation=Confirmation(reason="required_on_reject"),
        ),
        Requirement(id="query", kind="external_execution", title="row count", result_format="json"),
    ]


async def post_team_message(client: AsyncWebClient) -> str:
    """A message of the team's own app, with a button of its own."""
    answer = await client.chat_postMessage(
        channel=CHANNEL,
        text="Lunch?",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "Lunch at noon?"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": TEAM_BUTTON,
                        "text": {"type": "plain_text", "text": "Vote"},
                        "value": "yes",
                    }
                ],
            },
        ],
    )
    return str(answer["ts"])


async def test_a_bolt_app_serves_its_own_handler_and_slack_hitl_through_one_endpoint(
    emulator: SlackEmulator, sqlite_url: str
) -> None:
    async with SlackHitl.from_settings(settings_for(emulator, sqlite_url)) as hitl:
        bolt = AsyncApp(
            client=AsyncWebClient(token="xoxb-team-app", base_url=emulator.base_url), signing_secret=SIGNING_SECRET
        )
        votes: list[str] = []

        @bolt.action(TEAM_BUTTON)
        async def count_vote(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            votes.append(body["user"]["id"])
            await client.chat_postMessage(
                channel=CHANNEL, thread_ts=body["message"]["ts"], text=f"vote counted for <@{body['user']['id']}>"
            )

        register(bolt, hitl.handler)
        web = FastAPI()
        bolt_handler = AsyncSlackRequestHandler(bolt)

        @web.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            return await bolt_handler.handle(request)

        async with served(web) as url:
            alice = SlackTestUser(emulator, f"{url}/slack/events", SIGNING_SECRET, "U0ALICE", "alice")
            lunch_ts = await post_team_message(bolt.client)
            approval = await hitl.open(title="Release billing", requirements=release_requirements(), channel=CHANNEL)
            ts = approval.message_ts
            assert ts is not None

            # The team's own button reaches the team's own handler, and nothing of slack_hitl.
            assert (await alice.click(CHANNEL, lunch_ts, button_text="Vote")).status_code == 200
            await eventually(lambda: votes == ["U0ALICE"])
            await eventually(lambda: "vote counted for <@U0ALICE>" in thread_texts(emulator, CHANNEL, lunch_ts))
            assert (await hitl.get(approval.id)).decided_count == 0

            # slack_hitl's buttons and modals go to slack_hitl, acked the Bolt way.
            assert (await alice.click(CHANNEL, ts, button_text="Approve", near="deploy billing")).status_code == 200
            await alice.click(CHANNEL, ts, button_text="Reject", near="purge the CDN")
            await alice.submit_view({"Reason": "cache is warm"})
            await alice.click(CHANNEL, ts, button_text="Submit result", near="row count")
            refused = await alice.submit_view({"Result": "{not json"})
            assert refused.json()["response_action"] == "errors"  # ack(response_action="errors", errors=...)
            assert "not valid JSON" in next(iter(refused.json()["errors"].values()))
            assert emulator.open_view("U0ALICE") is not None
            assert (await alice.submit_view({"Result": '{"rows": 3}'})).status_code == 200

            final = await hitl.wait(approval.id, timeout=15)
            assert final.status == "completed"
            assert {row.id: row.decided_by for row in final.rows} == dict.fromkeys(
                ("deploy", "purge", "query"), "U0ALICE"
            )
            assert final.row("purge").decision.reason == "cache is warm"
            assert final.row("query").decision.result == {"rows": 3}
            assert votes == ["U0ALICE"]  # slack_hitl's clicks never reached the team's handler


@pytest.mark.anyio
async def test_slack_hitl_router_included_in_an_existing_fastapi_app(emulator: SlackEmulator, sqlite_url: str) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with SlackHitl.from_settings(settings_for(emulator, sqlite_url)) as hitl:
            app.state.hitl = hitl
            app.include_router(hitl.router)
            yield

    existing = FastAPI(title="the team's app", lifespan=lifespan)

    @existing.get("/status")
    async def status() -> dict[str, str]:
        return {"team": "ok"}

    async with served(existing, lifespan="on") as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/status")).json() == {"team": "ok"}
        created = await http.post(
            "/v1/approvals",
            headers=auth(),
            json={
                "channel": CHANNEL,
                "title": "Deploy",
                "requirements": [{"id": "d", "title": "deploy", "kind": "confirmation"}],
            },
        )
        assert created.status_code == 201, created.text
        alice = SlackTestUser(emulator, f"{url}/slack/interactions", SIGNING_SECRET, "U0ALICE", "alice")
        await alice.click(CHANNEL, created.json()["message_ts"], button_text="Approve")
        final = await existing.state.hitl.wait(created.json()["id"], timeout=15)
        assert final.status == "approved"
        schema = (await http.get("/openapi.json")).json()
        assert {"/status", "/v1/approvals"} <= set(schema["paths"])


class EchoAdapter:
    """An in-process run: resumes by saying what was decided."""

    name = "echo"

    def __init__(self) -> None:
        self.resumed: list[str] = []

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncGenerator[ContinuationEvent, None]:
        self.resumed.append(idempotency_key)
        outcomes = ", ".join(f"{row_id}: {d.outcome}" for row_id, d in approval.decisions.items())
        yield TextDelta(text=f"Continuing with {outcomes}.")
        yield Done(output=outcomes)


async def test_the_in_process_api_opens_with_an_adapter_and_awaits_the_outcome(
    emulator: SlackEmulator, sqlite_url: str
) -> None:
    adapter = EchoAdapter()
    async with SlackHitl.from_settings(settings_for(emulator, sqlite_url), adapters=[adapter]) as hitl:
        async with served(hitl.app) as url:
            approval = await hitl.open(
                title="Release",
                requirements=release_requirements()[:1],
                channel=CHANNEL,
                adapter=adapter,
                idempotency_key="run-9",
            )
            assert (
                await hitl.open(
                    title="Release",
                    requirements=release_requirements()[:1],
                    channel=CHANNEL,
                    adapter=adapter,
                    idempotency_key="run-9",
                )
            ).id == approval.id
            alice = SlackTestUser(emulator, f"{url}/slack/interactions", SIGNING_SECRET, "U0ALICE", "alice")
            await alice.click(CHANNEL, approval.message_ts or "", button_text="Approve")
            final = await hitl.wait(approval.id, timeout=15)
        assert final.status == "approved" and adapter.resumed == [approval.id]
        assert len(emulator.calls_to("chat.postMessage")) >= 1
        texts = await eventually(
            lambda: [t for t in thread_texts(emulator, CHANNEL, approval.message_ts or "") if "Continuing" in t]
        )
        assert texts == ["Continuing with deploy: approved."]

        cancelled = await hitl.open(title="Other", requirements=release_requirements()[:1], channel=CHANNEL)
        assert (await hitl.cancel(cancelled.id, reason="not needed")).status == "cancelled"


async def test_the_in_process_api_runs_on_an_in_memory_database(emulator: SlackEmulator) -> None:
    """``sqlite://`` without workers: one connection holds the database, and everything runs on it."""
    adapter = EchoAdapter()
    settings = settings_for(emulator, "sqlite://", workers=0)
    async with SlackHitl.from_settings(settings, adapters=[adapter]) as hitl, served(hitl.app) as url:
        opened = [
            await hitl.open(
                title=f"Release {n}", requirements=release_requirements()[:1], channel=CHANNEL, adapter=adapter
            )
            for n in range(3)
        ]
        people = [
            SlackTestUser(emulator, f"{url}/slack/interactions", SIGNING_SECRET, f"U0P{n}", f"p{n}") for n in range(3)
        ]
        await asyncio.gather(
            *(
                person.click(CHANNEL, approval.message_ts or "", button_text="Approve")
                for person, approval in zip(people, opened, strict=True)
            )
        )
        finals = [await hitl.wait(approval.id, timeout=15) for approval in opened]
        assert [final.status for final in finals] == ["approved"] * 3
        assert sorted(adapter.resumed) == sorted(approval.id for approval in opened)
        assert [final.row("deploy").decided_by for final in finals] == ["U0P0", "U0P1", "U0P2"]
