"""Ack throughput and latency of /slack/interactions against the durable-ack floor, and updates per decided row.

usage: python benchmarks/bench_interactions.py [--approvals 1800] [--duration 8] [--connections 50] [--runs 1]
                                              [--workers 1]

What it does, in one run:
1. starts a SlackEmulator and opens --approvals approvals of 20 confirmation rows each with the
   real engine and publisher (their messages are posted to the emulator): enough rows that every
   click of the run decides a row of its own;
2. writes signed block_actions clicks on those rows, one on each row's Approve button, shaped as
   Slack sends them: the whole message as the emulator shows it (the blocks slack_hitl's renderer
   posted, about 14 kB of JSON for 20 rows), the container, channel, team, user, state,
   trigger_id, response_url and the clicked action (``slack_hitl.testing``'s
   ``block_actions_payload``, the one a ``SlackTestUser`` sends). A wrk Lua script sends each
   once (wrk's two threads take alternate ones): it joins each body from the click's own parts
   and its message, read once from a file of messages, and sends the signature made over that
   whole body here, so every request is distinct and signed without a script of gigabytes;
3. serves benchmarks/floor_app.py (the least a durable ack can do: it too reads, verifies and
   parses these bodies) with uvicorn and drives it with the same clicks and wrk settings
   (-t2 -c50); then serves slack_hitl as `slack-hitl serve` does (its web process under
   uvicorn, uvloop and httptools where installed as for the floor, plus --workers worker
   processes that re-render the messages and resume the runs while the clicks come in) and
   drives it the same way;
4. prints requests/s and p50/p99 ack latency of both, and slack_hitl's as ratios to the floor,
   and how long after the load every message showed its approval's latest state;
5. sends a burst of 30 signed clicks on the 30 rows of a fresh 31-row approval and counts the
   Slack API calls the app made for it until its message shows all 30 decisions.

Needs wrk, a C load generator (installed with apt-get when missing and run as root). The app
logs at WARNING here, as the floor logs nothing. The adapter resumes at once (the benchmark
measures acknowledging decisions, not runs). Figures are medians over --runs runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import structlog  # noqa: E402

from slack_hitl import Done, Engine, Requirement, Store  # noqa: E402
from slack_hitl.service.app import SlackHitl  # noqa: E402
from slack_hitl.service.serving import freeze_startup_objects  # noqa: E402
from slack_hitl.service.settings import Settings, load_settings  # noqa: E402
from slack_hitl.service.workers import until_orphaned  # noqa: E402
from slack_hitl.slack.client import build_slack_client  # noqa: E402
from slack_hitl.slack.publisher import SlackPublisher  # noqa: E402
from slack_hitl.slack.signature import sign_request  # noqa: E402
from slack_hitl.store import SlackMessages  # noqa: E402
from slack_hitl.testing.emulator import JSONDict, SlackEmulator  # noqa: E402
from slack_hitl.testing.slack_user import RenderedButton, block_actions_payload, rendered_buttons  # noqa: E402

FLOOR_APP_DIR = ROOT / "benchmarks"
SECRET = "bench-signing-secret"
CHANNEL = "C0BENCH"
ROWS_PER_APPROVAL = 20
BURST_CLICKS = 30
TARGETS = {"throughput": 0.8, "p99": 1.0, "updates_per_row": 0.5}


class FinishingAdapter:
    """Resumes at once: the benchmark measures acknowledging decisions, not the run."""

    name = "bench"

    async def resume(self, approval: Any, *, idempotency_key: str) -> Any:
        yield Done()


# -- the app under test (runs in its own processes, as `slack-hitl serve` does) -------------------


def quiet_logs() -> None:
    # As `slack-hitl serve` configures structlog, at WARNING: the floor logs nothing either.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )


def app_settings(db_url: str, slack_url: str, workers: int) -> Settings:
    return load_settings(
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SECRET,
        slack_api_url=slack_url,
        database_url=db_url,
        api_token="bench-api-token-0123456789",
        workers=workers,
    )


def serve_with_workers(db_url: str, slack_url: str, port: int, workers: int) -> None:
    """The web process and its workers, as `slack-hitl serve` runs them."""
    command = [sys.executable, __file__, "work", "--db", db_url, "--slack", slack_url]
    started = [subprocess.Popen(command) for _ in range(workers)]
    try:
        run_in_uvloop(serve(db_url, slack_url, port, workers))
    finally:
        for worker in started:
            stop(worker)


async def serve(db_url: str, slack_url: str, port: int, workers: int) -> None:
    import uvicorn

    quiet_logs()
    settings = app_settings(db_url, slack_url, workers)
    hitl = await SlackHitl.connect(settings, adapters=[FinishingAdapter()], role="web" if workers else "all")
    freeze_startup_objects()
    config = uvicorn.Config(
        hitl.app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=False
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await hitl.close()


async def work(db_url: str, slack_url: str) -> None:
    """A worker process: as `slack-hitl worker` runs it, with the benchmark's adapter."""
    quiet_logs()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    settings = app_settings(db_url, slack_url, workers=1)
    parent = os.getppid()
    async with SlackHitl.from_settings(settings, adapters=[FinishingAdapter()], role="worker"):
        freeze_startup_objects()
        orphaned = asyncio.create_task(until_orphaned(parent))
        await asyncio.wait([orphaned, asyncio.create_task(stopped.wait())], return_when=asyncio.FIRST_COMPLETED)
        orphaned.cancel()


