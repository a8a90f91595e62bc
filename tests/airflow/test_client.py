"""The REST client against respx: tokens, paging, and every status Airflow answers."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from slack_hitl_airflow import (
    AirflowAuthFailed,
    AirflowClient,
    AirflowConflict,
    AirflowForbidden,
    AirflowNotFound,
    AirflowServerError,
    AirflowUnavailable,
    AirflowUnprocessable,
    RequestKey,
)

from tests.airflow.support import AIRFLOW, RUN_ID, hitl_request, page, path_of

pytestmark = pytest.mark.anyio

LIST = f"{AIRFLOW}/api/v2/dags/~/dagRuns/~/hitlDetails"
TOKEN = f"{AIRFLOW}/auth/token"


def client() -> AirflowClient:
    return AirflowClient(AIRFLOW, username="bridge", password="s3cret")


def tokens(mock: respx.MockRouter, *values: str) -> respx.Route:
    return mock.post(TOKEN).mock(side_effect=[httpx.Response(201, json={"access_token": v}) for v in values])


def versions(mock: respx.MockRouter, version: str = "3.1.8") -> None:
    mock.get(f"{AIRFLOW}/api/v2/version").respond(200, json={"version": version, "git_version": None})


async def test_a_token_is_obtained_once_and_sent_on_every_call() -> None:
    request = hitl_request()
    with respx.mock as mock:
        token = tokens(mock, "t1")
        one = mock.get(f"{AIRFLOW}{path_of(request)}").respond(200, json=request)
        async with client() as airflow:
            await airflow.request(RequestKey(dag_id="release", run_id=RUN_ID, task_id="review"))
            await airflow.request(RequestKey(dag_id="release", run_id=RUN_ID, task_id="review"))
        assert token.call_count == 1
        assert json.loads(token.calls[0].request.content) == {"username": "bridge", "password": "s3cret"}
        assert [c.request.headers["authorization"] for c in one.calls] == ["Bearer t1", "Bearer t1"]
        assert airflow.calls == 3


@pytest.mark.parametrize(
    ("status", "detail"), [(401, "Token Expired"), (403, "Invalid JWT token")], ids=["expired", "unknown-after-restart"]
)
async def test_a_rejected_token_is_renewed_once_and_the_call_repeated(status: int, detail: str) -> None:
    request = hitl_request()
    with respx.mock as mock:
        token = tokens(mock, "old", "new")
        one = mock.get(f"{AIRFLOW}{path_of(request)}").mock(
            side_effect=[
                httpx.Response(200, json=request),
                httpx.Response(status, json={"detail": detail}),
                httpx.Response(200, json=request),
            ]
        )
        async with client() as airflow:
            key = RequestKey(dag_id="release", run_id=RUN_ID, task_id="review")
            await airflow.request(key)
            found = await airflow.request(key)
        assert found.subject == "Decide review"
        assert token.call_count == 2
        assert [c.request.headers["authorization"] for c in one.calls] == ["Bearer old", "Bearer old", "Bearer new"]


async def test_a_token_refused_twice_is_an_auth_error_not_a_loop() -> None:
    with respx.mock as mock:
        tokens(mock, "a", "b")
        route = mock.get(f"{AIRFLOW}/api/v2/version").respond(401, json={"detail": "Token Expired"})
        async with client() as airflow:
            with pytest.raises(AirflowAuthFailed):
                await airflow.version()
        assert route.call_count == 2


async def test_wrong_credentials_say_which_user_was_refused() -> None:
    with respx.mock as mock:
        mock.post(TOKEN).respond(401, json={"detail": "Invalid credentials"})
        async with client() as airflow:
            with pytest.raises(AirflowAuthFailed, match=r"'bridge'.*Invalid credentials"):
                await airflow.version()


async def test_pending_requests_are_read_page_by_page_with_the_waiting_filters() -> None:
    everything = [hitl_request(f"task_{i:03d}") for i in range(250)]
    with respx.mock as mock:
        tokens(mock, "t")
        versions(mock, "3.1.8")

        def answer(request: httpx.Request) -> httpx.Response:
            offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
            return httpx.Response(200, json=page(everything[offset : offset + limit], total=len(everything)))

        listing = mock.get(LIST).mock(side_effect=answer)
        async with client() as airflow:
            found = await airflow.pending_requests()
        assert [r.key.task_id for r in found] == [r["task_instance"]["task_id"] for r in everything]
        assert sorted(int(c.request.url.params["offset"]) for c in listing.calls) == [0, 100, 200]
        first = listing.calls[0].request.url.params
        assert first["limit"] == "100" and first["response_received"] == "false"
        assert first.get_list("state") == ["deferred"] and first["order_by"] == "created_at"


async def test_airflow_3_3_also_lists_requests_awaiting_input() -> None:
    with respx.mock as mock:
        tokens(mock, "t")
        versions(mock, "3.3.2")
        listing = mock.get(LIST).respond(200, json=page([]))
        async with client() as airflow:
            assert await airflow.pending_requests() == []
        assert listing.calls[0].request.url.params.get_list("state") == ["deferred", "awaiting_input"]


async def test_a_request_is_read_with_its_params_and_key() -> None:
    request = hitl_request(
        "review_item",
        map_index=2,
        params={"notes": {"value": "", "description": "why", "schema": {"type": ["string", "null"]}}},
        assigned_users=[{"id": "alice", "name": "Alice"}],
    )
    with respx.mock as mock:
        tokens(mock, "t")
        mock.get(f"{AIRFLOW}{path_of(request)}").respond(200, json=request)
        async with client() as airflow:
            found = await airflow.request(
                RequestKey(dag_id="release", run_id=RUN_ID, task_id="review_item", map_index=2)
            )
    assert found.key.map_index == 2 and found.task_instance.label == "review_item[2]"
    assert found.params["notes"].json_schema == {"type": ["string", "null"]}
    assert found.request_id == f"{request['task_instance']['id']}:1"
    assert [u.name for u in found.assigned_users] == ["Alice"]


async def test_an_answer_is_patched_to_the_task_instance_path_with_the_run_id_quoted() -> None:
    request = hitl_request("approve")
    assert "%2B00%3A00" in path_of(request)
    with respx.mock as mock:
        tokens(mock, "t")
        patch = mock.patch(f"{AIRFLOW}{path_of(request)}").respond(
            200,
            json={
                "responded_by": {"id": "bridge", "name": "bridge"},
                "responded_at": "2026-11-21T13:00:42.882606Z",
                "chosen_options": ["yes"],
                "params_input": {"n": 1},
            },
        )
        async with client() as airflow:
            answer = await airflow.respond(request_key(request), chosen_options=["yes"], params_input={"n": 1})
    assert json.loads(patch.calls[0].request.content) == {"chosen_options": ["yes"], "params_input": {"n": 1}}
    assert answer.responded_by.id == "bridge" and answer.chosen_options == ("yes",)


def request_key(request: dict) -> RequestKey:
    ti = request["task_instance"]
    return RequestKey(dag_id=ti["dag_id"], run_id=ti["dag_run_id"], task_id=ti["task_id"], map_index=ti["map_index"])


@pytest.mark.parametrize(
    ("status", "detail", "error"),
    [
        (403, "User=bridge (id=bridge) is not a respondent for the task.", AirflowForbidden),
        (404, "The Task Instance with dag_id: `release` ... was not found", AirflowNotFound),
        (409, "Human-in-the-loop detail has already been updated", AirflowConflict),
        (422, [{"type": "too_short", "loc": ["body", "chosen_options"]}], AirflowUnprocessable),
        (500, "Internal Server Error", AirflowServerError),
        (503, "unavailable", AirflowServerError),
    ],
)
async def test_each_refusal_of_a_patch_is_its_own_error_and_is_not_repeated(status, detail, error) -> None:
    request = hitl_request("approve")
    with respx.mock as mock:
        tokens(mock, "t")
        patch = mock.patch(f"{AIRFLOW}{path_of(request)}").respond(status, json={"detail": detail})
        async with client() as airflow:
            with pytest.raises(error) as raised:
                await airflow.respond(request_key(request), chosen_options=["yes"], params_input={})
    assert raised.value.status == status and raised.value.detail == detail
    assert patch.call_count == 1  # a write is never sent twice by the client: the resume decides


async def test_a_read_that_fails_on_the_server_is_retried_then_reported() -> None:
    request = hitl_request()
    with respx.mock as mock:
        tokens(mock, "t")
        flaky = mock.get(f"{AIRFLOW}{path_of(request)}").mock(
            side_effect=[httpx.Response(502), httpx.Response(200, json=request)]
        )
        broken = mock.get(f"{AIRFLOW}/api/v2/version").respond(500, text="boom")
        async with client() as airflow:
            assert (await airflow.request(request_key(request))).key.task_id == "review"
            with pytest.raises(AirflowServerError):
                await airflow.version()
    assert flaky.call_count == 2 and broken.call_count == 3


async def test_an_airflow_that_does_not_answer_is_unavailable() -> None:
    with respx.mock as mock:
        mock.post(TOKEN).mock(side_effect=httpx.ConnectError("refused"))
        async with client() as airflow:
            with pytest.raises(AirflowUnavailable, match="did not answer"):
                await airflow.version()
