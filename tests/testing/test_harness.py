"""HitlHarness: restarts (adapters swapped the ways adapter suites do it, an Engine subclass kept), and the
production wiring it runs: the /v1 API and the webhook adapter, the web and worker roles, the shutdown hand-back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from slack_hitl import Actor, Approval, ContinuationEvent, Decision, DecisionInput, Done, NotAllowed, Requirement
from slack_hitl.engine import Engine
from slack_hitl.server import SHUTDOWN_ERROR
from slack_hitl.service.app import SlackHitl
from slack_hitl.service.webhook import WebhookAdapter
from slack_hitl.store import Store
from slack_hitl.testing import HitlHarness, SlackEmulator
from tests.service.support import Answer, CallbackReceiver, auth, eventually, message_text
from tests.slack.support import ScriptedAdapter

pytestmark = pytest.mark.anyio

DEPLOY = Requirement(id="deploy", kind="confirmation", title="deploy billing")
FROZEN = Requirement(id="frozen", kind="confirmation", title="change during the freeze")


async def _open(hitl: HitlHarness, requirement: Requirement) -> Approval:
    opened = await hitl.engine.open_approval(title="Release", requirements=[requirement], adapter="scripted")
    return await hitl.posted(opened.id)


async def _approve(hitl: HitlHarness, approval: Approval, user_id: str = "U0ALICE") -> Approval:
    user = hitl.user(user_id, user_id.lower())
    await user.click(hitl.channel, approval.message_ts, button_text="Approve")
    final = await hitl.engine.wait_until_final(approval.id, timeout=10)
    await hitl.settle()
    return final


async def _by_argument(hitl: HitlHarness, adapter: ScriptedAdapter) -> None:
    await hitl.restart(adapters=[adapter])


async def _by_assignment(hitl: HitlHarness, adapter: ScriptedAdapter) -> None:
    hitl.adapters = [adapter]
    await hitl.restart()


async def _by_slice(hitl: HitlHarness, adapter: ScriptedAdapter) -> None:
    hitl.adapters[:] = [adapter]
    await hitl.restart()


@pytest.mark.parametrize("swap", [_by_argument, _by_assignment, _by_slice])
async def test_after_a_restart_the_new_adapters_resume(
    swap: Callable[[HitlHarness, ScriptedAdapter], Awaitable[None]],
) -> None:
    before, after = ScriptedAdapter(), ScriptedAdapter()
    async with HitlHarness(adapters=[before]) as hitl:
        approval = await _open(hitl, DEPLOY)
        await swap(hitl, after)

        final = await _approve(hitl, approval)

        assert final.status == "approved"
        assert [resume.approval_id for resume in after.resumes] == [approval.id]
        assert before.resumes == []
        # The production wiring's webhook adapter, and the new adapter instead of the old one.
        assert sorted(hitl.engine.adapters) == ["scripted", "webhook"] and hitl.engine.adapters["scripted"] is after


class FreezeEngine(Engine):
    """An engine that refuses every decision on the ``frozen`` row, as an adapter's engine might."""

    async def check_decision(
        self, approval_id: str, row_id: str, submitted: DecisionInput, actor: Actor
    ) -> tuple[Requirement, Decision]:
        if row_id == "frozen":
            raise NotAllowed(f"{actor.id} may not change anything during the freeze")
        return await super().check_decision(approval_id, row_id, submitted, actor)


async def test_an_engine_subclass_runs_the_app_and_survives_a_restart() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()], engine_factory=FreezeEngine) as hitl:
        assert type(hitl.engine) is FreezeEngine
        await hitl.restart()
        assert type(hitl.engine) is FreezeEngine
        frozen = await _open(hitl, FROZEN)

        await hitl.user("U0ALICE", "alice").click(hitl.channel, frozen.message_ts, button_text="Approve")
        await hitl.settle()

        notes = [note.text for note in hitl.emulator.ephemerals("U0ALICE")]
        assert notes and "You may not decide *change during the freeze*" in notes[0]
        assert (await hitl.store.get(frozen.id)).decided_count == 0
        assert (await _approve(hitl, await _open(hitl, DEPLOY))).status == "approved"


async def test_engine_options_reach_the_factory() -> None:
    built: list[dict[str, Any]] = []

    def factory(store: Store, **options: Any) -> Engine:
        built.append(options)
        return Engine(store, **options)

    async with HitlHarness(engine_options={"max_attempts": 1}, engine_factory=factory) as hitl:
        await hitl.restart()
        assert hitl.engine.max_attempts == 1

    # Each start builds the engine as serve does, with the harness's engine_options on top.
    assert [options["max_attempts"] for options in built] == [1, 1]
    assert [sorted(options) for options in built] == [
        ["adapters", "max_attempts", "max_concurrent_resumes", "publisher", "retry_backoff_seconds"]
    ] * 2


