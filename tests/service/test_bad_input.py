"""Bad input against ``slack-hitl serve`` on both databases: a clear 4xx, never a 500, and nothing changes.

Bodies are written as raw JSON text, so they can carry what a JSON encoder would refuse to
make (a lone surrogate escape, a NUL, nesting hundreds deep, bytes that are not UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from slack_hitl import Actor
from slack_hitl.requirements import Requirement
from slack_hitl.slack.ids import MODAL_CALLBACK_ID, ModalRef, encode_metadata
from slack_hitl.store import Store
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import SlackTestUser
from tests.service.support import (
    CHANNEL,
    SIGNING_SECRET,
    ServeProcess,
    auth,
    service_env,
    serving,
)

pytestmark = pytest.mark.anyio

SURROGATE = "\\ud800"  # a lone surrogate, as a JSON escape
NUL = "\\u0000"


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _body(title: str = '"Deploy"', row_id: str = '"deploy"', extra: str = "") -> bytes:
    row = f'{{"id": {row_id}, "title": "deploy it", "requires_confirmation": true{extra}}}'
    return f'{{"channel": "{CHANNEL}", "title": {title}, "requirements": [{row}]}}'.encode()


BAD_BODIES: dict[str, bytes] = {
    "surrogate in the title": _body(title=f'"Deploy {SURROGATE}"'),
    "surrogate in a row id": _body(row_id=f'"row{SURROGATE}"'),
    "surrogate in a description": _body(extra=f', "description": "x{SURROGATE}"'),
    "surrogate in a metadata key": _body().replace(
        b'"requirements"', f'"metadata": {{"k{SURROGATE}": 1}}, "requirements"'.encode()
    ),
    "surrogate in the arguments": _body(extra=f', "arguments": {{"cmd": ["rm", "{SURROGATE}"]}}'),
    "NUL in the title": _body(title=f'"Deploy{NUL}"'),
    "NUL in the arguments": _body(extra=f', "arguments": {{"cmd": "a{NUL}b"}}'),
    "metadata 300 deep": _body().replace(b'"requirements"', f'"metadata": {_nested(300)}, "requirements"'.encode()),
    "arguments 300 deep": _body(extra=f', "arguments": {_nested(300)}'),
    "a row default 300 deep": _body(extra=f', "default": {_nested(300)}'),
    "a body 5000 deep": b'{"channel": "' + CHANNEL.encode() + b'", "metadata": ' + _nested(5000).encode() + b"}",
    "bytes that are not UTF-8": _body(title=b'"Deploy \xff\xfe"'.decode("latin-1")).replace(
        "Deploy \u00ff\u00fe".encode(), b"Deploy \xff\xfe"
    ),
}


@pytest.fixture
async def server(emulator: SlackEmulator, database_url: str, tmp_path: Path) -> AsyncIterator[ServeProcess]:
    if database_url.startswith("postgresql"):
        await (await Store.open(database_url, create=True)).close()  # serve wants the schema there
    async with serving(service_env(emulator.base_url, database_url), tmp_path / "serve.log") as running:
        yield running


async def test_bad_text_and_deep_json_get_4xx_and_store_nothing_on_either_database(
    server: ServeProcess, emulator: SlackEmulator
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        answers = {
            name: await api.post("/v1/approvals", content=body, headers={"Content-Type": "application/json"})
            for name, body in BAD_BODIES.items()
        }
        listed = await api.get("/v1/approvals")
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert all(400 <= status < 500 for status in statuses.values()), statuses
    assert all(answer.json()["detail"] for answer in answers.values())
    assert "surrogate" in answers["surrogate in the title"].text
    assert "NUL" in answers["NUL in the title"].text
    assert "deep" in answers["metadata 300 deep"].text
    assert listed.status_code == 200 and listed.json() == {"approvals": []}
    assert emulator.calls_to("chat.postMessage") == []
    assert "Traceback" not in server.log(), server.log()


async def test_what_is_already_stored_never_makes_the_listing_fail(server: ServeProcess, database_url: str) -> None:
    # Stored before the checks existed (or by code that went around them): the listing still answers.
    store = await Store.open(database_url, create=False)
    deep: dict[str, Any] = {"a": 1}
    for _ in range(300):
        deep = {"a": deep}
    try:
        approval, _ = await store.insert_approval(
            title="Old approval",
            requirements=[Requirement(id="old", kind="confirmation", title="an old row")],
            adapter="webhook",
            resume_state={},
            channel=CHANNEL,
            thread_ts=None,
            parent_id=None,
            expires_at=None,
            expiry_policy="reject",
            idempotency_key=None,
            actor=Actor(id="api"),
            metadata={"deep": deep},
        )
        # JSON text with escaped lone surrogates, as JSON columns could take it before the checks.
        async with store.database.engine.begin() as connection:
            await connection.execute(
                text("UPDATE approvals SET metadata = :metadata WHERE id = :id"),
                {"metadata": f'{{"deep": {json.dumps(deep)}, "key \\ud800": "value \\ud800"}}', "id": approval.id},
            )
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        listed = await api.get("/v1/approvals")
        one = await api.get(f"/v1/approvals/{approval.id}")
    assert listed.status_code == 200, listed.text
    assert [shown["id"] for shown in listed.json()["approvals"]] == [approval.id]
    assert one.status_code == 200 and one.json()["title"] == "Old approval"
    shown = one.json()
    assert "deeper than" in json.dumps(shown["metadata"]["deep"])
    assert shown["metadata"]["key \ufffd"] == "value \ufffd"


async def test_a_submission_naming_a_choice_the_row_lacks_is_refused_clearly(
    server: ServeProcess, emulator: SlackEmulator
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        created = (
            await api.post("/v1/approvals", content=_body(), headers={"Content-Type": "application/json"})
        ).json()
    ts = str(created["message_ts"])
    user = SlackTestUser(emulator, server.interactions_url, SIGNING_SECRET, "U0ALICE", "alice")
    metadata = encode_metadata(
        ModalRef(
            approval_id=created["id"],
            row_id="deploy",
            version=1,
            choice="launch-missiles",
            channel=CHANNEL,
            message_ts=ts,
        )
    )
    answer = await user.send_payload(
        {
            "type": "view_submission",
            "user": {"id": "U0ALICE", "username": "alice"},
            "view": {
                "id": "V0FORGED",
                "callback_id": MODAL_CALLBACK_ID,
                "private_metadata": metadata,
                "blocks": [{"type": "input", "block_id": "reason", "element": {"type": "plain_text_input"}}],
                "state": {"values": {}},
            },
        }
    )
    assert answer.status_code == 200, answer.text
    errors = answer.json()["errors"]
    assert "has no choice" in errors["reason"] and "launch-missiles" in errors["reason"]
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        row = (await api.get(f"/v1/approvals/{created['id']}")).json()["rows"][0]
    assert row["decision"] is None
    assert "Traceback" not in server.log(), server.log()


async def test_a_submitted_reason_with_a_lone_surrogate_is_refused_and_decides_nothing(
    server: ServeProcess, emulator: SlackEmulator
) -> None:
    row = ', "confirmation": {"reason": "required_on_reject"}'
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        created = (
            await api.post("/v1/approvals", content=_body(extra=row), headers={"Content-Type": "application/json"})
        ).json()
    user = SlackTestUser(emulator, server.interactions_url, SIGNING_SECRET, "U0ALICE", "alice")
    await user.click(CHANNEL, str(created["message_ts"]), button_text="Reject")
    answer = await user.submit_view({"Reason": "because \ud800"})
    assert answer.status_code == 400 and "lone surrogate" in answer.text, answer.text
    async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=30) as api:
        shown = (await api.get(f"/v1/approvals/{created['id']}")).json()
    assert shown["rows"][0]["decision"] is None and shown["status"] == "pending"
    assert "Traceback" not in server.log(), server.log()
