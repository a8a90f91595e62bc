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
the same run (median over runs).

The process leaves its start-up objects out of later garbage collections, as ``slack-hitl serve``
does once started (``serving.freeze_startup_objects``); --no-freeze measures without that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

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


async def on_server(base: str, statement: str) -> None:
    """Run ``statement`` on the PostgreSQL server of ``base`` (a URL), outside any transaction."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
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


async def pgbench_floor(url: str, clients: int, seconds: float) -> float:
    """pgbench's tps for the floor's conditional UPDATE on the database at ``url``, ``clients`` at once."""
    import asyncpg
    from sqlalchemy.engine import make_url

    found = make_url(url)
    conn = await asyncpg.connect(
        host=found.host, port=found.port or 5432, user=found.username, password=found.password, database=found.database
    )
    await conn.execute(
        "CREATE TABLE floor_rows (id integer PRIMARY KEY, status text NOT NULL, decided_by text);"
        f"INSERT INTO floor_rows SELECT g, 'pending', NULL FROM generate_series(1, {FLOOR_ROWS}) g;"
    )
    await conn.execute("VACUUM ANALYZE floor_rows")
    await conn.close()
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(FLOOR_UPDATE.format(rows=FLOOR_ROWS))
        script.flush()
        command = [shutil.which("pgbench") or "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2"]
        command += ["-T", str(max(5, round(seconds))), "-f", script.name, "-h", found.host or "127.0.0.1"]
        command += ["-p", str(found.port or 5432), "-U", found.username or "postgres", found.database or "postgres"]
        env = {**os.environ, **({"PGPASSWORD": found.password} if found.password else {})}
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=env, check=True)
    return float(re.search(r"tps = ([0-9.]+)", done.stdout).group(1))  # type: ignore[union-attr]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-freeze", action="store_true", help="collect start-up objects too, unlike serve")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    if not args.no_freeze:
        import slack_hitl.store.postgres  # noqa: F401  # loaded on first use: serve has it by the freeze
        from slack_hitl.service.serving import freeze_startup_objects

        freeze_startup_objects()
    backends = [("sqlite", None)] + ([("postgres", args.postgres)] if args.postgres else [])
    print(
        f"{'backend':<9} {'deciders':>8} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7}"
        f" {'pgbench tps':>12} {'x pgbench':>9}   (median of {args.runs} runs)"
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
                clients = min(deciders, PGBENCH_CLIENTS)
                floor = await pgbench_floor(url, clients, time.perf_counter() - started) if base else 0.0
                if base:
                    await drop_postgres(url)
                runs.append((*figures, floor, figures[0] / floor if floor else 0.0))
            rate, p50, p99, cpu, floor, ratio = (statistics.median(r[i] for r in runs) for i in range(6))
            against = f" {floor:>12.0f} {ratio:>8.2f}x" if base else ""
            print(f"{backend:<9} {deciders:>8} {rate:>12.0f} {p50:>8.2f} {p99:>8.2f} {cpu:>7.2f}{against}")


if __name__ == "__main__":
    asyncio.run(main())
