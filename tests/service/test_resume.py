"""Webhook resume through Slack: approvals opened over /v1, decided by signed clicks and modals,
resumed by POSTing to a local receiver whose answers (failures, text, event lines, a nested
pause) show up in the approval's thread."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from slack_hitl import Approval, Question, Requirement
from slack_hitl.errors import InputProblem
from slack_hitl.service.app import SlackHitl
from slack_hitl.service.webhook import verify_signature
from slack_hitl.testing.emulator import SlackEmulator
from tests.service.conftest import Running
from tests.service.support import (
    CALLBACK_SECRET,
    CHANNEL,
    Answer,
    CallbackReceiver,
    eventually,
    message_text,
    open_over_api,
    served,
    settings_for,
    thread_texts,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def quick_timeout_service(emulator: SlackEmulator, sqlite_url: str) -> AsyncIterator[Running]:
    settings = settings_for(emulator, sqlite_url, webhook_timeout_seconds=1.0, retry_backoff_seconds=0.2)
    async with SlackHitl.from_settings(settings) as hitl, served(hitl.app) as url:
        yield Running(hitl, url, emulator)


async def test_a_callback_failing_twice_then_answering_resumes_once_and_the_thread_tells_the_story(
    quick_timeout_service: Running, receiver: CallbackReceiver
) -> None:
    service = quick_timeout_service
    receiver.answers = [
        Answer(status=503, chunks=["deploy queue full"]),
        Answer(status=200, chunks=["too late"], delay=2.5),  # past the 1 s timeout
        Answer(chunks=["Deploying build 42. ", "Rolled out to 3 regions."], delay=0.05),
    ]
    created = await open_over_api(
        service.url, receiver, [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]
    )
    ts = str(created["message_ts"])
    await service.user("U0ALICE", "alice").click(CHANNEL, ts, button_text="Approve")

    final = await service.hitl.wait(str(created["id"]), timeout=30)
    assert final.status == "approved" and final.attempts == 3
    await asyncio.sleep(1.0)  # a few more sweeps: nothing is called again
    calls = receiver.received()
    assert len(calls) == 3
    for call in calls:
        verify_signature(CALLBACK_SECRET, call.body, call.headers)
    assert {call.headers["x-slack-hitl-idempotency-key"] for call in calls} == {created["id"]}
    assert [json.loads(call.body)["attempt"] for call in calls] == [1, 2, 3]

    def story() -> list[str] | None:
        texts = thread_texts(service.emulator, CHANNEL, ts)
        return texts if any("Rolled out to 3 regions." in text for text in texts) else None

    texts = await eventually(story)
    failures = [text for text in texts if "Resuming the run failed" in text]
    assert len(failures) == 2
    assert "(attempt 1)" in failures[0] and "answered HTTP 503: deploy queue full" in failures[0]
    assert "(attempt 2)" in failures[1] and "did not answer within 1 s" in failures[1]
    recovery = next(i for i, text in enumerate(texts) if "Rolled out" in text)
    assert recovery > texts.index(failures[1])
    assert "took the decisions on attempt 3" in texts[recovery]
    assert "Deploying build 42. Rolled out to 3 regions." in texts[recovery]
    assert "Approved" in message_text(service.emulator.message(CHANNEL, ts))
    log = [entry["event"] for entry in await service.hitl.store.decision_log(final.id)]
    assert log.count("approved") == 1 and log.count("resume_failed") == 2


async def test_event_lines_stream_into_the_thread_and_a_nested_pause_calls_back_with_its_state(
    service: Running, receiver: CallbackReceiver
) -> None:
    lines = [
        {"type": "status", "text": "is deploying..."},
        {"type": "text", "text": "Deploying build 42.\n"},
        {"type": "tool", "name": "kubectl_apply", "state": "finished", "detail": "3 pods"},
        {
            "type": "nested_pause",
            "title": "Roll out to every region?",
            "requirements": [{"id": "rollout", "title": "roll out everywhere", "needs_approval": True}],
            "state": {"step": "rollout"},
        },
        {"type": "done", "summary": "paused for the rollout"},
    ]
    receiver.answers = [
        Answer(content_type="application/x-ndjson", chunks=[json.dumps(line) + "\n" for line in lines]),
        Answer(chunks=["Rolled out everywhere."]),
    ]
    created = await open_over_api(
        service.url,
        receiver,
        [
            {"id": "deploy", "title": "deploy billing", "requires_confirmation": True},
            {"id": "query", "title": "row count", "requires_external_execution": True},
        ],
    )
    ts = str(created["message_ts"])
    alice, bob = service.user("U0ALICE", "alice"), service.user("U0BOB", "bob")
    await alice.click(CHANNEL, ts, button_text="Approve")
    await bob.click(CHANNEL, ts, button_text="Submit result", near="row count")
    assert (await bob.submit_view({"Result": "42 rows"})).status_code == 200

    parent = await service.hitl.wait(str(created["id"]), timeout=20)
    assert parent.status == "approved"
    first = json.loads(receiver.received()[0].body)
    assert first["metadata"] == {"run_id": "run-7"} and first["parent_id"] is None
    assert {row["requirement_id"]: row["decided_by"]["id"] for row in first["rows"]} == {
        "deploy": "U0ALICE",
        "query": "U0BOB",
    }
    assert first["rows"][1]["decision"]["result"] == "42 rows"

    nested_ids = [a.id for a in await service.hitl.store.list_approvals() if a.parent_id == parent.id]
    assert len(nested_ids) == 1
    nested = await eventually(lambda: _posted(service, nested_ids[0]))
    assert nested.thread_ts == ts
    texts = thread_texts(service.emulator, CHANNEL, ts)
    streamed = next(text for text in texts if "Deploying build 42." in text)
    assert "`kubectl_apply` finished: 3 pods" in streamed
    assert "paused again: Roll out to every region?" in streamed

    await alice.click(CHANNEL, ts, button_text="Approve", near="roll out everywhere")
    done = await service.hitl.wait(nested.id, timeout=20)
    assert done.status == "approved"
    second = json.loads(receiver.received()[1].body)
    assert second["approval_id"] == nested.id and second["parent_id"] == parent.id
    assert second["state"] == {"step": "rollout"}
    verify_signature(CALLBACK_SECRET, receiver.received()[1].body, receiver.received()[1].headers)
    await eventually(lambda: any("Rolled out everywhere." in t for t in thread_texts(service.emulator, CHANNEL, ts)))


async def _posted(service: Running, approval_id: str) -> Approval | None:
    approval = await service.hitl.get(approval_id)
    return approval if approval.message_ts else None


async def test_a_failed_event_leaves_the_approval_retryable_and_retry_resumes_it(
    emulator: SlackEmulator, sqlite_url: str, receiver: CallbackReceiver
) -> None:
    receiver.answers = [
        Answer(content_type="application/x-ndjson", chunks=['{"type": "failed", "error": "deploy API down"}\n']),
        Answer(chunks=["Deployed on retry."]),
    ]
    settings = settings_for(emulator, sqlite_url, max_attempts=1)  # no automatic retry: the person's Retry
    async with SlackHitl.from_settings(settings) as hitl, served(hitl.app) as url:
        service = Running(hitl, url, emulator)
        created = await open_over_api(url, receiver, [{"id": "deploy", "title": "deploy", "kind": "confirmation"}])
        ts = str(created["message_ts"])
        alice = service.user("U0ALICE", "alice")
        await alice.click(CHANNEL, ts, button_text="Approve")

        async def retryable() -> bool:
            approval = await hitl.get(str(created["id"]))
            return approval.status == "pending" and approval.last_error is not None

        await eventually(retryable)
        failed = await hitl.get(str(created["id"]))
        assert "deploy API down" in (failed.last_error or "")
        await eventually(lambda: "Retry" in message_text(emulator.message(CHANNEL, ts)))
        await asyncio.sleep(0.8)  # sweeps pass; with one attempt allowed, nothing retries by itself
        assert len(receiver.received()) == 1

        await alice.click(CHANNEL, ts, button_text="Retry")
        final = await hitl.wait(str(created["id"]), timeout=20)
        assert final.status == "approved" and len(receiver.received()) == 2


def _survey_too_big_for_a_modal() -> dict[str, object]:
    """A row whose form needs more than a modal's 100 blocks (50 questions with free text)."""
    questions = [
        Question(name=f"q{i}", question="Why?", options=("a", "b"), allow_free_text=True).model_dump(mode="json")
        for i in range(50)
    ]
    return {"id": "survey", "title": "survey", "questions": questions}


