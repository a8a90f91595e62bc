"""Instructions per decision and per acknowledged click, counted by valgrind's callgrind: a figure
that does not move with the load of a shared machine, for before/after comparisons.

usage: python benchmarks/bench_instructions.py [--what decide|ack|all] [--deciders 1 50] [--postgres URL]
                                               [--extra 1000]

Run it from each checkout to compare (e.g. `git worktree add /tmp/before <commit>`, then
`make setup` there and `.venv/bin/python benchmarks/bench_instructions.py` in both).

- decide: `bench_decide.one_run` (Engine.decide, the group commit, the resumes) under callgrind, once
  with 200 decisions and once with 200 + --extra; the difference over --extra is the cost of one
  decision, without start-up. SQLite, and PostgreSQL with --postgres (this process only: the
  server's instructions are not counted).
- ack: the web process of `bench_interactions.py serve` (as `slack-hitl serve` runs it, with one
  worker outside callgrind) under callgrind, given 100 and then 100 + --extra signed clicks, 10 at a
  time; the difference over --extra is the web process's cost of one click.

Needs valgrind (Debian: apt-get install valgrind). Each figure takes minutes: callgrind runs a
program about 50 times slower.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTED = re.compile(r"Collected : (\d+)")


def callgrind(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def instructions(process: subprocess.Popen[str]) -> int:
    _, err = process.communicate(timeout=3600)
    found = COLLECTED.search(err)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{err[-2000:]}")
    return int(found.group(1))


# -- decide ---------------------------------------------------------------------------------------


def decide_once(deciders: int, decisions: int, postgres: str | None) -> None:
    """The measured program: one bench_decide run (called under callgrind by `decide_cost`)."""
    import structlog

    sys.path.insert(0, str(HERE))
    import bench_decide

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40), cache_logger_on_first_use=True)

    async def run() -> None:
        url = await bench_decide.fresh_postgres(postgres) if postgres else f"sqlite:///{tempfile.mkdtemp()}/b.db"
        try:
            await bench_decide.one_run(url, deciders, decisions)
        finally:
            if postgres:
                await bench_decide.drop_postgres(url)

    asyncio.run(run())


def decide_cost(deciders: int, extra: int, postgres: str | None) -> float:
    counts = []
    for decisions in (200, 200 + extra):
        command = [sys.executable, __file__, "decide-once", str(deciders), str(decisions)]
        counts.append(instructions(callgrind(command + (["--postgres", postgres] if postgres else []))))
    return (counts[1] - counts[0]) / extra


# -- ack ------------------------------------------------------------------------------------------


async def send_clicks(port: int, bodies: list[bytes]) -> None:
    """Post signed clicks to the app, 10 at a time, each answered 2xx."""
    import httpx

    sys.path.insert(0, str(HERE))
    import bench_interactions as bench

    gate = asyncio.Semaphore(10)
    url = f"http://127.0.0.1:{port}/slack/interactions"
    async with httpx.AsyncClient(timeout=300) as client:

        async def one(body: bytes) -> None:
            async with gate:
                headers = bench.form_headers(bench.sign_request(bench.SECRET, body))
                (await client.post(url, content=body, headers=headers)).raise_for_status()

        await asyncio.gather(*(one(body) for body in bodies))


def ack_cost(extra: int) -> float:
    sys.path.insert(0, str(HERE))
    import bench_interactions as bench

    from slack_hitl.testing.emulator import SlackEmulator

    counts = []
    for clicks in (100, 100 + extra):
        with SlackEmulator() as emulator, tempfile.TemporaryDirectory() as workdir:
            emulator.add_channel(bench.CHANNEL, "bench")
            db = f"sqlite:///{workdir}/slack_hitl.db"
            approvals = -(-clicks // bench.ROWS_PER_APPROVAL)
            shown = asyncio.run(bench.open_approvals(db, emulator, approvals, bench.ROWS_PER_APPROVAL))
            port = bench.free_port()
            serve = [sys.executable, bench.__file__, "serve", "--db", db, "--slack", emulator.base_url]
            web = callgrind([*serve, "--port", str(port), "--workers", "1"])
            bench.wait_for_port(port, web, timeout=1800)
            clicked = [row for approval in shown for row in approval.rows][:clicks]
            bodies = [bench.form(bench.click(emulator, row, n)) for n, row in enumerate(clicked)]

            asyncio.run(send_clicks(port, bodies))
            web.send_signal(signal.SIGTERM)
            counts.append(instructions(web))
    return (counts[1] - counts[0]) / extra


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "decide-once":
        postgres = sys.argv[sys.argv.index("--postgres") + 1] if "--postgres" in sys.argv else None
        decide_once(int(sys.argv[2]), int(sys.argv[3]), postgres)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--what", choices=("decide", "ack", "all"), default="all")
    parser.add_argument("--deciders", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--extra", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("this benchmark needs valgrind (Debian, Ubuntu: sudo apt-get install valgrind)")
    if args.what in ("decide", "all"):
        for backend, url in [("sqlite", None)] + ([("postgres", args.postgres)] if args.postgres else []):
            for deciders in args.deciders:
                cost = decide_cost(deciders, args.extra, url)
                print(f"decide  {backend:<9} {deciders:>3} deciders  {cost / 1e6:6.3f} M instructions per decision")
    if args.what in ("ack", "all"):
        print(f"ack     sqlite    web process        {ack_cost(args.extra) / 1e6:6.3f} M instructions per click")


if __name__ == "__main__":
    main()
