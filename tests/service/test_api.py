"""The HTTP API /v1 over real HTTP: the service in the test's loop, the real slack_sdk client, the emulator.

Every refused request gets its 4xx with a message that says what is wrong, and nothing is
stored or posted to Slack for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from slack_hitl import Question
from tests.service.conftest import Running
from tests.service.support import (
    API_TOKEN,
    CALLBACK_SECRET,
    CHANNEL,
    auth,
    eventually,
    message_text,
    release_rows,
)

pytestmark = pytest.mark.anyio


def deploy_request(**changes: object) -> dict[str, object]:
    request: dict[str, object] = {
        "channel": CHANNEL,
        "title": "Release billing 2.3",
        "requirements": release_rows(),
    }
    request.update(changes)
    return request


async def test_open_posts_the_message_and_answers_201_with_rows_classified(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        answer = await api.post(
            "/v1/approvals",
            json=deploy_request(
                callback={"url": "https://hooks.example.com/resume?token=abc", "secret": CALLBACK_SECRET},
                metadata={"run_id": "run-7"},
            ),
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert [(row["id"], row["kind"]) for row in created["rows"]] == [
            ("deploy", "confirmation"),
            ("size", "user_input"),
            ("tone", "user_feedback"),
            ("purge", "confirmation"),
        ]
        assert created["status"] == "pending" and created["message_ts"]
        assert created["metadata"] == {"run_id": "run-7"}
        # The callback is shown without its secret or query; the secret is nowhere in the answer.
        assert created["callback_url"] == "https://hooks.example.com/resume"
        assert CALLBACK_SECRET not in answer.text

        shown = service.emulator.message(CHANNEL, created["message_ts"])
        assert "Release billing 2.3" in message_text(shown)
        assert "deploy billing to prod" in message_text(shown)

        fetched = (await api.get(f"/v1/approvals/{created['id']}")).json()
        assert fetched == created
        listed = (await api.get("/v1/approvals", params={"status": "pending"})).json()["approvals"]
        assert [a["id"] for a in listed] == [created["id"]]
        assert (await api.get("/v1/approvals", params={"status": "approved"})).json() == {"approvals": []}


async def test_the_same_idempotency_key_returns_the_same_approval_and_posts_once(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        request = deploy_request(idempotency_key="run-7:pause-1")
        first, second = await asyncio.gather(
            api.post("/v1/approvals", json=request), api.post("/v1/approvals", json=request)
        )
        assert first.status_code == second.status_code == 201, (first.text, second.text)
        assert first.json()["id"] == second.json()["id"]
        third = await api.post("/v1/approvals", json=request)
        assert third.json()["id"] == first.json()["id"]
        assert len(service.emulator.calls_to("chat.postMessage")) == 1

        other = await api.post("/v1/approvals", json=deploy_request(idempotency_key="run-7:pause-1", title="Other"))
        assert other.status_code == 409
        assert "run-7:pause-1" in other.json()["detail"] and "another request" in other.json()["detail"]


@pytest.mark.parametrize(
    "change",
    [
        {"channel": "C0OTHER"},
        {"callback": {"url": "https://hooks.example.com/other", "secret": CALLBACK_SECRET}},
        {"metadata": {"run_id": "run-8"}},
        {"expiry_policy": "apply_defaults"},
        {"requirements": [{**release_rows()[0], "deciders": {"user_ids": ["U0BOB"]}}, *release_rows()[1:]]},
    ],
    ids=["channel", "callback", "metadata", "expiry", "deciders"],
)
async def test_the_same_idempotency_key_with_another_body_is_refused_even_with_the_same_title_and_rows(
    service: Running, change: dict[str, object]
) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        first = await api.post("/v1/approvals", json=deploy_request(idempotency_key="run-7:pause-1"))
        assert first.status_code == 201, first.text
        other = await api.post("/v1/approvals", json=deploy_request(idempotency_key="run-7:pause-1", **change))
        assert other.status_code == 409, other.text
        assert first.json()["id"] in other.json()["detail"]
        assert [approval["id"] for approval in (await api.get("/v1/approvals")).json()["approvals"]] == [
            first.json()["id"]
        ]
    assert len(service.emulator.calls_to("chat.postMessage")) == 1


async def test_a_long_poll_answers_when_the_status_changes(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth(), timeout=30) as api:
        created = (await api.post("/v1/approvals", json=deploy_request(requirements=[release_rows()[0]]))).json()
        alice = service.user("U0ALICE", "alice")

        started = asyncio.get_running_loop().time()
        waiting = asyncio.create_task(api.get(f"/v1/approvals/{created['id']}", params={"wait": 20}))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # nothing changed yet: still waiting
        await alice.click(CHANNEL, created["message_ts"], button_text="Approve")
        changed = (await waiting).json()
        assert changed["status"] != "pending"
        assert asyncio.get_running_loop().time() - started < 10

        final = await service.hitl.wait(created["id"], timeout=10)
        assert final.status == "approved"
        assert final.row("deploy").decided_by == "U0ALICE"

        # A final approval answers at once, however long the wait.
        started = asyncio.get_running_loop().time()
        again = await api.get(f"/v1/approvals/{created['id']}", params={"wait": 30})
        assert again.json()["status"] == "approved"
        assert asyncio.get_running_loop().time() - started < 2

        # Without a change, the wait ends after `wait` seconds with the approval as it is.
        pending = (await api.post("/v1/approvals", json=deploy_request())).json()
        started = asyncio.get_running_loop().time()
        same = await api.get(f"/v1/approvals/{pending['id']}", params={"wait": 0.6})
        assert same.json()["status"] == "pending"
        assert 0.5 <= asyncio.get_running_loop().time() - started < 3


async def test_cancel_closes_the_approval_in_slack_and_twice_is_a_conflict(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        created = (await api.post("/v1/approvals", json=deploy_request())).json()
        cancelled = await api.post(f"/v1/approvals/{created['id']}/cancel", json={"reason": "release postponed"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

        again = await api.post(f"/v1/approvals/{created['id']}/cancel")
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]

        def shows_cancelled() -> bool:
            return "Cancelled" in message_text(service.emulator.message(CHANNEL, created["message_ts"]))

        await eventually(shows_cancelled)
        log = await service.hitl.store.decision_log(created["id"])
        assert [(e["event"], e["actor"], e["reason"]) for e in log if e["event"] == "cancelled"] == [
            ("cancelled", "api", "release postponed")
        ]


# -- refused requests -------------------------------------------------------------------------


def _problems(answer: httpx.Response) -> dict[str, str]:
    """A 422's problems as {dotted field path: reason}."""
    assert answer.status_code == 422, answer.text
    return {".".join(str(part) for part in problem["loc"]): problem["msg"] for problem in answer.json()["detail"]}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"title": None}, "body.title", "valid string"),
        ({"requirements": []}, "body.requirements", "at least 1 item"),
        ({"channel": "not a channel"}, "body.channel", "pattern"),
        ({"title": "x" * 151}, "body.title", "at most 150 characters"),
        (
            {"requirements": [{"id": "a", "title": "t", "kind": "approve_maybe"}]},
            "body.requirements.0.kind",
            "'confirmation', 'user_input', 'user_feedback' or 'external_execution'",
        ),
        (
            {"requirements": [{"id": "a", "title": "t"}]},
            "body.requirements.0.kind",
            "set `kind`",
        ),
        (
            {"requirements": [{"id": "a", "title": "t", "needs_approval": True, "external_execution_required": True}]},
            "body.requirements.0.kind",
            "ambiguous",
        ),
        (
            {"requirements": [{"id": "a", "title": "t", "kind": "user_input"}]},
            "body.requirements.0",
            "needs at least one field",
        ),
        (
            {"requirements": [{"id": "a", "title": "t" * 301, "kind": "confirmation"}]},
            "body.requirements.0.title",
            "at most 300 characters",
        ),
        (
            {"requirements": [{"id": "a", "title": "t", "kind": "confirmation", "description": "d" * 3001}]},
            "body.requirements.0.description",
            "at most 3000 characters",
        ),
        (
            {"requirements": [{"id": "a", "title": "t", "kind": "confirmation"}] * 2},
            "body.requirements",
            "unique",
        ),
        (
            {"requirements": [{"id": "a", "title": "t", "kind": "confirmation", "typo": 1}]},
            "body.requirements.0.typo",
            "Extra inputs are not permitted",
        ),
        (
            {"expires_at": "2001-01-01T00:00:00Z"},
            "body.expires_at",
            "must be in the future",
        ),
        ({"expires_at": "2999-01-01T00:00:00"}, "body.expires_at", "timezone"),
        ({"callback": {"url": "ftp://example.com/x", "secret": CALLBACK_SECRET}}, "body.callback.url", "scheme"),
        ({"callback": {"url": "https://example.com/x", "secret": "short"}}, "body.callback.secret", "at least 16"),
        (
            {
                "requirements": [
                    {
                        "id": "survey",
                        "title": "survey",
                        "questions": [
                            Question(
                                name=f"q{i}", question="Why?", options=("a", "b"), allow_free_text=True
                            ).model_dump(mode="json")
                            for i in range(50)
                        ],
                    }
                ]
            },
            "body.requirements.0",
            "does not fit a Slack modal",
        ),
    ],
)
async def test_invalid_requests_get_422_naming_the_field_and_post_nothing(
    service: Running, change: dict[str, object], field: str, reason: str
) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        answer = await api.post("/v1/approvals", json=deploy_request(**change))
    problems = _problems(answer)
    assert field in problems, problems
    assert reason in problems[field], problems[field]
    assert service.emulator.calls_to("chat.postMessage") == []
    assert await service.hitl.store.approval_ids() == []


