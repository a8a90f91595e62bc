"""The App Home inbox end to end: the tab lists what a person may still decide, and stays true.

The tab is opened over Socket Mode (``app_home_opened`` as an ``events_api`` envelope) and over
HTTP (``/slack/events``); its buttons are clicked like the message's, through the same handler.
"""

from __future__ import annotations

import httpx
import pytest

from slack_hitl import Confirmation, Deciders, Requirement
from slack_hitl.approvals import Approval
from slack_hitl.testing.emulator import EmulatedView
from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import ScriptedAdapter, message_text
from tests.support import four_kinds

pytestmark = pytest.mark.anyio

ALICE, BOB = "U0ALICE", "U0BOB"


def row(row_id: str, title: str, *users: str, groups: tuple[str, ...] = ()) -> Requirement:
    return Requirement(id=row_id, kind="confirmation", title=title, deciders=Deciders(user_ids=users, group_ids=groups))


def listed(home: EmulatedView | None) -> list[tuple[str, str]]:
    """(approval id, row id) of each row the tab lists as waiting, top to bottom."""
    assert home is not None, "no App Home was published"
    found = []
    for block in home.blocks:
        block_id = str(block.get("block_id", ""))
        if block_id.startswith("home.") and not block_id.endswith(".a"):
            _, approval_id, row_id = block_id.split(".", 2)
            found.append((approval_id, row_id))
    return found


def home_text(home: EmulatedView | None) -> str:
    assert home is not None
    return "\n".join(str((block.get("text") or {}).get("text", "")) for block in home.blocks)


async def open_three(hitl: HitlHarness) -> list[Approval]:
    hitl.emulator.add_user_group("S0OPS", "ops", [ALICE])
    specs = [
        ("Rotate keys", [row("keys", "rotate the signing key", ALICE), row("audit", "audit the rotation", BOB)]),
        (
            "Deploy billing",
            [
                row("deploy", "deploy billing", ALICE, BOB),
                four_kinds()[1].model_copy(update={"deciders": Deciders(user_ids=(ALICE,))}),
            ],
        ),
        ("Purge CDN", [row("purge", "purge the CDN", BOB), row("page", "page the on-call", groups=("S0OPS",))]),
    ]
    approvals = []
    for title, rows in specs:
        opened = await hitl.engine.open_approval(title=title, requirements=rows, adapter="scripted")
        approvals.append(await hitl.posted(opened.id))
    return approvals


async def test_the_tab_lists_exactly_the_rows_a_person_may_decide_and_stays_true() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()], socket_mode=True) as hitl:
        keys, deploy, purge = await open_three(hitl)
        alice, bob = hitl.user(ALICE, "alice"), hitl.user(BOB, "bob")

        await alice.open_app_home()
        await hitl.settle()
        # Newest approval first; only rows alice may decide: named, or through her user group.
        assert listed(hitl.emulator.home_view(ALICE)) == [
            (purge.id, "page"),
            (deploy.id, "deploy"),
            (deploy.id, "size"),
            (keys.id, "keys"),
        ]
        shown = home_text(hitl.emulator.home_view(ALICE))
        assert "Waiting for you (4)" in shown and "*Rotate keys*" in shown
        assert keys.message_ts is not None
        assert f"/archives/{hitl.channel}/p{keys.message_ts.replace('.', '')}|Open the message>" in shown

        # Decided from the tab: the same decision, shown on the message, gone from the tab.
        answer = await alice.click_home(button_text="Approve", near="rotate the signing key")
        assert answer.status_code == 200
        await hitl.settle()
        assert "by <@U0ALICE>" in message_text(hitl.message(keys))
        assert (keys.id, "keys") not in listed(hitl.emulator.home_view(ALICE))
        assert "You decided recently" in home_text(hitl.emulator.home_view(ALICE))

        # Decided in the message by someone else: alice's tab drops the row too.
        await bob.click(hitl.channel, deploy.message_ts, button_text="Approve", near="deploy billing")
        await hitl.settle()
        assert listed(hitl.emulator.home_view(ALICE)) == [(purge.id, "page"), (deploy.id, "size")]

        # Decided in the message by alice: gone from her tab; bob's tab (he never opened it) is his own.
        await alice.click(hitl.channel, purge.message_ts, button_text="Approve", near="page the on-call")
        await hitl.settle()
        assert listed(hitl.emulator.home_view(ALICE)) == [(deploy.id, "size")]
        assert listed(hitl.emulator.home_view(BOB)) == [(purge.id, "purge"), (keys.id, "audit")]
        # Every decision was made once.
        decided = [
            (entry["row_id"], entry["actor"])
            for approval in (keys, deploy, purge)
            for entry in await hitl.store.decision_log(approval.id)
            if entry["event"] == "decided"
        ]
        assert sorted(decided) == [("deploy", BOB), ("keys", ALICE), ("page", ALICE)]


async def test_the_tab_opened_over_http_events_and_a_tab_with_nothing_waiting() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        keys, _, _ = await open_three(hitl)
        carol = hitl.user("U0CAROL", "carol")
        answer = await carol.open_app_home()
        assert answer.status_code == 200
        await hitl.settle()
        home = hitl.emulator.home_view("U0CAROL")
        assert listed(home) == [] and "Nothing waits for you" in home_text(home)

        alice = hitl.user(ALICE, "alice")
        assert (await alice.open_app_home()).status_code == 200
        await hitl.settle()
        assert (keys.id, "keys") in listed(hitl.emulator.home_view(ALICE))


