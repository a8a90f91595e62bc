"""Signed, hypothesis-made Slack interactions against ``slack-hitl serve``: block_actions and
view_submission shapes (real action ids and modal metadata mixed with arbitrary text, lone
surrogates, deep JSON), plus arbitrary JSON payloads. No answer is a 5xx, and a refused request
(4xx) changes nothing.

``SLACK_HITL_FUZZ_EXAMPLES`` runs more examples per strategy (e.g. 5000) than the suite's default.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slack_hitl.slack.ids import ACTION_PREFIX, MODAL_CALLBACK_ID, ModalRef, encode_metadata
from slack_hitl.testing.emulator import SlackEmulator
from slack_hitl.testing.slack_user import rendered_buttons
from tests.service.support import API_TOKEN, CHANNEL, SIGNING_SECRET, ServeProcess, service_env

MAX_EXAMPLES = int(os.environ.get("SLACK_HITL_FUZZ_EXAMPLES", "60"))
RAN: dict[str, int] = {}


@dataclass
class Target:
    server: ServeProcess
    emulator: SlackEmulator
    guarded_id: str
    """An approval only U0NOBODY may decide: no fuzzed request may change it."""
    open_id: str
    ts: str
    action_ids: list[str]
    values: list[str]
    row_ids: list[str]


def _open(api: httpx.Client, rows: list[dict[str, Any]]) -> dict[str, Any]:
    answer = api.post("/v1/approvals", json={"channel": CHANNEL, "title": "Fuzzed", "requirements": rows})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


ROWS: list[dict[str, Any]] = [
    {"id": "deploy", "title": "deploy", "kind": "confirmation", "confirmation": {"reason": "required_on_reject"}},
    {"id": "size", "title": "size", "fields": [{"name": "replicas", "type": "integer", "min_value": 1}]},
    {
        "id": "tone",
        "title": "tone",
        "kind": "user_feedback",
        "questions": [{"name": "t", "question": "Tone?", "options": ["a", "b"]}],
    },
    {"id": "query", "title": "query", "requires_external_execution": True},
]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder: Path = tmp_path_factory.mktemp("interactions_fuzz")
    with SlackEmulator() as emulator:
        emulator.add_channel(CHANNEL, "approvals")
        server = ServeProcess(service_env(emulator.base_url, f"sqlite:///{folder / 'hitl.db'}"), folder / "serve.log")
        try:
            asyncio.run(server.wait_ready())
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
                nobody = {"deciders": {"user_ids": ["U0NOBODY"]}}
                guarded = _open(api, [{**row, **nobody} for row in ROWS])
                opened = _open(api, ROWS)
            buttons = [
                button
                for approval in (guarded, opened)
                for button in rendered_buttons(emulator.message_payload(CHANNEL, str(approval["message_ts"])))
            ]
            yield Target(
                server,
                emulator,
                str(guarded["id"]),
                str(opened["id"]),
                str(opened["message_ts"]),
                [button.action_id for button in buttons],
                [button.value for button in buttons if button.value is not None],
                [row["id"] for row in ROWS],
            )
            assert "Traceback" not in server.log(), server.log()
            print(f"interactions fuzz: {RAN} cases")
        finally:
            server.kill()


any_text = st.text(st.characters(exclude_categories=()), max_size=30)  # lone surrogates and NULs too
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=12,
)


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _payloads(t: Target) -> st.SearchStrategy[dict[str, Any]]:
    users = st.sampled_from(["U0FUZZ", "U0NOBODY", "U0ALICE"]) | any_text
    approval_ids = st.sampled_from([t.guarded_id, t.open_id]) | any_text
    actions = st.fixed_dictionaries(
        {
            "action_id": st.sampled_from(t.action_ids)
            | any_text.map(lambda text: f"{ACTION_PREFIX}:{text}")
            | any_text,
            "value": st.none() | st.sampled_from(t.values) | any_text,
            "action_ts": st.none() | st.just(f"{time.time():.6f}") | any_text,
        }
    )
    block_actions = st.fixed_dictionaries(
        {
            "type": st.just("block_actions"),
            "user": st.fixed_dictionaries({"id": users}, optional={"username": any_text}),
            "actions": st.lists(actions, max_size=2),
            "container": st.fixed_dictionaries(
                {},
                optional={"message_ts": st.just(t.ts) | any_text, "channel_id": st.just(CHANNEL) | any_text},
            ),
        },
        optional={
            "trigger_id": st.builds(lambda: t.emulator.issue_trigger_id("U0FUZZ")) | any_text,
            "channel": st.fixed_dictionaries({"id": st.just(CHANNEL) | any_text}),
        },
    )
    metadata = st.builds(
        lambda a, r, v, c: encode_metadata(ModalRef(a, r, v, c, CHANNEL, t.ts)),
        approval_ids.filter(lambda text: len(text) < 200),
        st.sampled_from(t.row_ids) | any_text.filter(lambda text: len(text) < 200),
        st.integers(0, 10),
        st.none() | st.sampled_from(["approve", "reject"]) | any_text.filter(lambda text: len(text) < 200),
    )
    values = st.dictionaries(any_text, st.dictionaries(any_text, st.dictionaries(any_text, json_values, max_size=3)))
    view_submission = st.fixed_dictionaries(
        {
            "type": st.just("view_submission"),
            "user": st.fixed_dictionaries({"id": users}),
            "view": st.fixed_dictionaries(
                {"id": any_text, "callback_id": st.just(MODAL_CALLBACK_ID) | any_text},
                optional={
                    "private_metadata": metadata | any_text,
                    "hash": any_text,
                    "state": st.fixed_dictionaries({"values": values | st.just(_deep(300))}),
                    "blocks": st.lists(st.dictionaries(any_text, json_values, max_size=3), max_size=2),
                },
            ),
        }
    )
    anything = st.dictionaries(st.sampled_from(["type", "user", "actions", "view"]) | any_text, json_values)
    return block_actions | view_submission | anything


def _signed(body: bytes) -> dict[str, str]:
    """Slack's signature headers for any bytes (slack_sdk's signer takes text only)."""
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def _guarded(t: Target) -> Any:
    with httpx.Client(base_url=t.server.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
        answer = api.get(f"/v1/approvals/{t.guarded_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("shape", ["signed", "form"])
def test_no_interaction_gets_a_server_error_and_refused_ones_change_nothing(target: Target, shape: str) -> None:
    before = _guarded(target)
    client = httpx.Client(timeout=30)

    @given(payload=_payloads(target), raw=st.binary(max_size=200))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_well(payload: dict[str, Any], raw: bytes) -> None:
        RAN[shape] = RAN.get(shape, 0) + 1
        if shape == "signed":
            body = urlencode({"payload": json.dumps(payload)}).encode()
        else:  # signed bytes that may not be a form, JSON or UTF-8 at all
            body = raw if raw else b"payload=" + json.dumps(payload).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **_signed(body)}
        answer = client.post(target.server.interactions_url, content=body, headers=headers)
        assert answer.status_code < 500, (answer.status_code, answer.text, payload)
        if answer.status_code >= 400:
            assert _guarded(target) == before

    try:
        answers_well()
    finally:
        client.close()
    # No fuzzed request, refused or acknowledged, may decide what only U0NOBODY may decide.
    assert _guarded(target) == before
