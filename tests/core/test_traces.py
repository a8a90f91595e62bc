import json
import subprocess
import sys

import pytest

from slack_hitl import Confirmation, DecisionInput, Engine, Requirement, Store
from slack_hitl.traces import approval_trace, export_traces, trace_markdown
from tests.core.support import RecordingAdapter
from tests.support import ALICE, BOB, four_kinds

pytestmark = pytest.mark.anyio


async def decided_approval(url: str) -> str:
    store = await Store.open(url)
    engine = Engine(store, adapters=[RecordingAdapter()])
    approval = await engine.open_approval(title="Nightly | release", requirements=four_kinds(), adapter="recording")
    await engine.decide(approval.id, "deploy", DecisionInput(choices=("reject",), reason="tests are red"), ALICE)
    await engine.decide(approval.id, "size", DecisionInput(values={"replicas": 4}), ALICE)
    await engine.decide(approval.id, "tone", DecisionInput(values={"tone": "formal"}), ALICE)
    await engine.decide(approval.id, "query", DecisionInput(result='{"rows": 1}'), ALICE)
    await engine.drain()
    await store.close()
    return approval.id


async def test_jsonl_trace_has_every_decision_with_who_and_why(sqlite_url):
    approval_id = await decided_approval(sqlite_url)
    store = await Store.open(sqlite_url)
    lines = [line async for line in export_traces(store)]
    await store.close()
    (trace,) = [json.loads(line) for line in lines]
    assert trace["id"] == approval_id and trace["status"] == "completed"
    rows = {row["id"]: row for row in trace["rows"]}
    assert rows["deploy"]["decision"]["outcome"] == "rejected"
    assert rows["deploy"]["decision"]["reason"] == "tests are red"
    assert rows["size"]["decision"]["values"] == {"replicas": 4, "region": None}
    assert rows["query"]["decision"]["result"] == {"rows": 1}
    assert {row["decided_by_name"] for row in trace["rows"]} == {ALICE.name}
    assert [e["event"] for e in trace["log"]][-2:] == ["resuming", "completed"]


def test_cli_prints_markdown_an_agent_can_read(sqlite_url, tmp_path):
    import anyio

    approval_id = anyio.run(decided_approval, sqlite_url)
    done = subprocess.run(
        [sys.executable, "-m", "slack_hitl.cli", "traces", "--format", "markdown", "--database-url", sqlite_url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("# Decision trace")
    assert f"approval `{approval_id}`: **completed**" in done.stdout
    assert "## Nightly | release" in done.stdout
    assert "| deploy_service | confirmation | rejected: reject | alice |" in done.stdout
    assert "tests are red |" in done.stdout

    missing = subprocess.run(
        [sys.executable, "-m", "slack_hitl.cli", "traces", "--approval", "nope", "--database-url", sqlite_url],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "no approval with id 'nope'" in missing.stderr


async def test_policy_events_are_in_the_trace_in_jsonl_and_markdown(sqlite_url):
    store = await Store.open(sqlite_url)
    engine = Engine(store, adapters=[RecordingAdapter()])
    rows = [
        Requirement(id="manager", kind="confirmation", title="Manager", step=1),
        Requirement(
            id="board", kind="confirmation", title="Board", step=2, confirmation=Confirmation(approvals_needed=2)
        ),
    ]
    approval = await engine.open_approval(title="Buy", requirements=rows, adapter="recording", requested_by="U0REQ")
    approve = DecisionInput(choices=("approve",))
    await engine.decide(approval.id, "manager", approve, ALICE)
    await engine.decide(approval.id, "board", approve, ALICE)
    await engine.withdraw(approval.id, "board", ALICE)
    await engine.decide(approval.id, "board", approve, BOB)
    trace = approval_trace(await store.get(approval.id), await store.decision_log(approval.id))
    await store.close()
    events = [entry["event"] for entry in json.loads(json.dumps(trace))["log"]]
    assert [e for e in events if e in ("step_unlocked", "vote_counted", "vote_withdrawn")] == [
        "step_unlocked",
        "vote_counted",
        "vote_withdrawn",
        "vote_counted",
    ]
    assert trace["requested_by"] == "U0REQ"
    assert [vote["voter"] for vote in trace["rows"][1]["votes"]] == [BOB.id]
    unlocked = next(entry for entry in trace["log"] if entry["event"] == "step_unlocked")
    assert unlocked["data"] == {"step": 2}
    markdown = trace_markdown(trace)
    assert "Policy events:" in markdown
    assert '**step_unlocked** by slack_hitl {"step": 2}' in markdown
    assert "**vote_withdrawn** row `board` by alice" in markdown