# -- the harness runs the production wiring -------------------------------------------------------


async def test_the_harness_serves_what_serve_serves_the_v1_api_and_the_webhook_adapter() -> None:
    """An approval opened over the harness's /v1 API with a callback is resumed by the webhook adapter."""
    with CallbackReceiver([Answer(chunks=["Deployed."])]) as receiver:
        async with HitlHarness() as hitl:
            assert isinstance(hitl.service, SlackHitl) and hitl.app is hitl.service.app
            assert isinstance(hitl.engine.adapters["webhook"], WebhookAdapter)
            shown = repr(hitl.service.config)
            assert hitl.signing_secret not in shown and hitl.api_token not in shown and "xoxb-" not in shown
            async with httpx.AsyncClient(base_url=hitl.url, headers=auth(hitl.api_token)) as api:
                created = await api.post(
                    "/v1/approvals",
                    json={
                        "channel": hitl.channel,
                        "title": "Release",
                        "requirements": [{"id": "deploy", "title": "deploy billing", "requires_confirmation": True}],
                        "callback": {"url": receiver.url, "secret": "a-callback-secret"},
                    },
                )
                assert created.status_code == 201, created.text
                assert (
                    await api.get(f"/v1/approvals/{created.json()['id']}", headers=auth("x" * 20))
                ).status_code == 401

            await hitl.user("U0ALICE", "alice").click(hitl.channel, created.json()["message_ts"], button_text="Approve")
            final = await hitl.engine.wait_until_final(created.json()["id"], timeout=20)
            await hitl.settle()

        assert final.status == "approved"
        (call,) = receiver.received()
        assert call.headers["x-slack-hitl-idempotency-key"] == final.id
        assert any("Deployed." in (reply.text or "") for reply in hitl.thread(final))


async def test_a_harness_in_the_web_role_hands_the_resume_to_one_in_the_worker_role(sqlite_url: str) -> None:
    web_adapter, worker_adapter = ScriptedAdapter(), ScriptedAdapter()
    with SlackEmulator() as emulator:
        async with (
            HitlHarness(adapters=[web_adapter], role="web", emulator=emulator, database_url=sqlite_url) as web,
            HitlHarness(adapters=[worker_adapter], role="worker", emulator=emulator, database_url=sqlite_url) as worker,
        ):
            with pytest.raises(RuntimeError, match="worker role serves no HTTP"):
                worker.user("U0ALICE", "alice")
            approval = await _open(web, DEPLOY)
            await web.user("U0ALICE", "alice").click(web.channel, approval.message_ts, button_text="Approve")
            await web.settle()

            final = await worker.engine.wait_until_final(approval.id, timeout=20)

            def shows_the_outcome() -> bool:
                return "Approved." in message_text(web.message(final))

            await eventually(shows_the_outcome)
            log = await web.store.decision_log(approval.id)

    assert final.status == "approved"
    assert [resume.approval_id for resume in worker_adapter.resumes] == [approval.id]
    assert web_adapter.resumes == []
    # The click only decided the row; the worker's sweep claimed the resume afterwards.
    (claim,) = [entry for entry in log if entry["event"] == "resuming"]
    assert claim["at"] > next(entry["at"] for entry in log if entry["event"] == "decided")


@dataclass
class StuckAdapter:
    """Starts a resume and never finishes it (until cancelled)."""

    name: str = "scripted"
    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False

    async def resume(self, approval: Approval, *, idempotency_key: str) -> AsyncIterator[ContinuationEvent]:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        yield Done()


async def test_a_harness_stopped_mid_resume_hands_the_resume_back_to_the_next_start(sqlite_url: str) -> None:
    stuck, after = StuckAdapter(), ScriptedAdapter()
    with SlackEmulator() as emulator:
        async with HitlHarness(
            adapters=[stuck], emulator=emulator, database_url=sqlite_url, shutdown_grace_seconds=0.2
        ) as hitl:
            approval = await _open(hitl, DEPLOY)
            await hitl.user("U0ALICE", "alice").click(hitl.channel, approval.message_ts, button_text="Approve")
            await asyncio.wait_for(stuck.started.wait(), 20)
        # Stopped as a deploy stops it: the resume did not finish within the grace period.
        assert stuck.cancelled

        store = await Store.open(sqlite_url, create=False)
        try:
            handed_back = await store.get(approval.id)
        finally:
            await store.close()
        # Handed back, not left leased until the lease runs out: the next process retries it at once.
        assert handed_back.status == "pending" and handed_back.all_decided
        assert handed_back.last_error == SHUTDOWN_ERROR

        async with HitlHarness(adapters=[after], emulator=emulator, database_url=sqlite_url) as hitl:
            final = await hitl.engine.wait_until_final(approval.id, timeout=20)
            await hitl.settle()

    assert final.status == "approved"
    assert [resume.approval_id for resume in after.resumes] == [approval.id]
