"""Rows restricted to a Slack user group, decided through signed clicks against the emulator.

Membership comes from ``usergroups.users.list`` as the app asks Slack for it, so these tests
check the whole path: the group defined in the workspace, the lookup, the refusal the person
reads, and what the store keeps.
"""

from __future__ import annotations

import pytest

from slack_hitl import Approval, Deciders, Requirement
from slack_hitl.testing import HitlHarness

pytestmark = pytest.mark.anyio

OPS_ONLY = Requirement(id="restart", kind="confirmation", title="restart db", deciders=Deciders(group_ids=("S0OPS",)))


@pytest.fixture
def hitl(hitl: HitlHarness) -> HitlHarness:
    """The Slack tests' app, in a workspace whose ops group is Alice and Carol."""
    hitl.emulator.add_user_group("S0OPS", "ops", ["U0ALICE", "U0CAROL"])
    return hitl


async def _open(hitl: HitlHarness) -> Approval:
    opened = await hitl.engine.open_approval(title="Maintenance", requirements=[OPS_ONLY], adapter="scripted")
    return await hitl.posted(opened.id)


async def _decided_log(hitl: HitlHarness, approval_id: str) -> list[tuple[str, str]]:
    log = await hitl.store.decision_log(approval_id)
    return [(entry["row_id"], entry["actor"]) for entry in log if entry["event"] == "decided"]


async def test_a_member_of_the_group_decides_the_row(hitl: HitlHarness) -> None:
    approval = await _open(hitl)
    alice = hitl.user("U0ALICE", "alice")

    response = await alice.click(hitl.channel, approval.message_ts, button_text="Approve", near="restart db")
    final = await hitl.engine.wait_until_final(approval.id, timeout=10)
    await hitl.settle()

    assert response.status_code == 200
    assert final.status == "approved"
    row = final.row("restart")
    assert row is not None and row.decided_by == "U0ALICE" and row.decision is not None
    assert row.decision.outcome == "approved"
    assert await _decided_log(hitl, approval.id) == [("restart", "U0ALICE")]
    assert hitl.emulator.ephemerals("U0ALICE") == []
    asked = [call.params.get("usergroup") for call in hitl.emulator.calls_to("usergroups.users.list")]
    assert asked == ["S0OPS"]


async def test_someone_outside_the_group_is_told_who_may_decide_and_nothing_is_stored(hitl: HitlHarness) -> None:
    approval = await _open(hitl)
    eve = hitl.user("U0EVE", "eve")

    response = await eve.click(hitl.channel, approval.message_ts, button_text="Approve", near="restart db")
    await hitl.settle()

    assert response.status_code == 200
    notes = [note.text for note in hitl.emulator.ephemerals("U0EVE")]
    assert notes == ["You may not decide *restart db*; it is for <!subteam^S0OPS>."]
    stored = await hitl.store.get(approval.id)
    assert stored.status == "pending" and stored.decided_count == 0
    assert await _decided_log(hitl, approval.id) == []
    assert hitl.emulator.calls_to("chat.update") == []

    # A member can still decide the row the outsider was refused.
    carol = hitl.user("U0CAROL", "carol")
    await carol.click(hitl.channel, approval.message_ts, button_text="Approve", near="restart db")
    await hitl.settle()
    assert await _decided_log(hitl, approval.id) == [("restart", "U0CAROL")]


async def test_a_group_slack_does_not_know_lets_nobody_decide(hitl: HitlHarness) -> None:
    unknown_group = OPS_ONLY.model_copy(update={"deciders": Deciders(group_ids=("S0GONE",))})
    opened = await hitl.engine.open_approval(title="Maintenance", requirements=[unknown_group], adapter="scripted")
    approval = await hitl.posted(opened.id)

    await hitl.user("U0ALICE", "alice").click(hitl.channel, approval.message_ts, button_text="Approve")
    await hitl.settle()

    answers = [call.response for call in hitl.emulator.calls_to("usergroups.users.list")]
    assert answers == [{"ok": False, "error": "no_such_subteam"}]
    notes = [note.text for note in hitl.emulator.ephemerals("U0ALICE")]
    assert notes == ["You may not decide *restart db*; it is for <!subteam^S0GONE>."]
    assert await _decided_log(hitl, approval.id) == []
