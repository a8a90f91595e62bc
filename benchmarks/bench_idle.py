"""Idle CPU of `slack-hitl serve` + one worker, and last click -> callback latency, on SQLite and PostgreSQL.

usage: python benchmarks/bench_idle.py [--postgres URL] [--idle-seconds 20] [--clicks 30] [--leave-open 1000]
                                       [--runs 1] [--source DIR]

What it does, per database:
1. opens --leave-open approvals with the `leave_open` expiry policy that expired an hour ago
   (posted to a local SlackEmulator): they cannot change until a person acts, so idle they must
   cost nothing;
2. starts the real `slack-hitl serve` (its web process and SLACK_HITL_WORKERS=1 worker, default
   settings otherwise, logging at info) against that database and the emulator, waits until the
   worker runs and has settled, and
   reads the CPU time of serve and its worker from /proc over --idle-seconds: printed as % of a core;
3. --clicks times: opens a one-row approval over the HTTP API with a webhook callback to a
   receiver in this process, clicks Approve as a signed Slack request, and measures from the
   click's start to the callback's arrival: printed as p50 / p90 in ms.

--source runs serve from another checkout of slack_hitl (e.g. `git archive main | tar -x -C DIR`),
for a before/after figure in one run; that checkout also opens the preloaded approvals, so the
database is at its schema (its worker refuses a newer one). Figures are medians over --runs runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_VARIABLE = "BENCH_IDLE_SOURCE"
"""Set for the preload process of --source: slack_hitl is imported from that checkout."""
sys.path.insert(0, os.environ.get(SOURCE_VARIABLE) or str(ROOT))

import httpx  # noqa: E402
import structlog  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from slack_hitl import Engine, Requirement, Store  # noqa: E402
from slack_hitl.slack.client import build_slack_client  # noqa: E402
from slack_hitl.slack.publisher import SlackPublisher  # noqa: E402
from slack_hitl.testing.emulator import BackgroundServer, SlackEmulator  # noqa: E402
from slack_hitl.testing.slack_user import SlackTestUser, find_button  # noqa: E402

SECRET = "bench-idle-signing-secret"
API_TOKEN = "bench-idle-api-token-0123456789"
CHANNEL = "C0IDLE"
TARGETS = {"idle_cpu_percent": 0.5, "p50_ms": 15.0, "p90_ms": 40.0}
TICKS = os.sysconf("SC_CLK_TCK")


class Receiver:
    """Records when each callback arrives (this process's monotonic clock, as the clicks use)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.server = BackgroundServer(Starlette(routes=[Route("/hook", self._hook, methods=["POST"])]))

    async def _hook(self, request: Request) -> Response:
        self.arrivals.append(time.monotonic())
        await request.body()
        return Response("ok")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its children, from /proc."""
    total = 0.0
    for each in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def preload(url: str, slack_url: str, count: int) -> None:
    store = await Store.open(url)
    publisher = SlackPublisher(build_slack_client("xoxb-bench", base_url=slack_url), store, channel=CHANNEL)
    engine = Engine(store, publisher=publisher)
    expired = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for index in range(count):
        await engine.open_approval(
            title=f"left open {index}",
            requirements=[Requirement(id="go", kind="confirmation", title="go?")],
            adapter="webhook",
            expires_at=expired,
            expiry_policy="leave_open",
        )
    await publisher.close()
    await store.close()


def preload_from(source: str, url: str, emulator: SlackEmulator, count: int) -> None:
    """``preload`` by the checkout at ``source``, in a process of its own."""
    command = [sys.executable, __file__, "--preload", url, "--slack-url", emulator.base_url, "--leave-open", str(count)]
    subprocess.run(command, env={**os.environ, SOURCE_VARIABLE: str(Path(source).resolve())}, check=True)


async def measure(url: str, emulator: SlackEmulator, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    if args.source:
        await asyncio.to_thread(preload_from, args.source, url, emulator, args.leave_open)
    else:
        await preload(url, emulator.base_url, args.leave_open)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=emulator.base_url,
        SLACK_HITL_DATABASE_URL=url,
        SLACK_HITL_API_TOKEN=API_TOKEN,
        SLACK_HITL_WORKERS="1",
        SLACK_HITL_LOG_LEVEL="info",
        SLACK_HITL_CALLBACK_ALLOWED_HOSTS="127.0.0.1",  # the callback receiver is this process, on loopback
    )
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())  # noqa: ASYNC240 - before anything runs
    log = (workdir / f"serve-{port}.log").open("wb")
    serve = subprocess.Popen(  # noqa: ASYNC220 - started once, outside what is timed
        [sys.executable, "-m", "slack_hitl.cli", "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    receiver = Receiver()
    receiver.server.start()
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
            for _ in range(200):
                try:
                    if (await api.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            # The worker is up (its imports alone take seconds on a busy machine), then settles.
            for _ in range(600):
                if "background=True" in Path(log.name).read_text(errors="replace"):  # noqa: ASYNC240
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the worker did not start; see {log.name}")
            await asyncio.sleep(3)
            before, started = cpu_seconds(serve.pid), time.monotonic()
            await asyncio.sleep(args.idle_seconds)
            idle = (cpu_seconds(serve.pid) - before) / (time.monotonic() - started) * 100

            latencies = []
            clicker = SlackTestUser(emulator, f"{base}/slack/interactions", SECRET, "U0ALICE", "alice")
            for index in range(args.clicks):
                created = await api.post(
                    "/v1/approvals",
                    json={
                        "channel": CHANNEL,
                        "title": f"click {index}",
                        "requirements": [{"id": "go", "title": "go?", "requires_confirmation": True}],
                        "callback": {"url": f"{receiver.server.url}/hook", "secret": "bench-callback-secret"},
                    },
                )
                created.raise_for_status()
                arrived = len(receiver.arrivals)
                message = emulator.message_payload(CHANNEL, created.json()["message_ts"])
                # The payload is built before the clock starts: what is timed is the request and what follows.
                found, button = find_button([message], button_text="Approve")
                click = clicker._block_actions_payload(CHANNEL, found, button)
                await asyncio.sleep(0.2)  # a person does not click the moment a message appears
                clicked_at = time.monotonic()
                answer = await clicker.send_payload(click)
                answer.raise_for_status()
                deadline = time.monotonic() + 10
                # The receiver runs in a thread of its own: polled finely, so the poll adds < 1 ms.
                while len(receiver.arrivals) == arrived and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.0005)
                if len(receiver.arrivals) == arrived:
                    raise RuntimeError(f"no callback within 10 s; see {log.name}")
                latencies.append((receiver.arrivals[arrived] - clicked_at) * 1000)
        latencies.sort()
        return {
            "idle_cpu_percent": idle,
            "p50_ms": latencies[len(latencies) // 2],
            "p90_ms": latencies[int(len(latencies) * 0.9)],
        }
    finally:
        serve.terminate()
        serve.wait(30)
        receiver.server.stop()
        log.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--leave-open", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--source", default=None, help="run serve from this checkout of slack_hitl instead")
    parser.add_argument("--preload", metavar="DATABASE_URL", help="(internal) only open the approvals, in --source")
    parser.add_argument("--slack-url", help="(internal) the emulator --preload posts to")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.preload:
        await preload(args.preload, args.slack_url, args.leave_open)
        return

    from bench_decide import drop_postgres, fresh_postgres

    backends = [("sqlite", None)] + ([("postgres", args.postgres)] if args.postgres else [])
    print(f"serve + 1 worker, {args.leave_open} expired leave_open approvals, source {args.source or ROOT}")
    for name, base in backends:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp, SlackEmulator() as emulator:
                emulator.add_channel(CHANNEL, "idle")
                url = await fresh_postgres(base) if base else f"sqlite:///{Path(tmp) / 'hitl.db'}"
                try:
                    runs.append(await measure(url, emulator, args, Path(tmp)))
                finally:
                    if base:
                        await drop_postgres(url)
        figures = {key: statistics.median(run[key] for run in runs) for key in TARGETS}
        print(
            f"{name:8} idle CPU {figures['idle_cpu_percent']:.2f}% of a core (target < {TARGETS['idle_cpu_percent']}%)"
            f" | last click -> callback p50 {figures['p50_ms']:.1f} ms (< {TARGETS['p50_ms']:.0f}),"
            f" p90 {figures['p90_ms']:.1f} ms (< {TARGETS['p90_ms']:.0f})"
        )


if __name__ == "__main__":
    asyncio.run(main())
