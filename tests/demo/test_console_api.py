"""The console's backend: the state it shows, and clicks and submissions sent to the service as Slack sends them.

The demo session runs for real (emulator, store, service under uvicorn); the console app is
called in process. A click reaches the service as a signed ``block_actions`` request, so what
the store holds afterwards is what a click in Slack would have done. Bad requests from the
page get a clear error and change nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from slack_hitl import DecisionInput
from slack_hitl.demo import DemoSession, build_console_app
from slack_hitl.demo.console import STATIC_DIR
from tests.support import BOB

pytestmark = pytest.mark.anyio

DELETE = DecisionInput(choices=("delete",))
ANSWERS = {
    "user_input": DecisionInput(values={"new_name": "archive/x"}),
    "user_feedback": DecisionInput(values={"what": "Keep it"}),
}


@pytest.fixture
async def session(sqlite_url: str) -> AsyncIterator[DemoSession]:
    async with DemoSession(sqlite_url, pace=0, update_window_seconds=0.05) as running:
        yield running


@pytest.fixture
async def console(session: DemoSession) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_console_app(session))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message["blocks"]:
        found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"])
    return found


def button(message: dict[str, Any], text: str, index: int = 0) -> dict[str, Any]:
    return [b for b in buttons(message) if b["text"]["text"] == text][index]


async def state(console: httpx.AsyncClient, user: str = "U0ALICE") -> dict[str, Any]:
    answer = await console.get("/console/state", params={"user": user})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def click(console: httpx.AsyncClient, message: dict[str, Any], pressed: dict[str, Any], user: str) -> Any:
    channel = (await state(console, user))["channel"]["id"]
    body = {"user": user, "channel": channel, "ts": message["ts"], "action_id": pressed["action_id"]}
    return await console.post("/console/click", json={**body, "value": pressed.get("value")})


async def test_the_state_is_the_channel_as_slack_shows_it_and_unchanged_state_is_not_sent_again(
    session: DemoSession, console: httpx.AsyncClient
) -> None:
    approval = await session.open_sample("release")
    shown = await state(console)
    (message,) = shown["messages"]
    assert message["ts"] == approval.message_ts and message["bot"] is True
    assert message["blocks"][0] == {
        "type": "header",
        "block_id": message["blocks"][0]["block_id"],
        "text": {"type": "plain_text", "text": "Release agent: ship billing-api v2.4"},
    }
    assert [b["text"]["text"] for b in buttons(message)] == [
        "Approve",
        "Reject",
        "Approve",
        "Reject",
        "Provide input",
        "Answer",
        "Submit result",
    ]
    assert message["posted_at"] is not None
    assert shown["people"]["U0BOB"] == {"name": "bob", "real_name": "Bob Okafor"}
    assert shown["view"] is None and shown["ephemerals"] == [] and shown["statuses"] == {}
    unchanged = await console.get("/console/state", params={"user": "U0ALICE", "since": shown["revision"]})
    assert unchanged.status_code == 204


async def test_a_click_is_the_signed_request_slack_sends_and_a_modal_submission_decides_the_row(
    session: DemoSession, console: httpx.AsyncClient
) -> None:
    approval = await session.open_sample("release")
    message = (await state(console, "U0BOB"))["messages"][0]
    answer = await click(console, message, button(message, "Submit result"), "U0BOB")
    assert answer.json() == {"status": 200, "ack": None}
    calls = session.hitl.emulator.calls_to("views.open")
    assert len(calls) == 1 and calls[0].ok

    view = (await state(console, "U0BOB"))["view"]
    assert view["title"]["text"] == "Submit result" and view["errors"] == {}
    (result,) = [b for b in view["blocks"] if b["type"] == "input"]

    refused = await console.post(
        "/console/submit", json={"user": "U0BOB", "view_id": view["id"], "values": {result["block_id"]: "{oops"}}
    )
    assert refused.json()["ack"]["response_action"] == "errors"
    still_open = (await state(console, "U0BOB"))["view"]
    assert still_open["id"] == view["id"] and "not valid JSON" in still_open["errors"][result["block_id"]]
    assert (await session.hitl.store.get(approval.id)).row("smoke").decision is None

    accepted = await console.post(
        "/console/submit",
        json={"user": "U0BOB", "view_id": view["id"], "values": {result["block_id"]: '{"passed": 1}'}},
    )
    assert accepted.json() == {"status": 200, "ack": None}
    stored = (await session.hitl.store.get(approval.id)).row("smoke")
    assert stored.decision.result == {"passed": 1} and stored.decided_by == "U0BOB"
    await session.hitl.settle()
    after = await state(console, "U0BOB")
    assert after["view"] is None
    assert "Answered* by <@U0BOB> (bob)" in str(after["messages"][0]["blocks"])


async def test_a_refused_click_shows_only_the_clicker_why(session: DemoSession, console: httpx.AsyncClient) -> None:
    approval = await session.open_sample("release")
    message = (await state(console))["messages"][0]
    answer = await click(console, message, button(message, "Approve", index=1), "U0ALICE")
    assert answer.json()["status"] == 200
    await session.hitl.settle()
    (note,) = (await state(console, "U0ALICE"))["ephemerals"]
    assert note["text"].startswith("You may not decide *Post the release note to #releases*")
    assert (await state(console, "U0BOB"))["ephemerals"] == []
    assert (await session.hitl.store.get(approval.id)).row("announce").decision is None


async def test_the_last_decision_resumes_the_run_and_its_continuation_is_in_the_thread(
    session: DemoSession, console: httpx.AsyncClient
) -> None:
    approval = await session.open_sample("large")
    assert len(await session.hitl.store.messages(approval.id)) >= 3  # the main message and its continuations
    shown = await state(console, "U0BOB")
    replies = shown["threads"][approval.message_ts]
    assert shown["messages"][0]["reply_count"] == len(replies) >= 2
    assert "(continued): Rows 21-40 of 57" in str(replies[0]["blocks"])
    # Decide everything through the service itself, then watch the continuation arrive.
    for row in approval.rows:
        await session.hitl.engine.decide(approval.id, row.id, ANSWERS.get(row.requirement.kind, DELETE), BOB)
    await session.hitl.engine.wait_until_final(approval.id, timeout=20)
    await session.hitl.settle()
    streamed = [r for r in (await state(console))["threads"][approval.message_ts] if r["format"] == "markdown"]
    assert len(streamed) == 1 and not streamed[0]["streaming"]
    assert "git_push_delete" in streamed[0]["text"] and "Deleted" in streamed[0]["text"]


async def test_bad_requests_from_the_page_get_a_clear_error_and_change_nothing(
    session: DemoSession, console: httpx.AsyncClient
) -> None:
    approval = await session.open_sample("release")
    message = (await state(console))["messages"][0]
    approve = button(message, "Approve")
    calls_before = len(session.hitl.emulator.calls)

    unknown = await console.get("/console/state", params={"user": "U0MALLORY"})
    assert unknown.status_code == 404 and "'U0MALLORY' is not in the demo workspace" in unknown.json()["detail"]
    gone = await click(console, {"ts": "1.000000"}, approve, "U0ALICE")
    assert gone.status_code == 404 and "there is no message 1.000000" in gone.json()["detail"]
    forged = await click(console, message, {**approve, "value": approve["value"].replace("approve", "nope")}, "U0ALICE")
    assert forged.status_code == 409 and "no longer on the message" in forged.json()["detail"]
    extra = await console.post(
        "/console/click", json={"user": "U0ALICE", "channel": session.channel, "ts": "1", "x": 1}
    )
    assert extra.status_code == 422
    sample = await console.post("/console/samples", json={"kind": "huge"})
    assert sample.status_code == 422 and "release" in sample.text

    # A modal opened for Bob cannot be submitted by Alice; required inputs left empty are not sent.
    await click(console, message, button(message, "Provide input"), "U0BOB")
    view = (await state(console, "U0BOB"))["view"]
    stolen = await console.post("/console/submit", json={"user": "U0ALICE", "view_id": view["id"], "values": {}})
    assert stolen.status_code == 403 and "was opened for U0BOB" in stolen.json()["detail"]
    empty = await console.post("/console/submit", json={"user": "U0BOB", "view_id": view["id"], "values": {}})
    assert empty.status_code == 422 and "is required; Slack would not submit the view" in empty.json()["detail"]
    missing = await console.post("/console/submit", json={"user": "U0BOB", "view_id": "V404", "values": {}})
    assert missing.status_code == 404

    stored = await session.hitl.store.get(approval.id)
    assert stored.decided_count == 0 and stored.version == approval.version
    # Only the one legitimate click reached Slack (views.open), besides what the service renders itself.
    methods = [c.method for c in session.hitl.emulator.calls[calls_before:]]
    assert methods.count("views.open") == 1 and "chat.postEphemeral" not in methods


async def test_the_page_is_served_from_the_package_and_fetches_nothing_from_the_internet(
    console: httpx.AsyncClient,
) -> None:
    page = await console.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/console.js">' in page.text
    for name in ("console.js", "blocks.js", "text.js", "console.css"):
        served = await console.get(f"/static/{name}")
        assert served.status_code == 200 and served.text == (STATIC_DIR / name).read_text()
    assert "javascript" in (await console.get("/static/console.js")).headers["content-type"]
    for path in STATIC_DIR.iterdir():
        # Only local URLs: an SVG namespace is a name, not a fetch.
        urls = set(re.findall(r"https?://[^\s\"'`)]+", path.read_text())) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), f"{path.name} refers to {urls}"
