"""HitlHarness restarts: adapters swapped the ways adapter suites do it, and an Engine subclass kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from slack_hitl import Actor, Approval, Decision, DecisionInput, NotAllowed, Requirement
from slack_hitl.engine import Engine
from slack_hitl.store import Store
from slack_hitl.testing import HitlHarness
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
