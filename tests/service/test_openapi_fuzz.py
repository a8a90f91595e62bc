"""Property-based requests against ``slack-hitl serve`` from its own OpenAPI schema (schemathesis):
valid and invalid bodies, parameters and ids; no answer is a 5xx, and every answer is one the
schema documents, in the shape it documents."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from slack_hitl.testing.emulator import SlackEmulator
from tests.service.support import API_TOKEN, CHANNEL, ServeProcess, service_env

MAX_EXAMPLES = int(os.environ.get("SLACK_HITL_FUZZ_EXAMPLES", "30"))
"""Examples per operation and mode; ``SLACK_HITL_FUZZ_EXAMPLES=2000`` runs a long fuzz."""
RAN: dict[str, int] = {}


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with SlackEmulator() as emulator:
        emulator.add_channel(CHANNEL, "approvals")
        server = ServeProcess(service_env(emulator.base_url, f"sqlite:///{folder / 'hitl.db'}"), folder / "serve.log")
        try:
            asyncio.run(server.wait_ready())
            yield server.url
            assert "Traceback" not in server.log(), server.log()
            print(f"/v1 fuzz: {sum(RAN.values())} cases {RAN}")
        finally:
            server.kill()


@pytest.fixture(scope="module")
def api_schema(service_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{service_url}/openapi.json")


WITH_INPUT = [
    ("POST", "/v1/approvals"),
    ("GET", "/v1/approvals"),
    ("GET", "/v1/approvals/{approval_id}"),
    ("POST", "/v1/approvals/{approval_id}/cancel"),
]
RUNS = [
    *((method, path, mode) for method, path in WITH_INPUT for mode in GenerationMode),
    ("GET", "/healthz", GenerationMode.POSITIVE),  # no input to make invalid
]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _everything(service_url: str) -> list[dict[str, object]]:
    """Every approval as the API shows it (what a refused request must leave as it was), but for
    those never posted and cancelled: a channel Slack refuses is a 422 whose stored approval is
    cancelled at once (docs/service.md), which only Slack's answer could have prevented."""
    answer = httpx.get(
        f"{service_url}/v1/approvals", params={"limit": 200}, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert answer.status_code == 200, answer.text
    return [
        approval
        for approval in answer.json()["approvals"]
        if not (approval["status"] == "cancelled" and approval["message_ts"] is None)
    ]


@pytest.mark.parametrize(("method", "path", "mode"), RUNS, ids=lambda part: getattr(part, "value", part))
def test_no_request_gets_a_server_error_or_an_undocumented_answer(
    api_schema: schemathesis.BaseSchema, service_url: str, method: str, path: str, mode: GenerationMode
) -> None:
    # schemathesis' own pytest loader (from_fixture) does not run on pytest 9, so hypothesis drives it here.
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_well(case: schemathesis.Case) -> None:
        RAN[f"{method} {path}"] = RAN.get(f"{method} {path}", 0) + 1
        before = _everything(service_url)
        response = case.call_and_validate(
            base_url=service_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, checks=CHECKS
        )
        if response.status_code >= 400:
            assert _everything(service_url) == before, "a refused request changed what is stored"

    answers_well()
