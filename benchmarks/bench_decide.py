"""Row decisions per second and p50/p99 decide latency at 1, 50 and 200 concurrent deciders.

usage: python benchmarks/bench_decide.py [--postgres URL] [--decisions N] [--runs R] [--no-freeze]

Each decider decides distinct rows of many open approvals through Engine.decide (lookup,
authorization, validation, the CAS write and the decision log), on a fresh SQLite file and,
when given, a PostgreSQL database. Figures are medians over --runs runs. "CPU ms" is this
process's CPU time per decision, resumes included: steadier than latency on a shared machine
(the database server's CPU is not in it for PostgreSQL).

On PostgreSQL, each run also measures the database's own floor right after slack_hitl, on the
same server: pgbench with as many clients as deciders (at most 50), each transaction the floor's one
conditional UPDATE of a row of its own (prepared, as asyncpg prepares slack_hitl's), for as
long as slack_hitl's run took. "x pgbench" is slack_hitl's decisions/s over pgbench's tps in
the same run (median over runs). Then the same UPDATE is sent from this process, by as many asyncio
tasks on asyncpg connections: "x asyncpg" is slack_hitl's rate over that one, the part of what
Python and asyncpg can do at all that slack_hitl's own work leaves.

The process leaves its start-up objects out of later garbage collections, as ``slack-hitl serve``
does once started (``serving.freeze_startup_objects``); --no-freeze measures without that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from typing import Any

import structlog

from slack_hitl import Actor, DecisionInput, Done, Engine, Requirement, Store

ROWS_PER_APPROVAL = 10


class FinishingAdapter:
    """Resumes at once: the benchmark measures deciding, not the run."""

    name = "bench"

    async def resume(self, approval, *, idempotency_key):
        yield Done()


async def one_run(url: str, deciders: int, decisions: int) -> tuple[float, float, float, float]:
    store = await Store.open(url)
    engine = Engine(store, adapters=[FinishingAdapter()])
    approvals = []
    for _ in range(decisions // ROWS_PER_APPROVAL):
        rows = [Requirement(id=f"r{i}", kind="confirmation", title=f"tool {i}") for i in range(ROWS_PER_APPROVAL)]
        approvals.append((await engine.open_approval(title="bench", requirements=rows, adapter="bench")).id)
    # Approval by approval, as people work through messages: the deciders share a few approvals
    # at a time, and resumes are spread over the run instead of all landing at its end.
    work = [(a, f"r{i}") for a in approvals for i in range(ROWS_PER_APPROVAL)]
    latencies: list[float] = []
    answer = DecisionInput(choices=("approve",))

    async def decider(n: int) -> None:
        actor = Actor(id=f"U{n}", name=f"user{n}")
        for approval_id, row_id in work[n::deciders]:
            started = time.perf_counter()
            await engine.decide(approval_id, row_id, answer, actor)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    cpu_started = time.process_time()
    await asyncio.gather(*(decider(n) for n in range(deciders)))
    await engine.drain()  # the resumes the decisions started are part of their cost
    cpu = time.process_time() - cpu_started
    elapsed = time.perf_counter() - started
    await store.close()
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000
    return len(latencies) / elapsed, p50, p99, cpu / len(latencies) * 1000


async def connect(url: str) -> Any:
    import asyncpg
    from sqlalchemy.engine import make_url

    found = make_url(url)
    return await asyncpg.connect(
        host=found.host, port=found.port or 5432, user=found.username, password=found.password, database=found.database
    )


async def on_server(base: str, statement: str) -> None:
    """Run ``statement`` on the PostgreSQL server of ``base`` (a URL), outside any transaction."""
    conn = await connect(base)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def fresh_postgres(base: str) -> str:
    """A new database on the server of ``base``; ``drop_postgres`` drops it."""
    from sqlalchemy.engine import make_url

    name = f"slack_hitl_bench_{uuid.uuid4().hex[:8]}"
    await on_server(base, f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


async def drop_postgres(url: str) -> None:
    """Drop a database ``fresh_postgres`` made, whoever is still connected to it."""
    from sqlalchemy.engine import make_url

    found = make_url(url)
    await on_server(
        found.set(database="postgres").render_as_string(hide_password=False),
        f'DROP DATABASE IF EXISTS "{found.database}" WITH (FORCE)',
    )


FLOOR_ROWS = 1_000_000
PGBENCH_CLIENTS = 50
"""pgbench's clients are connections, and the server allows 100 by default: 200 deciders are
compared with 50 clients (slack_hitl's pool holds at most 30 connections)."""
FLOOR_UPDATE = """\\set id random(1, {rows})
UPDATE floor_rows SET status = 'approved', decided_by = 'U1' WHERE id = :id AND status = 'pending';
"""


async def floor_table(url: str, name: str) -> None:
    """A table of FLOOR_ROWS pending rows for the floor's UPDATE."""
    conn = await connect(url)
    try:
        await conn.execute(
            f"CREATE TABLE {name} (id integer PRIMARY KEY, status text NOT NULL, decided_by text);"
            f"INSERT INTO {name} SELECT g, 'pending', NULL FROM generate_series(1, {FLOOR_ROWS}) g;"
        )
        await conn.execute(f"VACUUM ANALYZE {name}")
    finally:
        await conn.close()


async def pgbench_floor(url: str, clients: int, seconds: float) -> float:
    """pgbench's tps for the floor's conditional UPDATE on the database at ``url``, ``clients`` at once."""
    from sqlalchemy.engine import make_url

    found = make_url(url)
    await floor_table(url, "floor_rows")
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(FLOOR_UPDATE.format(rows=FLOOR_ROWS))
        script.flush()
        command = [shutil.which("pgbench") or "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2"]
        command += ["-T", str(max(5, round(seconds))), "-f", script.name, "-h", found.host or "127.0.0.1"]
        command += ["-p", str(found.port or 5432), "-U", found.username or "postgres", found.database or "postgres"]
        env = {**os.environ, **({"PGPASSWORD": found.password} if found.password else {})}
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=env, check=True)
    return float(re.search(r"tps = ([0-9.]+)", done.stdout).group(1))  # type: ignore[union-attr]