async def test_a_nested_pause_with_a_row_no_modal_can_hold_is_refused_by_the_check_v1_uses(
    quick_timeout_service: Running, receiver: CallbackReceiver
) -> None:
    service = quick_timeout_service
    pause = {"type": "nested_pause", "title": "One more thing", "requirements": [_survey_too_big_for_a_modal()]}
    receiver.answers = [Answer(content_type="application/x-ndjson", chunks=[json.dumps(pause) + "\n"])]
    created = await open_over_api(
        service.url, receiver, [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}]
    )
    await service.user("U0ALICE", "alice").click(CHANNEL, str(created["message_ts"]), button_text="Approve")

    async def failed() -> Approval | None:
        approval = await service.hitl.get(str(created["id"]))
        return approval if approval.last_error else None

    parent = await eventually(failed)
    # Refused when the pause is opened, as POST /v1/approvals refuses the same row: nothing
    # stored or posted for it, and the parent stays retryable with the reason.
    assert "requirements.0" in str(parent.last_error) and "does not fit a Slack modal" in str(parent.last_error)
    assert [a.id for a in await service.hitl.store.list_approvals()] == [created["id"]]
    posted = [call.params.get("text", "") for call in service.emulator.calls_to("chat.postMessage")]
    assert not any("One more thing" in str(text) for text in posted), posted


async def test_the_python_api_refuses_what_v1_refuses_and_stores_nothing(service: Running) -> None:
    with pytest.raises(InputProblem, match="does not fit a Slack modal"):
        await service.hitl.open(
            title="Survey",
            requirements=[Requirement.model_validate({**_survey_too_big_for_a_modal(), "kind": "user_feedback"})],
            channel=CHANNEL,
        )
    with pytest.raises(InputProblem, match="lone surrogate"):
        await service.hitl.open(
            title="Deploy \ud800",
            requirements=[Requirement(id="deploy", kind="confirmation", title="deploy")],
            channel=CHANNEL,
        )
    with pytest.raises(InputProblem, match="nested deeper than"):
        deep: dict[str, object] = {}
        for _ in range(100):
            deep = {"a": deep}
        await service.hitl.open(
            title="Deploy",
            requirements=[Requirement(id="deploy", kind="confirmation", title="deploy")],
            channel=CHANNEL,
            metadata=deep,
        )
    assert await service.hitl.store.approval_ids() == []
    assert service.emulator.calls_to("chat.postMessage") == []