def run_in_uvloop(main: Any) -> None:
    try:
        import uvloop  # as `uvicorn` picks it for the floor (loop="auto")

        uvloop.run(main)
    except ImportError:
        asyncio.run(main)


# -- seeding --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approve:
    """A row's Approve button, and the message (one part of its approval's) that shows it."""

    message: JSONDict
    button: RenderedButton


@dataclass(frozen=True)
class Shown:
    approval_id: str
    rows: tuple[Approve, ...]

    @property
    def message_ts(self) -> set[str]:
        return {row.message["ts"] for row in self.rows}


async def open_approvals(db_url: str, emulator: SlackEmulator, count: int, rows: int) -> list[Shown]:
    store = await Store.open(db_url)
    publisher = SlackPublisher(build_slack_client("xoxb-bench", base_url=emulator.base_url), store, channel=CHANNEL)
    engine = Engine(store, adapters=[FinishingAdapter()], publisher=publisher)
    gate = asyncio.Semaphore(16)

    async def open_one(number: int) -> str:
        requirements = [
            Requirement(id=f"call_{number}_{i}", kind="confirmation", title=f"tool call {i}", arguments={"n": i})
            for i in range(rows)
        ]
        async with gate:
            opened = await engine.open_approval(title=f"Run {number}", requirements=requirements, adapter="bench")
        return opened.id

    approval_ids = await asyncio.gather(*(open_one(n) for n in range(count)))
    await publisher.drain()
    shown = [await shown_in_slack(store, emulator, approval_id) for approval_id in approval_ids]
    await store.close()
    return shown


async def shown_in_slack(store: Store, emulator: SlackEmulator, approval_id: str) -> Shown:
    """The approval's rows as the emulator shows them: each row's Approve button on its message part."""
    parts = await SlackMessages(store).parts(approval_id)
    assert parts, "the approval was not posted"
    approves = []
    for part in parts:
        message = emulator.message_payload(CHANNEL, part.ts)
        approves += [Approve(message, b) for b in rendered_buttons(message) if b.text == "Approve"]
    return Shown(approval_id, tuple(approves))


def click(emulator: SlackEmulator, row: Approve, number: int) -> JSONDict:
    """The block_actions payload Slack sends when person ``number`` (of 50) clicks ``row``'s Approve."""
    user = {"id": f"U{number % 50:04d}", "username": f"user{number % 50}", "name": f"user{number % 50}"}
    return block_actions_payload(emulator, {**user, "team_id": emulator.team_id}, CHANNEL, row.message, row.button)


def payload_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # compact, as Slack sends it


def form(payload: JSONDict) -> bytes:
    return urlencode({"payload": payload_json(payload)}).encode()


