import json
import subprocess
import sys

import pytest

from slack_hitl import DecisionInput, Engine, Store
from slack_hitl.traces import export_traces
from tests.core.support import RecordingAdapter
from tests.support import ALICE, four_kinds

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
