"""The webhook adapter on its own: the signature a receiver checks, the body it gets, and how
each kind of answer (text, event lines, errors, silence) becomes continuation events or a failure."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from slack_hitl import (
    Approval,
    Decision,
    Done,
    Failed,
    NestedPause,
    Requirement,
    Row,
    Status,
    TextDelta,
    ToolProgress,
)
from slack_hitl.service.callback_hosts import CallbackHosts
from slack_hitl.service.webhook import (
    SignatureInvalid,
    WebhookAdapter,
    WebhookFailed,
    parse_event_line,
    sign,
    verify_signature,
    webhook_body,
)
from slack_hitl.testing.harness import LOOPBACK_CALLBACKS
from tests.service.support import CALLBACK_SECRET, Answer, CallbackReceiver, free_port

LOOPBACK = CallbackHosts.parse(LOOPBACK_CALLBACKS)

CALLBACK = {"url": "http://127.0.0.1:9/hook", "secret": CALLBACK_SECRET}
NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)


def decided_approval(callback: dict[str, str] | None = None, *, attempts: int = 1) -> Approval:
    deploy = Requirement(id="deploy", kind="confirmation", title="deploy billing")
    query = Requirement(id="query", kind="external_execution", title="run_sql", result_format="json")
    return Approval(
        id="a" * 32,
        title="Release billing",
        status="resuming",
        adapter="webhook",
        resume_state={"callback": callback or CALLBACK, "state": {"step": 2}},
        rows=(
            Row(
                requirement=deploy,
                position=0,
                decision=Decision(outcome="approved", choices=("approve",)),
                decided_by="U0ALICE",
                decided_by_name="alice",
                decided_at=NOW,
            ),
            Row(
                requirement=query,
                position=1,
                decision=Decision(outcome="answered", result={"rows": 3}, reason="ran it by hand"),
                decided_by="U0BOB",
                decided_by_name="bob",
                decided_at=NOW,
            ),
        ),
        channel="C0APPROVALS",
        message_ts="1700000000.000100",
        attempts=attempts,
        created_at=NOW,
        metadata={"run_id": "run-7"},
    )


# -- the signature --------------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_over_version_timestamp_and_body_as_documented() -> None:
    body = b'{"approval_id":"x"}'
    expected = hmac.new(CALLBACK_SECRET.encode(), b"v1:1714560000:" + body, hashlib.sha256).hexdigest()
    assert sign(CALLBACK_SECRET, "1714560000", body) == f"v1={expected}"


def test_verify_accepts_a_fresh_signature_and_refuses_tampering_staleness_and_missing_headers() -> None:
    body = b'{"approval_id":"x"}'
    stamp = str(int(time.time()))
    headers = {"X-Slack-Hitl-Timestamp": stamp, "X-Slack-Hitl-Signature": sign(CALLBACK_SECRET, stamp, body)}
    verify_signature(CALLBACK_SECRET, body, headers)
    verify_signature(CALLBACK_SECRET, body, {key.lower(): value for key, value in headers.items()})
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(CALLBACK_SECRET, body + b" ", headers)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature("another-secret-another-secret", body, headers)
    with pytest.raises(SignatureInvalid, match="limit is 300 s"):
        verify_signature(CALLBACK_SECRET, body, headers, now=time.time() + 301)
    with pytest.raises(SignatureInvalid, match="no valid"):
        verify_signature(CALLBACK_SECRET, body, {"X-Slack-Hitl-Signature": headers["X-Slack-Hitl-Signature"]})
    with pytest.raises(SignatureInvalid, match="no valid"):
        verify_signature(CALLBACK_SECRET, body, {**headers, "X-Slack-Hitl-Timestamp": "soon"})


def test_the_body_has_every_row_decision_who_and_when_and_never_the_secret() -> None:
    body = webhook_body(decided_approval())
    assert CALLBACK_SECRET.encode() not in body
    sent = json.loads(body)
    assert sent["approval_id"] == "a" * 32 and sent["title"] == "Release billing"
    assert sent["outcome"] == "approved" and sent["attempt"] == 1
    assert sent["metadata"] == {"run_id": "run-7"} and sent["state"] == {"step": 2}
    assert sent["rows"] == [
        {
            "requirement_id": "deploy",
            "kind": "confirmation",
            "title": "deploy billing",
            "decision": {"outcome": "approved", "choices": ["approve"], "values": {}, "result": None, "reason": None},
            "decided_by": {"id": "U0ALICE", "name": "alice"},
            "decided_at": "2025-05-01T12:00:00+00:00",
        },
        {
            "requirement_id": "query",
            "kind": "external_execution",
            "title": "run_sql",
            "decision": {
                "outcome": "answered",
                "choices": [],
                "values": {},
                "result": {"rows": 3},
                "reason": "ran it by hand",
            },
            "decided_by": {"id": "U0BOB", "name": "bob"},
            "decided_at": "2025-05-01T12:00:00+00:00",
        },
    ]


# -- event lines ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ('{"type": "text", "text": "Deploying"}', TextDelta(text="Deploying")),
        ('{"type": "status", "text": "is deploying..."}', Status(text="is deploying...")),
        (
            '{"type": "tool", "name": "kubectl", "state": "finished", "detail": "3 pods"}',
            ToolProgress(name="kubectl", state="finished", detail="3 pods"),
        ),
        ('{"type": "done", "summary": "ok", "output": {"n": 1}}', Done(summary="ok", output={"n": 1})),
        ('{"type": "failed", "error": "deploy API down"}', Failed(error="deploy API down")),
    ],
)
def test_each_event_line_becomes_its_event(line: str, event: Any) -> None:
    assert parse_event_line(line, CALLBACK) == event


def test_a_nested_pause_line_classifies_its_rows_and_keeps_the_callback_for_them() -> None:
    line = json.dumps(
        {
            "type": "nested_pause",
            "title": "Roll out everywhere?",
            "requirements": [{"id": "rollout", "title": "roll out", "needs_approval": True}],
            "state": {"step": 3},
        }
    )
    event = parse_event_line(line, CALLBACK)
    assert isinstance(event, NestedPause)
    assert [(r.id, r.kind) for r in event.requirements] == [("rollout", "confirmation")]
    assert event.resume_state == {"callback": CALLBACK, "state": {"step": 3}}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "shout", "text": "x"}', "does not match any of the expected tags"),
        ('{"type": "text"}', "text: Field required"),
        ('{"type": "tool", "name": "x", "state": "exploded"}', "tool.state"),
        ('{"type": "nested_pause", "title": "t", "requirements": [{"id": "a", "title": "t"}]}', "set `kind`"),
    ],
)
def test_a_bad_event_line_says_what_is_wrong(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_event_line(line, CALLBACK)


# -- the adapter against a real receiver ----------------------------------------------------------


async def _resume(adapter: WebhookAdapter, approval: Approval) -> list[Any]:
    return [event async for event in adapter.resume(approval, idempotency_key=approval.id)]


@pytest.mark.anyio
async def test_a_2xx_text_answer_streams_as_text_and_the_post_is_signed(receiver: CallbackReceiver) -> None:
    receiver.answers = [Answer(chunks=["Deploying ", "build 42 ", "done."], delay=0.05)]
    approval = decided_approval({"url": receiver.url, "secret": CALLBACK_SECRET})
    events = await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Deploying build 42 done."
    (call,) = receiver.received()
    verify_signature(CALLBACK_SECRET, call.body, call.headers)
    assert call.headers["x-slack-hitl-idempotency-key"] == approval.id
    assert call.headers["content-type"] == "application/json"
    assert json.loads(call.body)["approval_id"] == approval.id


@pytest.mark.anyio
async def test_an_ndjson_answer_becomes_events_and_a_bad_line_fails_the_resume(receiver: CallbackReceiver) -> None:
    good = [
        '{"type": "status", "text": "is deploying..."}\n',
        '{"type": "tool", "name": "kubectl", "state": "started"}\n\n',
        '{"type": "text", "text": "rolled out"}\n{"type": "done", "summary": "ok"}\n',
    ]
    receiver.answers = [
        Answer(content_type="application/x-ndjson", chunks=good),
        Answer(content_type="application/x-ndjson", chunks=['{"type": "text", "text": "a"}\n', "{oops\n"]),
    ]
    approval = decided_approval({"url": receiver.url, "secret": CALLBACK_SECRET})
    assert await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval) == [
        Status(text="is deploying..."),
        ToolProgress(name="kubectl", state="started"),
        TextDelta(text="rolled out"),
        Done(summary="ok"),
    ]
    with pytest.raises(WebhookFailed, match=r"line 2 of the callback's answer is not a valid event: not JSON"):
        await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval)


@pytest.mark.anyio
async def test_a_json_or_empty_answer_is_resumed_without_relaying(receiver: CallbackReceiver) -> None:
    receiver.answers = [Answer(content_type="application/json", chunks=['{"ok": true}']), Answer(status=204)]
    approval = decided_approval({"url": receiver.url, "secret": CALLBACK_SECRET})
    assert await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval) == []
    assert await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval) == []
    assert len(receiver.received()) == 2


@pytest.mark.anyio
async def test_non_2xx_timeouts_and_refused_connections_fail_with_a_clear_message(receiver: CallbackReceiver) -> None:
    receiver.answers = [
        Answer(status=503, chunks=["deploy queue full, try later"]),
        Answer(status=302, chunks=[]),
        Answer(status=200, chunks=["late"], delay=2.0),
    ]
    callback = {"url": f"{receiver.url}?token=do-not-show", "secret": CALLBACK_SECRET}
    approval = decided_approval(callback)
    with pytest.raises(WebhookFailed) as refused:
        await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval)
    assert str(refused.value) == f"the callback {receiver.url} answered HTTP 503: deploy queue full, try later"
    with pytest.raises(WebhookFailed, match="answered HTTP 302"):
        await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval)  # redirects are not followed
    with pytest.raises(WebhookFailed, match=r"did not answer within 0.5 s"):
        await _resume(WebhookAdapter(timeout_seconds=0.5, allowed_hosts=LOOPBACK), approval)

    closed = {"url": f"http://127.0.0.1:{free_port()}/hook", "secret": CALLBACK_SECRET}
    with pytest.raises(WebhookFailed, match="could not be reached or gave no HTTP answer") as unreachable:
        await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), decided_approval(closed))
    assert "do-not-show" not in str(refused.value) + str(unreachable.value)


@pytest.mark.anyio
async def test_an_approval_without_callback_resumes_with_nothing_to_call() -> None:
    approval = decided_approval().model_copy(update={"resume_state": {}})
    assert await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval) == []


@pytest.mark.anyio
async def test_a_later_attempt_says_so_before_the_answer(receiver: CallbackReceiver) -> None:
    receiver.answers = [Answer(chunks=["ok"])]
    approval = decided_approval({"url": receiver.url, "secret": CALLBACK_SECRET}, attempts=3)
    events = await _resume(WebhookAdapter(allowed_hosts=LOOPBACK), approval)
    assert events[0] == TextDelta(text="_The callback took the decisions on attempt 3._\n")
    assert json.loads(receiver.received()[0].body)["attempt"] == 3
    assert receiver.received()[0].headers["x-slack-hitl-attempt"] == "3"
