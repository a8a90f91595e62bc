"""The bare ASGI endpoint: its form decoding is urllib's to the byte, and what it refuses it refuses before acting."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus, unquote_to_bytes, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slack_hitl.slack.endpoint import MAX_BODY_BYTES, form_decode, json_loads, parse_interaction_body
from slack_hitl.slack.interactions import MalformedPayload
from slack_hitl.slack.signature import sign_request
from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import click_payload, form_body, form_headers
from tests.support import four_kinds

# What quoted-printable reads differently from form encoding, mixed with hex digits and plain bytes.
tricky_bytes = st.lists(
    st.sampled_from([b"%", b"=", b"+", b"\r", b"\n", b"0", b"a", b"F", b"g", b"%3D", b"%0A", b"%2b", b"\xff", b" "]),
    max_size=40,
).map(b"".join)


@given(raw=st.one_of(tricky_bytes, st.binary(max_size=60)))
def test_form_decoding_is_urllibs_for_any_bytes(raw: bytes) -> None:
    assert form_decode(raw) == unquote_to_bytes(raw.replace(b"+", b" "))


@given(text=st.text())
def test_form_decoding_undoes_form_encoding(text: str) -> None:
    assert form_decode(quote_plus(text).encode()).decode("utf-8") == text


def test_the_payload_field_is_found_among_others_and_must_be_a_json_object() -> None:
    assert parse_interaction_body(b"a=1&payload=%7B%22type%22%3A+%22x%22%7D&b=") == {"type": "x"}
    for body in (b"payload", b"other=1", b"payload=%5B1%5D", b"payload=%7B", b"payload=%FF"):
        with pytest.raises(MalformedPayload):
            parse_interaction_body(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=30,
)


@given(value=json_values, ascii_only=st.booleans())
def test_payloads_are_parsed_as_json_parses_them(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert repr(json_loads(text)) == repr(json.loads(text))  # repr: NaN is not equal to itself


def test_what_the_fast_parser_refuses_json_decides_as_before() -> None:
    # A lone surrogate escape: parsed, then refused by the text check, in its words.
    with pytest.raises(MalformedPayload, match="lone surrogate"):
        parse_interaction_body(urlencode({"payload": '{"type": "block_actions", "x": "\\ud800"}'}).encode())
    # Nested 300 deep (pydantic-core stops at 200): taken, as json takes it.
    deep = '{"type": "view_closed", "a": ' + "[" * 300 + "]" * 300 + "}"
    assert parse_interaction_body(urlencode({"payload": deep}).encode())["type"] == "view_closed"
    with pytest.raises(MalformedPayload, match="must be JSON"):
        parse_interaction_body(b"payload=%7B%22a%22%3A+1%7D+x")


@pytest.mark.anyio
async def test_a_body_larger_than_slack_ever_sends_is_refused_unread_and_changes_nothing(hitl: HitlHarness) -> None:
    opened = await hitl.engine.open_approval(title="Tool calls", requirements=four_kinds(), adapter="scripted")
    approval = await hitl.posted(opened.id)
    alice = hitl.user("U0ALICE", "alice")
    message = hitl.emulator.message_payload(hitl.channel, approval.message_ts)
    payload = click_payload(hitl, alice, [message], "Approve", "deploy_service")
    body = form_body(payload) + b"&padding=" + b"x" * MAX_BODY_BYTES

    answer = await alice.post_raw(body, form_headers(sign_request(hitl.signing_secret, body)))

    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"
    await hitl.settle()
    assert (await hitl.store.get(approval.id)).decided_count == 0
    # Within the limit, the same click is acted on.
    small = form_body(payload) + b"&" + urlencode({"padding": "x" * 1000}).encode()
    answer = await alice.post_raw(small, form_headers(sign_request(hitl.signing_secret, small)))
    assert answer.status_code == 200
    assert (await hitl.store.get(approval.id)).decided_count == 1