# -- wrk ------------------------------------------------------------------------------------------


MESSAGE_MARK = "@message@"


def write_clicks(workdir: Path, payloads: list[JSONDict], threads: int, url_path: str = "/slack/interactions") -> Path:
    """A wrk Lua script posting each of ``payloads`` once, signed now; wrk's threads take alternate ones.

    A body is ``head + message + tail``: the form-encoded payload up to the message, the message
    (shared by the clicks on it, so written once to messages.txt), and the rest (clicks.txt, with
    the signature over the whole body). Form encoding encodes character by character, so the
    joined body is exactly ``form(payload)``.
    """
    messages: dict[str, int] = {}
    mark = quote_plus(payload_json(MESSAGE_MARK)).encode()
    with open(workdir / "messages.txt", "wb") as message_lines, open(workdir / "clicks.txt", "wb") as click_lines:
        encoded: list[bytes] = []
        for payload in payloads:
            ts = payload["message"]["ts"]
            if ts not in messages:
                messages[ts] = len(encoded)
                encoded.append(quote_plus(payload_json(payload["message"])).encode())
                message_lines.write(encoded[-1] + b"\n")
            head, tail = form({**payload, "message": MESSAGE_MARK}).split(mark)
            body = head + encoded[messages[ts]] + tail
            headers = sign_request(SECRET, body)
            stamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
            click_lines.write(f"{messages[ts] + 1} {stamp} {signature} ".encode() + head + b" " + tail + b"\n")
    assert body == form(payload), "a joined body differs from the payload's form encoding"
    script = workdir / "clicks.lua"
    script.write_text(
        f"""
local messages, clicks = {{}}, {{}}
function init(args)
  for line in io.lines("{workdir / "messages.txt"}") do messages[#messages + 1] = line end
  for line in io.lines("{workdir / "clicks.txt"}") do
    local message, stamp, signature, head, tail = line:match("^(%d+) (%d+) (%S+) (%S+) (%S+)$")
    clicks[#clicks + 1] = {{head, messages[tonumber(message)], tail, stamp, signature}}
  end
end
local next_thread = 0
function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end
local sent = 0
request = function()
  local c = clicks[((thread_number + sent * {threads}) % #clicks) + 1]
  sent = sent + 1
  return wrk.format("POST", "{url_path}", {{
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Slack-Request-Timestamp"] = c[4],
    ["X-Slack-Signature"] = c[5],
  }}, c[1] .. c[2] .. c[3])
end
"""
    )
    return script


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: str


def require_wrk() -> None:
    """wrk, installed from the distribution's packages when missing and we may; else a clear exit."""
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install wrk)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk, a C load generator: install it (Debian, Ubuntu: sudo apt-get install wrk)")


def run_wrk(url: str, script: Path, *, threads: int, connections: int, duration: int) -> Load:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = "; ".join(line.strip() for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line)
    return Load(rate, _latency(output, "50%"), _latency(output, "99%"), total, errors)