async def asyncpg_floor(url: str, clients: int, seconds: float) -> float:
    """The same UPDATE sent by this Python process: ``clients`` tasks, each on an asyncpg connection of
    its own (the statement prepared once, as asyncpg prepares slack_hitl's), for ``seconds``. What one
    process on asyncio and asyncpg does before any work of slack_hitl's: updates per second."""
    await floor_table(url, "floor_rows_python")
    conns = [await connect(url) for _ in range(clients)]
    update = "UPDATE floor_rows_python SET status = 'approved', decided_by = 'U1' WHERE id = $1 AND status = 'pending'"
    done = 0
    ends = time.perf_counter() + max(5.0, seconds)

    async def client(conn: Any, ids: random.Random) -> None:
        nonlocal done
        while time.perf_counter() < ends:
            await conn.execute(update, ids.randint(1, FLOOR_ROWS))
            done += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(conn, random.Random(n)) for n, conn in enumerate(conns)))
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))
    return done / (time.perf_counter() - started)


async def started_as_serve_is() -> None:
    """Freeze what start-up made, as serve does once its store is open (the migrations run, their
    modules loaded): a store is opened first, on a scratch file."""
    import slack_hitl.store.postgres  # noqa: F401  # loaded when serve opens a PostgreSQL store
    from slack_hitl.service.serving import freeze_startup_objects

    await (await Store.open(f"sqlite:///{tempfile.mkdtemp()}/start.db")).close()
    freeze_startup_objects()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--decisions", type=int, default=10_000, help="long enough for full collections to come")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-freeze", action="store_true", help="collect start-up objects too, unlike serve")
    args = parser.parse_args()
    # As serve configures it: a module's logger is bound once, not at every call.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40), cache_logger_on_first_use=True)
    if not args.no_freeze:
        await started_as_serve_is()
    backends = [("sqlite", None)] + ([("postgres", args.postgres)] if args.postgres else [])
    print(
        f"{'backend':<9} {'deciders':>8} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7}"
        f" {'pgbench tps':>12} {'x pgbench':>9} {'asyncpg/s':>10} {'x asyncpg':>9}   (median of {args.runs} runs)"
    )
    for backend, base in backends:
        for deciders in (1, 50, 200):
            runs = []
            for _ in range(args.runs):
                if base is None:
                    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
                else:
                    url = await fresh_postgres(base)
                started = time.perf_counter()
                figures = await one_run(url, deciders, args.decisions)
                clients, took = min(deciders, PGBENCH_CLIENTS), time.perf_counter() - started
                floor = python = 0.0
                if base:
                    floor = await pgbench_floor(url, clients, took)
                    python = await asyncpg_floor(url, clients, took)
                    await drop_postgres(url)
                runs.append((*figures, floor, figures[0] / (floor or 1), python, figures[0] / (python or 1)))
            rate, p50, p99, cpu, floor, ratio, python, to_python = (
                statistics.median(r[i] for r in runs) for i in range(8)
            )
            against = f" {floor:>12.0f} {ratio:>8.2f}x {python:>10.0f} {to_python:>8.2f}x" if base else ""
            print(f"{backend:<9} {deciders:>8} {rate:>12.0f} {p50:>8.2f} {p99:>8.2f} {cpu:>7.2f}{against}")


if __name__ == "__main__":
    asyncio.run(main())
