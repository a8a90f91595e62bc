"""The interactions endpoint over real HTTP, fed bad and racing input.

Each case checks the answer the person gets (status code, ephemeral message, modal errors)
and that the store shows nothing lost and nothing decided twice.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from slack_hitl import Actor, Approval, Confirmation, Deciders, DecisionInput, InputField, Requirement
from slack_hitl.slack.signature import sign_request
from slack_hitl.testing.harness import HitlHarness
from tests.slack.support import (
    click_all,
    click_payload,
    confirmations,
    form_body,
    form_headers,
)
from tests.support import four_kinds

pytestmark = pytest.mark.anyio


async def _open(hitl: HitlHarness, requirements: list[Requirement], **options: Any) -> Approval:
    opened = await hitl.engine.open_approval(
        title="Tool calls", requirements=requirements, adapter="scripted", **options
    )
    return await hitl.posted(opened.id)


async def _nothing_happened(hitl: HitlHarness, approval: Approval) -> None:
    await hitl.settle()
    stored = await hitl.store.get(approval.id)
    assert stored.decided_count == 0 and stored.status == "pending"
    assert [entry["event"] for entry in await hitl.store.decision_log(approval.id)] == ["opened"]
    assert hitl.emulator.calls_to("chat.postEphemeral") == []
    assert hitl.emulator.calls_to("views.open") == []
    assert hitl.emulator.calls_to("chat.update") == []


async def _decisions(hitl: HitlHarness, approval_id: str) -> list[tuple[str, str]]:
    log = await hitl.store.decision_log(approval_id)
    return sorted((entry["row_id"], entry["actor"]) for entry in log if entry["event"] == "decided")


async def test_forged_missing_stale_and_garbled_signatures_are_refused_and_change_nothing(hitl: HitlHarness) -> None:
    approval = await _open(hitl, four_kinds())
    alice = hitl.user("U0ALICE", "alice")
    message = hitl.emulator.message_payload(hitl.channel, approval.message_ts)
    body = form_body(click_payload(hitl, alice, [message], "Approve", "deploy_service"))
    now = int(time.time())
    refused = {
        "forged": (body, sign_request("not-the-secret", body)),
        "missing": (body, {}),
        "only a timestamp": (body, {"X-Slack-Request-Timestamp": str(now)}),
        "stale": (body, sign_request(hitl.signing_secret, body, timestamp=now - 6 * 60)),
        "from the future": (body, sign_request(hitl.signing_secret, body, timestamp=now + 6 * 60)),
        "tampered": (body.replace(b"approve", b"reject"), sign_request(hitl.signing_secret, body)),
        "non-numeric timestamp": (
            body,
            {**sign_request(hitl.signing_secret, body), "X-Slack-Request-Timestamp": "1e9"},
        ),
        "garbled signature": (body, {**sign_request(hitl.signing_secret, body), "X-Slack-Signature": "v0=zz"}),
        "not utf-8": (b"\xff\xfe" + body, sign_request(hitl.signing_secret, b"\xff\xfe" + body)),
    }
    for case, (sent, headers) in refused.items():
        answer = await alice.post_raw(sent, form_headers(headers))
        assert answer.status_code == 401, case
        assert answer.json()["error"] == "invalid_signature", case
    await _nothing_happened(hitl, approval)

    # The same click, signed right, is acted on.
    answer = await alice.post_raw(body, form_headers(sign_request(hitl.signing_secret, body)))
    assert answer.status_code == 200
    assert await _decisions(hitl, approval.id) == [("deploy", "U0ALICE")]


async def test_malformed_payloads_get_a_400_and_change_nothing(hitl: HitlHarness) -> None:
    approval = await _open(hitl, four_kinds())
    alice = hitl.user("U0ALICE", "alice")
    message = hitl.emulator.message_payload(hitl.channel, approval.message_ts)
    good = click_payload(hitl, alice, [message], "Approve", "deploy_service")
    bad_value = {**good, "actions": [{**good["actions"][0], "value": "{not json"}]}
    no_user = {key: value for key, value in good.items() if key != "user"}
    no_actions = {**good, "actions": []}
    bad_metadata = {
        "type": "view_submission",
        "user": good["user"],
        "view": {"id": "V1", "hash": "h", "callback_id": "slack_hitl:decide", "private_metadata": "{}"},
    }
    bodies = {
        "not a form": b"hello there",
        "payload not JSON": urlencode({"payload": "{oops"}).encode(),
        "payload a list": form_body([1, 2]),
        "no type": form_body({"user": good["user"]}),
        "block_actions without user": form_body(no_user),
        "block_actions without actions": form_body(no_actions),
        "our action with a forged value": form_body(bad_value),
        "our modal with forged metadata": form_body(bad_metadata),
    }
    for case, body in bodies.items():
        answer = await alice.post_raw(body, form_headers(sign_request(hitl.signing_secret, body)))
        assert answer.status_code == 400, case
        assert answer.json()["error"] == "malformed_payload", case

    # Interactions that are not ours are acknowledged and ignored.
    foreign = {**good, "actions": [{**good["actions"][0], "action_id": "other_app:approve"}]}
    for payload in (foreign, {"type": "shortcut", "user": good["user"]}):
        assert (await alice.send_payload(payload)).status_code == 200
    await _nothing_happened(hitl, approval)


async def test_an_unknown_approval_or_row_is_answered_with_an_ephemeral(hitl: HitlHarness) -> None:
    approval = await _open(hitl, four_kinds())
    alice = hitl.user("U0ALICE", "alice")
    message = hitl.emulator.message_payload(hitl.channel, approval.message_ts)
    good = click_payload(hitl, alice, [message], "Approve", "deploy_service")
    for approval_id, row_id in (("no-such-approval", "deploy"), (approval.id, "no-such-row")):
        value = json.dumps({"a": approval_id, "r": row_id, "c": "approve"})
        payload = {**good, "actions": [{**good["actions"][0], "value": value, "action_ts": str(time.time())}]}
        assert (await alice.send_payload(payload)).status_code == 200
    await hitl.settle()
    notes = hitl.emulator.ephemerals("U0ALICE")
    assert len(notes) == 2 and all("not known" in note.text for note in notes)
    assert (await hitl.store.get(approval.id)).decided_count == 0


def _pay_and_limit(deciders: Deciders) -> list[Requirement]:
    """A row decided by a click and one decided in a modal, both only for ``deciders``."""
    return [
        Requirement(id="pay", kind="confirmation", title="pay invoice", deciders=deciders),
        Requirement(
            id="limit",
            kind="user_input",
            title="set the limit",
            fields=(InputField(name="amount", type="number"),),
            deciders=deciders,
        ),
    ]


async def test_someone_not_allowed_is_told_so_and_nothing_is_decided(hitl: HitlHarness) -> None:
    restricted = [
        *_pay_and_limit(Deciders(user_ids=("U0BOSS",))),
        # The emulator has no usergroups.users.list: group membership cannot be confirmed, so it is refused.
        Requirement(id="ops", kind="confirmation", title="restart db", deciders=Deciders(group_ids=("S0OPS",))),
    ]
    approval = await _open(hitl, restricted)
    eve, boss = hitl.user("U0EVE", "eve"), hitl.user("U0BOSS", "boss")
    ts = approval.message_ts
    assert (await eve.click(hitl.channel, ts, button_text="Approve", near="pay invoice")).status_code == 200
    await eve.click(hitl.channel, ts, button_text="Provide input", near="set the limit")
    await eve.click(hitl.channel, ts, button_text="Approve", near="restart db")
    await hitl.settle()
    notes = [note.text for note in hitl.emulator.ephemerals("U0EVE")]
    assert notes == [
        "You may not decide *pay invoice*; it is for <@U0BOSS>.",
        "You may not decide *set the limit*; it is for <@U0BOSS>.",
        "You may not decide *restart db*; it is for <!subteam^S0OPS>.",
    ]
    assert hitl.emulator.views("U0EVE") == []  # no modal for someone who may not decide
    assert await _decisions(hitl, approval.id) == []

    await boss.click(hitl.channel, ts, button_text="Approve", near="pay invoice")
    assert await _decisions(hitl, approval.id) == [("pay", "U0BOSS")]


INJECTED_USER = "U0BOB> <!channel> <http://evil.example/x|login"
INJECTED_GROUP = "S0OPS> <!here>"


async def test_a_refusal_names_deciders_whose_ids_are_not_slack_ids_as_text_not_mentions_or_links(
    hitl: HitlHarness,
) -> None:
    # Decider ids come from whoever opened the approval (the HTTP API, an adapter), not from Slack.
    deciders = Deciders(user_ids=(INJECTED_USER, "U0BOB"), group_ids=(INJECTED_GROUP,))
    approval = await _open(hitl, _pay_and_limit(deciders))
    eve = hitl.user("U0EVE", "eve")
    await eve.click(hitl.channel, approval.message_ts, button_text="Approve", near="pay invoice")
    await eve.click(hitl.channel, approval.message_ts, button_text="Provide input", near="set the limit")
    await hitl.settle()

    notes = [note.text for note in hitl.emulator.ephemerals("U0EVE")]
    shown = "U0BOB&gt; &lt;!channel&gt; &lt;http://evil.example/x|login, <@U0BOB>, S0OPS&gt; &lt;!here&gt;"
    assert notes == [
        f"You may not decide *pay invoice*; it is for {shown}.",
        f"You may not decide *set the limit*; it is for {shown}.",
    ]
    for note in notes:
        assert "<!" not in note and "<http" not in note
    assert await _decisions(hitl, approval.id) == []


async def test_a_row_decided_by_an_id_that_is_not_a_slack_id_is_named_as_text(hitl: HitlHarness) -> None:
    approval = await _open(hitl, confirmations(1))
    # Python code may decide with any actor id; Slack must not read it as a mention or a link. (An actor
    # with a name is named by it, as its row shows it: see the test of rows answered outside Slack.)
    outsider = Actor(id=INJECTED_USER)
    await hitl.engine.decide(approval.id, "r00", DecisionInput(choices=("approve",)), outsider)
    alice = hitl.user("U0ALICE", "alice")
    await alice.click(hitl.channel, approval.message_ts, button_text="Approve", near="tool call 00")
    await hitl.settle()

    notes = [note.text for note in hitl.emulator.ephemerals("U0ALICE")]
    assert notes == [
        "*tool call 00* was already decided by U0BOB&gt; &lt;!channel&gt; &lt;http://evil.example/x|login."
    ]


async def test_a_double_click_and_a_redelivery_decide_once(hitl: HitlHarness) -> None:
    approval = await _open(hitl, confirmations(2))
    alice = hitl.user("U0ALICE", "alice")
    ts = approval.message_ts
    assert (await alice.click(hitl.channel, ts, button_text="Approve", near="tool call 00")).status_code == 200
    # Slack delivers the click again (it thought the ack was lost): silently nothing changes.
    assert (await alice.redeliver(retry_num=1)).status_code == 200
    assert (await alice.redeliver(retry_num=2)).status_code == 200
    await click_all(hitl, ts, [(alice, "Approve", "tool call 01")] * 2)
    await hitl.settle()
    assert await _decisions(hitl, approval.id) == [("r00", "U0ALICE"), ("r01", "U0ALICE")]
    notes = [note.text for note in hitl.emulator.ephemerals("U0ALICE")]
    assert notes == ["You already decided *tool call 01*."]


async def test_people_deciding_the_same_rows_at_once_each_get_one_answer(hitl: HitlHarness) -> None:
    approval = await _open(hitl, confirmations(10))
    alice, bob = hitl.user("U0ALICE", "alice"), hitl.user("U0BOB", "bob")
    ts = approval.message_ts
    clicks = []
    for index in range(10):
        clicks += [(alice, "Approve", f"tool call {index:02d}"), (bob, "Reject", f"tool call {index:02d}")]
    acks = await click_all(hitl, ts, clicks)
    assert max(acks) < 3.0  # Slack's deadline
    final = await hitl.engine.wait_until_final(approval.id, timeout=15)
    await hitl.settle()

    decided = await _decisions(hitl, approval.id)
    assert [row_id for row_id, _ in decided] == [f"r{index:02d}" for index in range(10)]
    winners = dict(decided)
    # Every loser was told who won, exactly once per row.
    notes = hitl.emulator.ephemerals("U0ALICE") + hitl.emulator.ephemerals("U0BOB")
    assert len(notes) == 10
    for row in final.rows:
        loser = "U0BOB" if winners[row.id] == "U0ALICE" else "U0ALICE"
        expected = f"*{row.requirement.title}* was already decided by <@{winners[row.id]}>."
        assert [note.text for note in hitl.emulator.ephemerals(loser)].count(expected) == 1
        assert row.decided_by == winners[row.id]
        assert row.decision.outcome == ("approved" if winners[row.id] == "U0ALICE" else "rejected")


async def test_a_reason_is_asked_for_in_a_modal_and_a_blank_one_is_refused_there(hitl: HitlHarness) -> None:
    row = Requirement(
        id="drop", kind="confirmation", title="drop table", confirmation=Confirmation(reason="required_on_reject")
    )
    approval = await _open(hitl, [row])
    alice = hitl.user("U0ALICE", "alice")
    answer = await alice.click(hitl.channel, approval.message_ts, button_text="Reject", near="drop table")
    assert answer.status_code == 200
    view = hitl.emulator.open_view("U0ALICE")
    assert view is not None and view.callback_id == "slack_hitl:decide"
    assert await _decisions(hitl, approval.id) == []  # opening the modal decided nothing

    refused = await alice.submit_view({"Reason": "   "})
    assert refused.json() == {"response_action": "errors", "errors": {"reason": "a reason is required to reject"}}
    assert await _decisions(hitl, approval.id) == []

    closed = await alice.submit_view({"Reason": "it holds the audit trail"})
    assert closed.status_code == 200 and not closed.content
    stored = (await hitl.store.get(approval.id)).row("drop")
    assert stored.decision.outcome == "rejected" and stored.decision.reason == "it holds the audit trail"
    # The same submission delivered again changes nothing.
    assert (await alice.redeliver()).status_code == 200
    assert await _decisions(hitl, approval.id) == [("drop", "U0ALICE")]


async def test_a_submission_for_a_row_decided_meanwhile_is_refused_in_the_modal(hitl: HitlHarness) -> None:
    approval = await _open(hitl, four_kinds())
    alice, bob = hitl.user("U0ALICE", "alice"), hitl.user("U0BOB", "bob")
    ts = approval.message_ts
    await alice.click(hitl.channel, ts, button_text="Provide input", near="choose the size")
    await bob.click(hitl.channel, ts, button_text="Provide input", near="choose the size")
    await alice.submit_view({"replicas": 2, "region": "eu-west-1"})
    refused = await bob.submit_view({"replicas": 9, "region": "us-east-1"})
    body = refused.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"].values()) == ["*choose the size* was already decided by <@U0ALICE>."]
    stored = (await hitl.store.get(approval.id)).row("size")
    assert stored.decided_by == "U0ALICE" and stored.decision.values == {"replicas": 2, "region": "eu-west-1"}


async def test_a_row_answered_outside_slack_is_named_to_whoever_clicks_it_and_nothing_changes(
    hitl: HitlHarness,
) -> None:
    approval = await _open(hitl, four_kinds())
    stale = hitl.emulator.message_payload(hitl.channel, approval.message_ts)
    carol = Actor(id="airflow:carol", name="carol (in Airflow)", system=True)
    hostile = Actor(id="airflow:x", name="<!channel> <http://evil.example/x|login>", system=True)
    await hitl.engine.decide(approval.id, "deploy", DecisionInput(choices=("approve",)), carol)
    await hitl.engine.decide(approval.id, "size", DecisionInput(values={"replicas": 2, "region": "eu-west-1"}), carol)
    await hitl.engine.decide(approval.id, "tone", DecisionInput(values={"tone": "formal"}), hostile)
    await hitl.settle()
    bob = hitl.user("U0BOB", "bob")  # his Slack still shows the buttons, as a client not yet refreshed would
    await bob.send_payload(click_payload(hitl, bob, [stale], "Approve", "deploy_service"))
    await bob.send_payload(click_payload(hitl, bob, [stale], "Provide input", "choose the size"))
    await bob.send_payload(click_payload(hitl, bob, [stale], "Answer", "ask_user"))
    await hitl.settle()
    notes = [note.text for note in hitl.emulator.ephemerals("U0BOB")]
    assert sorted(notes) == [
        "*ask_user* was already decided by &lt;!channel&gt; &lt;http://evil.example/x|login&gt;.",
        "*choose the size* was already decided by carol (in Airflow).",
        "*deploy_service* was already decided by carol (in Airflow).",
    ]
    assert hitl.emulator.views("U0BOB") == []
    decided = [("deploy", "airflow:carol"), ("size", "airflow:carol"), ("tone", "airflow:x")]
    assert await _decisions(hitl, approval.id) == decided


async def test_clicks_on_a_finished_or_expired_approval_are_answered_with_why(hitl: HitlHarness) -> None:
    alice, bob = hitl.user("U0ALICE", "alice"), hitl.user("U0BOB", "bob")

    finished = await _open(hitl, confirmations(1))
    stale = hitl.emulator.message_payload(hitl.channel, finished.message_ts)
    await alice.click(hitl.channel, finished.message_ts, button_text="Approve")
    await hitl.engine.wait_until_final(finished.id, timeout=15)
    await bob.send_payload(click_payload(hitl, bob, [stale], "Reject", "tool call 00"))

    expiring = await _open(hitl, four_kinds(), expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3))
    stale = hitl.emulator.message_payload(hitl.channel, expiring.message_ts)
    expired = await hitl.engine.wait_until_final(expiring.id, timeout=15)  # the sweeper expires it
    assert expired.status == "expired"
    await bob.send_payload(click_payload(hitl, bob, [stale], "Provide input", "choose the size"))
    await bob.send_payload(click_payload(hitl, bob, [stale], "Approve", "deploy_service"))
    await hitl.settle()

    notes = [note.text for note in hitl.emulator.ephemerals("U0BOB")]
    assert notes[0] == "*tool call 00* was already decided by <@U0ALICE>."
    assert notes[1:] == ["This approval expired; it takes no more decisions."] * 2
    assert hitl.emulator.views("U0BOB") == []
    assert (await hitl.store.get(finished.id)).row("r00").decided_by == "U0ALICE"


async def test_a_decision_is_stored_before_the_ack_returns(hitl: HitlHarness) -> None:
    approval = await _open(hitl, confirmations(3))
    alice = hitl.user("U0ALICE", "alice")
    answer = await alice.click(hitl.channel, approval.message_ts, button_text="Approve", near="tool call 01")
    assert answer.status_code == 200
    # No waiting: what was acknowledged is already durable.
    assert (await hitl.store.get(approval.id)).row("r01").decided_by == "U0ALICE"