def _latency(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# -- processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_floor(workdir: Path, keys: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """The floor, with a pending row for each of ``keys`` (the values of the buttons clicked)."""
    port = free_port()
    (workdir / "floor_keys.txt").write_text("\n".join(keys))
    env = {
        **os.environ,
        "FLOOR_DB": str(workdir / "floor.db"),
        "FLOOR_SECRET": SECRET,
        "FLOOR_KEYS": str(workdir / "floor_keys.txt"),
    }
    command = [
        sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(FLOOR_APP_DIR),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    wait_for_port(port, process)
    return process, port


def start_app(db_url: str, slack_url: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, __file__, "serve", "--db", db_url, "--slack", slack_url, "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command)
    wait_for_port(port, process)
    return process, port


# -- the burst --------------------------------------------------------------------------------------


async def burst(db_url: str, emulator: SlackEmulator, port: int) -> dict[str, Any]:
    """30 clicks at once on a fresh approval; Slack calls the app made for it until it shows them all."""
    (shown,) = await open_approvals(db_url, emulator, 1, BURST_CLICKS + 1)
    store = await Store.open(db_url)
    parts = shown.message_ts
    before = len(emulator.calls)
    bodies = [form(click(emulator, row, n)) for n, row in enumerate(shown.rows[:BURST_CLICKS])]
    url = f"http://127.0.0.1:{port}/slack/interactions"
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post(url, content=body, headers=form_headers(sign_request(SECRET, body))) for body in bodies)
        )
    assert all(answer.status_code == 200 for answer in answers), [a.status_code for a in answers]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        approval = await store.get(shown.approval_id)
        if approval.decided_count == BURST_CLICKS and shown.approval_id not in await SlackMessages(store).out_of_date():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # let a last pass land, if any
    decided = (await store.get(shown.approval_id)).decided_count
    await store.close()
    calls = emulator.calls[before:]
    updates = [c for c in calls if c.method == "chat.update" and str(c.params.get("ts")) in parts]
    return {
        "decided": decided,
        "chat_update": len(updates),
        "all_calls": len([c for c in calls if _about(c.params, parts)]),
        "parts": len(parts),
    }


def _about(params: dict[str, Any], message_ts: set[str]) -> bool:
    """Whether a Web API call concerns one of these messages (an update, a reply, a status, an ephemeral)."""
    return any(str(params.get(key)) in message_ts for key in ("ts", "thread_ts", "message_ts"))


def form_headers(signed: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded", **signed}


# -- the run ----------------------------------------------------------------------------------------


async def settle_after_load(db_url: str, timeout: float = 300) -> tuple[int, float]:
    """Rows decided, and seconds until every message showed its approval's latest state."""
    store = await Store.open(db_url)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not await SlackMessages(store).out_of_date(limit=1):
            break
        await asyncio.sleep(0.2)
    caught_up = time.monotonic() - started
    decided = 0
    for approval_id in await store.approval_ids():
        decided += (await store.get(approval_id)).decided_count
    await store.close()
    return decided, caught_up


def one_run(args: argparse.Namespace, emulator: SlackEmulator, workdir: Path) -> dict[str, Any]:
    db_url = f"sqlite:///{workdir / 'slack_hitl.db'}"
    started = time.monotonic()
    shown = asyncio.run(open_approvals(db_url, emulator, args.approvals, ROWS_PER_APPROVAL))
    print(
        f"opened {len(shown)} approvals ({len(shown) * ROWS_PER_APPROVAL} rows) in {time.monotonic() - started:.1f} s"
    )

    payloads = [
        click(emulator, row, n * ROWS_PER_APPROVAL + i)
        for n, approval in enumerate(shown)
        for i, row in enumerate(approval.rows)
    ]
    clicks = write_clicks(workdir, payloads, args.threads)
    floor, port = start_floor(workdir, [payload["actions"][0]["value"] for payload in payloads])
    try:
        floor_load = run_wrk(f"http://127.0.0.1:{port}/slack/interactions", clicks, **wrk_settings(args))
    finally:
        stop(floor)

    app, port = start_app(db_url, emulator.base_url, args.workers)
    try:
        calls_before = len(emulator.calls_to("chat.update"))
        app_load = run_wrk(f"http://127.0.0.1:{port}/slack/interactions", clicks, **wrk_settings(args))
        print(  # at once: the rest of the run waits for every message to be re-rendered
            f"floor {floor_load.requests_per_second:.0f}/s p99 {floor_load.p99_ms:.1f} ms, "
            f"slack_hitl {app_load.requests_per_second:.0f}/s p99 {app_load.p99_ms:.1f} ms: "
            f"{app_load.requests_per_second / floor_load.requests_per_second:.2f}x, "
            f"{app_load.p99_ms / floor_load.p99_ms:.2f}x",
            flush=True,
        )
        decided, caught_up = asyncio.run(settle_after_load(db_url))
        updates_under_load = len(emulator.calls_to("chat.update")) - calls_before
        burst_result = asyncio.run(burst(db_url, emulator, port))
    finally:
        stop(app)
    return {
        "floor": floor_load,
        "app": app_load,
        "decided": decided,
        "rows": len(payloads),
        "body_bytes": len(form(payloads[0])),
        "caught_up": caught_up,
        "updates_under_load": updates_under_load,
        "burst": burst_result,
    }


def wrk_settings(args: argparse.Namespace) -> dict[str, int]:
    return {"threads": args.threads, "connections": args.connections, "duration": args.duration}


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    def median(pick: Any) -> float:
        return statistics.median(pick(run) for run in runs)

    floor_rps, app_rps = (
        median(lambda r: r["floor"].requests_per_second),
        median(lambda r: r["app"].requests_per_second),
    )
    floor_p50, app_p50 = median(lambda r: r["floor"].p50_ms), median(lambda r: r["app"].p50_ms)
    floor_p99, app_p99 = median(lambda r: r["floor"].p99_ms), median(lambda r: r["app"].p99_ms)
    burst_updates = median(lambda r: r["burst"]["chat_update"]) / BURST_CLICKS
    burst_calls = median(lambda r: r["burst"]["all_calls"]) / BURST_CLICKS
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s, signed block_actions clicks carrying "
        f"their {ROWS_PER_APPROVAL}-row message ({runs[0]['body_bytes'] / 1000:.0f} kB bodies), {len(runs)} run(s)"
    )
    print(f"{'':<22}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'floor (durable ack)':<22}{floor_rps:>12.0f}{floor_p50:>10.1f}{floor_p99:>10.1f}")
    print(f"{'slack_hitl':<22}{app_rps:>12.0f}{app_p50:>10.1f}{app_p99:>10.1f}")
    throughput, p99 = app_rps / floor_rps, app_p99 / floor_p99
    print(f"{'slack_hitl / floor':<22}{throughput:>11.2f}x{app_p50 / floor_p50:>9.2f}x{p99:>9.2f}x")
    for run in runs:
        load = run["app"]
        print(
            f"  run: {load.requests} clicks sent ({run['floor'].requests} to the floor), {run['decided']} rows decided "
            f"({run['rows']} rows open; clicks beyond that repeat earlier ones), "
            f"{run['updates_under_load']} chat.update, every message true {run['caught_up']:.1f} s after the load"
            + (f"; wrk: {load.errors}" if load.errors else "")
            + (f"; floor wrk: {run['floor'].errors}" if run["floor"].errors else "")
        )
    print(
        f"burst of {BURST_CLICKS} clicks on one approval ({runs[0]['burst']['parts']} message parts): "
        f"{burst_updates:.2f} chat.update per decided row, {burst_calls:.2f} Slack API calls per decided row"
    )
    checks = [
        (f"throughput >= {TARGETS['throughput']}x floor", throughput >= TARGETS["throughput"]),
        (f"p99 <= {TARGETS['p99']}x floor", p99 <= TARGETS["p99"]),
        ("chat.update per decided row < 0.5", burst_updates < TARGETS["updates_per_row"]),
    ]
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode")
    served = sub.add_parser("serve", help="(internal) serve the app under test")
    served.add_argument("--db", required=True)
    served.add_argument("--slack", required=True)
    served.add_argument("--port", type=int, required=True)
    served.add_argument("--workers", type=int, required=True)
    worked = sub.add_parser("work", help="(internal) a worker process of the app under test")
    worked.add_argument("--db", required=True)
    worked.add_argument("--slack", required=True)
    parser.add_argument(
        "--approvals",
        type=int,
        default=1800,
        help="approvals of 20 rows to click (1,800: 36,000 rows, more than 8 s of clicks decide)",
    )
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes beside the web process (SLACK_HITL_WORKERS)"
    )
    args = parser.parse_args()
    if args.mode == "serve":
        serve_with_workers(args.db, args.slack, args.port, args.workers)
        return
    if args.mode == "work":
        run_in_uvloop(work(args.db, args.slack))
        return
    require_wrk()
    quiet_logs()
    runs = []
    with SlackEmulator() as emulator:
        emulator.add_channel(CHANNEL, "bench")
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="slack_hitl_bench_") as workdir:
                runs.append(one_run(args, emulator, Path(workdir)))
    report(runs, args)


if __name__ == "__main__":
    main()