async def test_missing_fields_are_each_named(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        problems = _problems(await api.post("/v1/approvals", json={}))
    assert {"body.channel", "body.title", "body.requirements"} <= set(problems)
    assert all(reason == "Field required" for reason in problems.values())


async def test_wrong_tokens_unknown_ids_and_bad_bodies_get_4xx_and_change_nothing(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url) as api:
        for headers in (
            {},
            auth("wrong-token-wrong-token"),
            {"Authorization": API_TOKEN},
            {"Authorization": "Basic x"},
        ):
            refused = await api.post("/v1/approvals", json=deploy_request(), headers=headers)
            assert refused.status_code == 401, headers
            assert "bearer token" in refused.json()["detail"]
            assert refused.headers["www-authenticate"] == "Bearer"
            # The token is checked first: a caller without it learns nothing about the body.
            assert (await api.post("/v1/approvals", content=b"{not json", headers=headers)).status_code == 401
            assert (await api.get("/v1/approvals", headers=headers)).status_code == 401

        unknown = await api.get("/v1/approvals/0123456789abcdef", headers=auth())
        assert unknown.status_code == 404 and "0123456789abcdef" in unknown.json()["detail"]
        assert (await api.post("/v1/approvals/0123456789abcdef/cancel", headers=auth())).status_code == 404
        assert (await api.get("/v1/approvals", params={"status": "maybe"}, headers=auth())).status_code == 422

        not_json = await api.post(
            "/v1/approvals", content=b"{not json", headers={**auth(), "Content-Type": "application/json"}
        )
        assert not_json.status_code == 422 and "JSON decode error" in not_json.text
        huge = await api.post("/v1/approvals", json=deploy_request(metadata={"blob": "x" * 600_000}), headers=auth())
        assert huge.status_code == 413 and "larger than" in huge.json()["detail"]

    assert service.emulator.calls_to("chat.postMessage") == []
    assert await service.hitl.store.approval_ids() == []


async def test_the_openapi_schema_documents_the_api_and_its_bearer_token(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url) as api:
        schema = (await api.get("/openapi.json")).json()
    assert set(schema["paths"]) >= {
        "/v1/approvals",
        "/v1/approvals/{approval_id}",
        "/v1/approvals/{approval_id}/cancel",
        "/healthz",
    }
    assert "/slack/interactions" not in schema["paths"]
    create = schema["paths"]["/v1/approvals"]["post"]
    assert {"201", "401", "409", "413", "422"} <= set(create["responses"])
    assert create["security"] == [{"HTTPBearer": []}]
    requirement = schema["components"]["schemas"]["RequirementIn"]
    assert "kind" not in requirement.get("required", [])
    assert {"requires_confirmation", "needs_approval", "requires_external_execution"} <= set(requirement["properties"])


async def test_expiry_from_the_api_settles_undecided_rows(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        created = (
            await api.post(
                "/v1/approvals",
                json=deploy_request(requirements=release_rows()[:1], expires_at=expires.isoformat()),
            )
        ).json()
        final = await service.hitl.wait(created["id"], timeout=15)
    assert final.status == "expired"
    assert final.row("deploy").decision.outcome == "rejected"


async def test_a_channel_slack_refuses_gets_422_and_leaves_nothing_open(service: Running) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=auth()) as api:
        answer = await api.post("/v1/approvals", json=deploy_request(channel="#no-such-channel"))
        assert answer.status_code == 422, answer.text
        (problem,) = answer.json()["detail"]
        assert problem["loc"] == ["body", "channel"]
        assert problem["msg"] == "Slack refused to post in '#no-such-channel': channel_not_found"
        assert (await api.get("/v1/approvals", params={"status": "pending"})).json() == {"approvals": []}
        (cancelled,) = (await api.get("/v1/approvals", params={"status": "cancelled"})).json()["approvals"]
        assert cancelled["message_ts"] is None
