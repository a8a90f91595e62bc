"""What the Airflow bridge costs, and how fast a run resumes after the last decision.

1. Poll cycle with 1,000 pending requests: a stand-in Airflow API (tests/airflow/fake_airflow.py,
   in its own process, over loopback HTTP) holds 1,000 waiting requests in 100 runs; the bridge
   (real engine, SQLite store) polls it. Printed: HTTP calls, the bridge process's CPU time and
   wall time, for the first cycle (which opens 100 approvals) and for steady-state cycles.
2. Resume latency against a REAL Airflow 3.1 (skipped with --skip-airflow or when it is not
   installed): a DAG with one HITL task; the time from the last decision (what a Slack click
   calls) to the task running again, and how it splits (answer written, then Airflow resumes).

    .venv/bin/python benchmarks/bench_airflow_bridge.py [--requests 1000] [--cycles 5] [--airflow-runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_hitl_airflow import AirflowAdapter, AirflowBridge, AirflowClient, BridgeSettings  # noqa: E402
from slack_hitl_airflow.standalone import AirflowNotInstalled, AirflowStandalone, airflow_venv, free_port  # noqa: E402

from slack_hitl import Actor, DecisionInput, Engine, Store  # noqa: E402

DECIDER = Actor(id="U0BENCH", name="bench")


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


async def poll_cycle_cost(url: str, requests: int, cycles: int) -> None:
    await _wait_for_http(url)
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite:///{folder}/bench.db")
        client = AirflowClient(url, username="bridge", password="pw")
        bridge = AirflowBridge(Engine(store), client, BridgeSettings(channel="C0BENCH", settle_seconds=0.0))
        await bridge.start()
        print(f"Poll cycle with {requests} pending requests (stand-in Airflow API over loopback HTTP):")
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
        await client.aclose()
        await store.close()


def run_poll_benchmark(requests: int, cycles: int) -> None:
    """The stand-in Airflow runs in its own process, so the CPU time measured is the bridge's alone."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.airflow.fake_airflow", "--port", str(port), "--requests", str(requests)],
        cwd=ROOT,
    )
    try:
        asyncio.run(poll_cycle_cost(f"http://127.0.0.1:{port}", requests, cycles))
    finally:
        server.terminate()
        server.wait(timeout=10)


DAG = textwrap.dedent(
    """
    from airflow.providers.standard.operators.hitl import HITLOperator
    from airflow.sdk import DAG, task

    with DAG(dag_id="bench_resume", schedule=None, catchup=False) as dag:
        ask = HITLOperator(task_id="ask", subject="Go?", options=["go", "stop"])

        @task
        def after(answer: dict) -> str:
            return answer["chosen_options"][0]

        after(ask.output)
    """
)


async def resume_latency(runs: int) -> None:
    try:
        venv = airflow_venv()
    except AirflowNotInstalled as missing:
        print(f"Resume latency: skipped ({missing})")
        return
    with tempfile.TemporaryDirectory() as folder:
        dags = Path(folder) / "dags"
        dags.mkdir()
        (dags / "bench_resume.py").write_text(DAG)
        airflow = AirflowStandalone(dags_folder=dags, venv=venv)
        airflow.start()
        try:
            airflow.wait_for_dag("bench_resume")
            print(f"Resume latency against Airflow (standalone healthy after {airflow.started_in:.1f} s):")
            store = await Store.open(f"sqlite:///{folder}/bench.db")
            client = AirflowClient(airflow.base_url, username=airflow.username, password=airflow.password)
            adapter = AirflowAdapter(client, follow_timeout=120.0, follow_interval=0.5)
            engine = Engine(store, adapters=[adapter])
            bridge = AirflowBridge(
                engine, client, BridgeSettings(channel="C0BENCH", settle_seconds=1.0), adapter=adapter
            )
            totals, writes = [], []
            for _ in range(runs):
                total, written = await _one_resume(airflow, bridge, engine, client)
                totals.append(total)
                writes.append(written)
                print(f"  last decision -> answer written {written:5.2f} s -> task running again {total:5.2f} s")
            print(
                f"  median: answer written after {statistics.median(writes):.2f} s, "
                f"task running again after {statistics.median(totals):.2f} s ({runs} runs)"
            )
            await client.aclose()
            await store.close()
        finally:
            airflow.stop()


async def _one_resume(
    airflow: AirflowStandalone, bridge: AirflowBridge, engine: Engine, client: AirflowClient
) -> tuple[float, float]:
    run = await client.trigger_run("bench_resume")
    approval_id = None
    while approval_id is None:
        report = await bridge.poll_once()
        approval_id = report.opened[0] if report.opened else None
        await asyncio.sleep(0.5)
    approval = await engine.store.get(approval_id)
    request = approval.rows[0].requirement.metadata["airflow_request"]
    await asyncio.sleep(max(0.0, 5.5 - (time.time() - _created(request))))  # as old as any click would find it
    decided = time.monotonic()
    await engine.decide(approval_id, approval.rows[0].id, DecisionInput(choices=("go",)), DECIDER)
    written = None
    while True:
        answered = (await client.run_requests("bench_resume", run.run_id))[0]
        if written is None and answered.response_received:
            written = time.monotonic() - decided
        if answered.task_instance.state not in ("deferred",):
            total = time.monotonic() - decided
            break
        await asyncio.sleep(0.1)
    await engine.wait_until_final(approval_id, timeout=120)
    return total, written if written is not None else total


def _created(request: dict) -> float:
    return dt.datetime.fromisoformat(request["created_at"].replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--airflow-runs", type=int, default=3)
    parser.add_argument("--skip-airflow", action="store_true")
    args = parser.parse_args()
    run_poll_benchmark(args.requests, args.cycles)
    if not args.skip_airflow:
        asyncio.run(resume_latency(args.airflow_runs))


if __name__ == "__main__":
    main()