async def test_the_api_lists_the_rows_a_decider_may_still_decide() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        keys, deploy, purge = await open_three(hitl)
        headers = {"Authorization": f"Bearer {hitl.api_token}"}
        async with httpx.AsyncClient(base_url=f"{hitl.url}/v1", headers=headers) as api:

            async def inbox(**params: str) -> list[tuple[str, list[str]]]:
                answer = await api.get("/approvals", params=params)
                assert answer.status_code == 200, answer.text
                return [(a["id"], [r["id"] for r in a["rows"]]) for a in answer.json()["approvals"]]

            assert await inbox(decider=ALICE) == [
                (purge.id, ["page"]),
                (deploy.id, ["deploy", "size"]),
                (keys.id, ["keys"]),
            ]
            assert await inbox(decider=BOB) == [(purge.id, ["purge"]), (deploy.id, ["deploy"]), (keys.id, ["audit"])]
            assert await inbox(decider=ALICE, status="pending", limit="1", offset="1") == [
                (deploy.id, ["deploy", "size"])
            ]
            assert await inbox(decider=ALICE, status="approved") == []
            assert len(await inbox()) == 3  # without decider: whole approvals, as before

            await hitl.user(BOB, "bob").click(
                hitl.channel, str(deploy.message_ts), button_text="Approve", near="deploy billing"
            )
            assert await inbox(decider=ALICE) == [(purge.id, ["page"]), (deploy.id, ["size"]), (keys.id, ["keys"])]

            refused = await api.get("/approvals", params={"decider": "alice"})
            assert refused.status_code == 422 and "decider" in refused.text


async def test_a_reject_that_needs_a_reason_opens_its_modal_from_the_tab() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        purge = row("purge", "purge the CDN", ALICE).model_copy(
            update={"confirmation": Confirmation(reason="required_on_reject")}
        )
        opened = await hitl.engine.open_approval(title="Purge", requirements=[purge], adapter="scripted")
        approval = await hitl.posted(opened.id)
        alice = hitl.user(ALICE, "alice")
        await alice.open_app_home()
        await hitl.settle()

        assert (await alice.click_home(button_text="Reject", near="purge the CDN")).status_code == 200
        modal = hitl.emulator.open_view(ALICE)
        assert modal is not None  # the reason is asked for, as from the message
        inputs = [block for block in modal.blocks if block.get("type") == "input"]
        answer = await alice.submit_view({str(inputs[0]["block_id"]): "cache is warm, not now"})
        assert answer.status_code == 200 and not answer.content
        final = await hitl.engine.wait_until_final(approval.id, timeout=15)
        await hitl.settle()
        assert final.status == "rejected"
        decision = final.row("purge").decision  # type: ignore[union-attr]
        assert decision is not None and decision.reason == "cache is warm, not now"
        assert "cache is warm, not now" in message_text(hitl.message(final))
        assert listed(hitl.emulator.home_view(ALICE)) == []


async def test_a_long_inbox_fits_slack_and_says_how_many_more_wait() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        rows = [row(f"r{i:02d}", f"tool call {i:02d}", ALICE) for i in range(60)]
        opened = await hitl.engine.open_approval(title="Many calls", requirements=rows, adapter="scripted")
        await hitl.posted(opened.id)
        alice = hitl.user(ALICE, "alice")
        await alice.open_app_home()
        await hitl.settle()
        publish = hitl.emulator.calls_to("views.publish")
        assert publish and all(call.response["ok"] for call in publish)  # Slack's limits held
        home = hitl.emulator.home_view(ALICE)
        shown = listed(home)
        assert 0 < len(shown) < 60
        assert home is not None
        notes = [
            element["text"] for block in home.blocks if block["type"] == "context" for element in block["elements"]
        ]
        assert notes == [f"{60 - len(shown)} more not shown; decide these first."]
        assert "Waiting for you (60)" in home_text(home)


async def test_a_click_in_a_stale_tab_redraws_it_and_changes_nothing() -> None:
    async with HitlHarness(adapters=[ScriptedAdapter()]) as hitl:
        shared = row("deploy", "deploy billing", ALICE, BOB)
        opened = await hitl.engine.open_approval(title="Deploy", requirements=[shared], adapter="scripted")
        approval = await hitl.posted(opened.id)
        alice, bob = hitl.user(ALICE, "alice"), hitl.user(BOB, "bob")
        await alice.open_app_home()
        await hitl.settle()
        assert listed(hitl.emulator.home_view(ALICE)) == [(approval.id, "deploy")]

        # Bob decides in the message while Slack fails the tab's refresh: alice's tab is stale.
        hitl.emulator.inject_error("views.publish", "internal_error", times=2)
        await bob.click(hitl.channel, approval.message_ts, button_text="Approve")
        await hitl.settle()
        assert listed(hitl.emulator.home_view(ALICE)) == [(approval.id, "deploy")]

        answer = await alice.click_home(button_text="Reject", near="deploy billing")
        assert answer.status_code == 200
        await hitl.settle()
        assert listed(hitl.emulator.home_view(ALICE)) == []  # drawn again, true now
        final = await hitl.store.get(approval.id)
        assert final.row("deploy").decided_by == BOB  # type: ignore[union-attr]
        decided = [e for e in await hitl.store.decision_log(approval.id) if e["event"] == "decided"]
        assert [(e["row_id"], e["actor"]) for e in decided] == [("deploy", BOB)]
