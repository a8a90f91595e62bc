"""What the Airflow bridge costs, and how fast Slack and Airflow hear of each other, per Airflow version.

For each version (3.1.8 and 3.3.2 by default):

1. Poll cycle with 1,000 pending requests: a stand-in Airflow API answering with that version's
   shapes (tests/airflow/fake_airflow.py, in its own process, over loopback HTTP) holds 1,000
   waiting requests in 100 runs; the bridge (real engine, SQLite store) polls it. Printed: HTTP
   calls, the bridge process's CPU time and wall time of the first cycle (which opens 100
   approvals) and of steady cycles, and the cost of one look of the watch (answers given in
   Airflow, review sessions), which runs every second between cycles.
2. Against a REAL Airflow of that version (skipped with --skip-airflow, or when not installed),
   the bridge served as in production (slack_hitl_airflow.service) next to the Slack emulator:
   a. last Slack decision -> task running: a person clicks in Slack once the request has waited
      --decide-after seconds (a human pace), and, separately, as soon as the message is posted;
      printed per run: the click's ack, the answer written in Airflow, the task resumed (it left
      its waiting state) and running (or already finished), and the medians;
   b. an answer given in Airflow's UI (a PATCH as another Airflow user) -> shown on its row in
      Slack (the emulator's message reads "(in Airflow)"), and the median.

    .venv/bin/python benchmarks/bench_airflow_bridge.py [--versions 3.1.8 3.3.2] [--requests 1000]
        [--cycles 5] [--airflow-runs 5] [--decide-after 20] [--skip-airflow]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "adapters" / "airflow"))

from slack_hitl_airflow import AirflowBridge, AirflowClient, BridgeSettings  # noqa: E402
from slack_hitl_airflow.hitl_detail import WAITING_STATES, HITLRequest  # noqa: E402
from slack_hitl_airflow.mapping import request_of  # noqa: E402
from slack_hitl_airflow.standalone import (  # noqa: E402
    AirflowNotInstalled,
    AirflowStandalone,
    airflow_venv,
    free_port,
    versions_under_test,
)

from slack_hitl import Approval, Engine, Store  # noqa: E402
from tests.airflow.service_harness import BridgeService, bridge_service  # noqa: E402
from tests.slack.support import message_text  # noqa: E402

SIGNING_SECRET = "bench-signing-secret"
NOTIFY_TOKEN = "bench-notify-token"


# -- 1. the poll cycle ---------------------------------------------------------------------------------


async def _wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                await client.post(f"{url}/auth/token", json={})
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing answers at {url}")


async def poll_cycle_cost(url: str, version: str, requests: int, cycles: int) -> None:
    await _wait_for_http(url)
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite:///{folder}/bench.db")
        client = AirflowClient(url, username="bridge", password="pw")
        bridge = AirflowBridge(Engine(store), client, BridgeSettings(channel="C0BENCH", settle_seconds=0.0))
        await bridge.start()
        print(f"Airflow {version}: poll cycle with {requests} pending requests (stand-in API over loopback HTTP):")
        for cycle in range(1 + cycles):
            started = time.perf_counter()
            report = await bridge.poll_once()
            wall = time.perf_counter() - started
            what = f"opened {len(report.opened)} approvals" if report.opened else "nothing new"
            label = "first cycle " if cycle == 0 else f"steady #{cycle:<3}"
            print(
                f"  {label} pending={report.pending:5d}  http_calls={report.http_calls:3d}  "
                f"cpu={report.cpu_seconds * 1000:7.1f} ms  wall={wall * 1000:7.1f} ms  ({what})"
            )
        looks = []
        for _ in range(cycles):
            started = time.perf_counter()
            look = await bridge.watch_once()
            looks.append((look.http_calls, time.perf_counter() - started))
        calls = sorted({n for n, _ in looks})
        print(
            f"  watch look (every second): http_calls={'/'.join(map(str, calls))}  "
            f"wall={statistics.median(w for _, w in looks) * 1000:7.1f} ms median  "
            "(answers given in Airflow: 1 call; review sessions: 1; on 3.3, at most 4 more while tasks have just parked)"
        )
        await client.aclose()
        await store.close()


def run_poll_benchmark(version: str, requests: int, cycles: int) -> None:
    """The stand-in Airflow runs in its own process, so the CPU time measured is the bridge's alone."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.airflow.fake_airflow",
            "--port",
            str(port),
            "--requests",
            str(requests),
            "--version",
            version,
        ],
        cwd=ROOT,
    )
    try:
        asyncio.run(poll_cycle_cost(f"http://127.0.0.1:{port}", version, requests, cycles))
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- 2. against a real Airflow -------------------------------------------------------------------------

DAG = textwrap.dedent(
    """
    import os

    from airflow.providers.standard.operators.hitl import HITLOperator
    from airflow.sdk import DAG, task

    from slack_hitl_airflow.in_airflow.notifier import SlackHitlNotifier

    with DAG(dag_id="bench_resume", schedule=None, catchup=False) as dag:
        ask = HITLOperator(task_id="ask", subject="Go?", options=["go", "stop"], notifiers=[SlackHitlNotifier()])

        @task
        def after(answer: dict) -> str:
            return answer["chosen_options"][0]

        after(ask.output)
    """
)


async def _posted(service: BridgeService, run_id: str, timeout: float = 120.0) -> Approval:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for approval in await service.hitl.store.list_approvals():
            if approval.resume_state.get("run_id") == run_id:
                return await service.hitl.posted(approval.id)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"run {run_id} was never posted to Slack")


