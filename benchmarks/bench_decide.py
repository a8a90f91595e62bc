"""Row decisions per second and p50/p99 decide latency at 1, 50 and 200 concurrent deciders.

usage: python benchmarks/bench_decide.py [--postgres URL] [--decisions N] [--runs R]

Each decider decides distinct rows of many open approvals through Engine.decide (lookup,
authorization, validation, the CAS write and the decision log), on a fresh SQLite file and,
when given, a PostgreSQL database. Figures are medians over --runs runs. "CPU ms" is this
process's CPU time per decision, resumes included: steadier than latency on a shared machine
(the database server's CPU is not in it for PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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


async def fresh_postgres(base: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"slack_hitl_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username, database=url.database)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    backends = [("sqlite", None)] + ([("postgres", args.postgres)] if args.postgres else [])
    print(
        f"{'backend':<9} {'deciders':>8} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7}   (median of {args.runs} runs)"
    )
    for backend, base in backends:
        for deciders in (1, 50, 200):
            runs = []
            for _ in range(args.runs):
                if base is None:
                    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
                else:
                    url = await fresh_postgres(base)
                runs.append(await one_run(url, deciders, args.decisions))
            rate, p50, p99, cpu = (statistics.median(r[i] for r in runs) for i in range(4))
            print(f"{backend:<9} {deciders:>8} {rate:>12.0f} {p50:>8.2f} {p99:>8.2f} {cpu:>7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