async def _request(service: BridgeService, run_id: str) -> HITLRequest:
    return (await service.client.run_requests("bench_resume", run_id))[0]


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 180.0) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise RuntimeError("the benchmark waited too long for Airflow")
        await asyncio.sleep(0.05)
    return time.monotonic()


async def one_decision(service: BridgeService, *, decide_after: float | None) -> dict[str, float]:
    """Trigger a run, click "go" in Slack (after ``decide_after`` s of waiting, or at once), time what follows."""
    run = await service.client.trigger_run("bench_resume")
    approval = await _posted(service, run.run_id)
    if decide_after is not None:
        waited = request_of(approval.rows[0].requirement).age()
        await asyncio.sleep(max(0.0, decide_after - waited))
    person = service.user("U0BENCH", "bench")
    clicked = time.monotonic()
    await person.click(service.hitl.channel, approval.message_ts, button_text="go")
    acked = time.monotonic()
    seen: dict[str, float] = {}

    async def progressed() -> bool:
        request = await _request(service, run.run_id)
        now = time.monotonic()
        if request.response_received:
            seen.setdefault("written", now)
        if request.response_received and request.task_instance.state not in WAITING_STATES:
            seen.setdefault("resumed", now)
        if request.task_instance.state in ("running", "success"):
            seen.setdefault("running", now)
        return "running" in seen

    await _until(progressed)
    await service.engine.wait_until_final(approval.id, timeout=240)
    return {name: at - clicked for name, at in {"acked": acked, **seen}.items()}


async def one_answer_in_airflow(service: BridgeService, airflow: AirflowStandalone) -> float:
    """An answer given in Airflow's UI, once Airflow can take it: seconds until its row shows it in Slack."""
    run = await service.client.trigger_run("bench_resume")
    approval = await _posted(service, run.run_id)
    opened_for = request_of(approval.rows[0].requirement)
    # Airflow 3.3 fails a task answered right after it parked, whoever answers it: wait as the bridge would.
    await service.bridge.adapter.gate.wait(service.client, [[opened_for, await _request(service, run.run_id)]])
    async with AirflowClient(airflow.base_url, username="carol", password=airflow.passwords["carol"]) as carol:
        answered = time.monotonic()
        await carol.respond(opened_for.key, chosen_options=["stop"], params_input={})

    async def shown() -> bool:
        stored = await service.hitl.store.get(approval.id)
        return "(in Airflow)" in message_text(service.hitl.message(stored))

    seen = await _until(shown)
    await service.engine.wait_until_final(approval.id, timeout=240)
    return seen - answered


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):5.2f} s" if values else "    -"


async def real_airflow(version: str, runs: int, decide_after: float) -> None:
    try:
        venv = airflow_venv(version)
    except AirflowNotInstalled as missing:
        print(f"Airflow {version}, real: skipped ({missing})")
        return
    with tempfile.TemporaryDirectory() as folder:
        dags = Path(folder) / "dags"
        dags.mkdir()
        (dags / "bench_resume.py").write_text(DAG)
        port = free_port()
        airflow = AirflowStandalone(
            dags_folder=dags,
            venv=venv,
            python_path=(ROOT / "adapters" / "airflow",),
            extra_users=("carol",),
            extra_env={
                "SLACK_HITL_NOTIFY_URL": f"http://127.0.0.1:{port}/airflow/notify",
                "SLACK_HITL_NOTIFY_TOKEN": NOTIFY_TOKEN,
            },
        )
        airflow.start()
        try:
            airflow.wait_for_dag("bench_resume")
            print(f"Airflow {version}, real (standalone healthy after {airflow.started_in:.1f} s):")
            async with bridge_service(
                airflow,
                port,
                signing_secret=SIGNING_SECRET,
                notify_token=NOTIFY_TOKEN,
                settings={"poll_interval": 10.0},  # the production default: the notifier and the watch do the rest
                harness_options={"update_window_seconds": 0.4},  # SlackPublisher's default
            ) as service:
                for label, after in ((f"a person decides after {decide_after:.0f} s", decide_after), ("at once", None)):
                    results = [await one_decision(service, decide_after=after) for _ in range(runs)]
                    print(f"  last Slack decision -> task running, {label} (seconds from the click):")
                    for result in results:
                        print(
                            "    ack {acked:5.2f}  answer written {written:5.2f}  task resumed {resumed:5.2f}  "
                            "running {running:5.2f}".format(**result)
                        )
                    print(
                        f"    median: written {_median([r['written'] for r in results])}, resumed "
                        f"{_median([r['resumed'] for r in results])}, running {_median([r['running'] for r in results])}"
                    )
                shown = [await one_answer_in_airflow(service, airflow) for _ in range(runs)]
                print(
                    f"  answer given in Airflow -> shown on its row in Slack: "
                    f"{' '.join(f'{s:.2f}' for s in shown)} s; median {_median(shown)}"
                )
        finally:
            airflow.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", nargs="+", default=versions_under_test())
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--airflow-runs", type=int, default=5)
    parser.add_argument("--decide-after", type=float, default=20.0, help="seconds a request waits for a person")
    parser.add_argument("--skip-airflow", action="store_true")
    args = parser.parse_args()
    for version in args.versions:
        run_poll_benchmark(version, args.requests, args.cycles)
    if not args.skip_airflow:
        for version in args.versions:
            asyncio.run(real_airflow(version, args.airflow_runs, args.decide_after))


if __name__ == "__main__":
    main()
