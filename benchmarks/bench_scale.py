"""Scale: the ack, the worker's queries and GET /v1/approvals on an empty database and on one holding
50,000 finished approvals (1,000,000 rows and their log), the plans of those queries, and the web
process's memory over 100,000 clicks.

usage: python benchmarks/bench_scale.py [--approvals 50000] [--open 500] [--duration 5]
                                        [--clicks 100000] [--repeat 200] [--runs 1] [--postgres URL]

For SQLite (a file) and, with --postgres, PostgreSQL (a fresh database made in that server for each
phase, dropped after), in one run:
1. empty: opens --open approvals of 20 confirmation rows with the real engine and publisher (their
   messages posted to a SlackEmulator), times each of the worker's queries (the claim of due
   resumes, next_due, the re-render sweep, due_for_expiry, due_reminders, due_escalations, expired
   leases, the operator figures of /metrics: median of --repeat calls through the store), serves the
   app as bench_interactions.py does (its web process plus one worker) and times GET /v1/approvals
   (the first page, ?status=pending, ?status=approved: median of --repeat / 10), then drives signed
   clicks on those rows with wrk (-t2 -c50 -d --duration) as bench_interactions.py does;
2. seeded: in a fresh database, bulk-inserts --approvals finished approvals of 20 decided rows each
   with their decision log and Slack messages, copies of approvals the real engine opened, decided,
   resumed and finished at start-up (approved, rejected, completed; one in four with reminders, an
   escalation and an expiry), so every value is one the store writes; PostgreSQL is then ANALYZEd
   (as its autovacuum would soon do). Then it opens --open approvals as in 1. and measures the same,
   and prints each query's plan (EXPLAIN QUERY PLAN / EXPLAIN), flagging full scans of approvals,
   rows or the log and sorts of every match;
3. memory: opens --clicks / 80 more approvals (--clicks / 4 rows) and sends --clicks signed clicks
   in ten rounds, each of new rows and then the same rows again from three other people (a quarter
   of the clicks decide a row, the rest are refused as decided already), sampling the web
   process's RSS before the first round and after each.

Prints each figure with its seeded/empty ratio (medians over --runs runs) and the RSS samples with
their growth. Needs wrk, as bench_interactions.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_interactions as bench  # noqa: E402
import httpx  # noqa: E402
from bench_decide import on_server  # noqa: E402
from sqlalchemy import event, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from slack_hitl import Actor, DecisionInput, Engine, Requirement, Store  # noqa: E402
from slack_hitl.approvals import Reminders  # noqa: E402
from slack_hitl.requirements import Deciders  # noqa: E402
from slack_hitl.slack.client import build_slack_client  # noqa: E402
from slack_hitl.slack.publisher import SlackPublisher  # noqa: E402
from slack_hitl.store import SlackMessages  # noqa: E402
from slack_hitl.store.database import SqlAlchemyDatabase  # noqa: E402
from slack_hitl.store.schema import APPROVAL_ROWS, APPROVALS, DECISION_LOG  # noqa: E402
from slack_hitl.store.slack_messages import MSG  # noqa: E402
from slack_hitl.testing.emulator import SlackEmulator  # noqa: E402

ROWS = bench.ROWS_PER_APPROVAL
MAX_ATTEMPTS = 3
"""The engine's default: what a worker's claim and next_due ask with."""
SEED_CHUNK = 500
"""Approvals inserted per statement batch while seeding."""
MEMORY_ROUNDS = 10
REPEATS = 3
"""Clicks on a decided row per click that decides one, in the memory rounds."""
API_HEADERS = {"Authorization": "Bearer bench-api-token-0123456789"}
SCANNED = ("approvals", "approval_rows", "decision_log")
EMPTY_FINISHED = 100
"""Finished approvals in the "empty" database: a page of ?status=approved (half are approved) to compare."""
USERS = 50
"""The people who click (bench_interactions' U0000 to U0049), members of the workspace."""


# -- seeding ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One finished approval as the store wrote it: its record, rows, log and message parts."""

    approval: dict[str, Any]
    rows: list[dict[str, Any]]
    log: list[dict[str, Any]]
    messages: list[dict[str, Any]]


async def finished_templates(emulator: SlackEmulator, workdir: Path) -> list[Template]:
    """Approvals of 20 rows that the real engine opened, posted, decided, resumed and finished."""
    store = await Store.open(f"sqlite:///{workdir / 'templates.db'}")
    publisher = SlackPublisher(
        build_slack_client("xoxb-bench", base_url=emulator.base_url), store, channel=bench.CHANNEL
    )
    engine = Engine(store, adapters=[bench.FinishingAdapter()], publisher=publisher)
    policies = Reminders(every_seconds=3600, escalate_after_seconds=86400, escalate_to=Deciders(user_ids=("U0LEAD",)))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    shapes = [  # (choices of the rows, with policies)
        (["approve"] * ROWS, True),
        (["reject"] * ROWS, False),
        (["approve", "reject"] * (ROWS // 2), False),
        (["approve"] * ROWS, False),
    ]
    ids = []
    for number, (choices, with_policies) in enumerate(shapes):
        requirements = [
            Requirement(id=f"call_{i}", kind="confirmation", title=f"tool call {i}", arguments={"n": i})
            for i in range(ROWS)
        ]
        extra: dict[str, Any] = {"reminders": policies, "expires_at": later} if with_policies else {}
        opened = await engine.open_approval(title=f"Run {number}", requirements=requirements, adapter="bench", **extra)
        for i, choice in enumerate(choices):
            reason = "not this one" if choice == "reject" else None
            actor = Actor(id=f"U{i % 7:04d}", name=f"user{i % 7}")
            await engine.decide(opened.id, f"call_{i}", DecisionInput(choices=(choice,), reason=reason), actor)
        await engine.wait_until_final(opened.id, timeout=30)
        ids.append(opened.id)
    await publisher.drain()
    async with store.engine.connect() as conn:

        async def of(table: Any, approval_id: str) -> list[dict[str, Any]]:
            found = await conn.execute(select(table).where(table.c.approval_id == approval_id))
            return [dict(row) for row in found.mappings()]

        templates = []
        for approval_id in ids:
            (approval,) = (await conn.execute(select(APPROVALS).where(APPROVALS.c.id == approval_id))).mappings()
            log = [{k: v for k, v in entry.items() if k != "id"} for entry in await of(DECISION_LOG, approval_id)]
            templates.append(
                Template(dict(approval), await of(APPROVAL_ROWS, approval_id), log, await of(MSG, approval_id))
            )
    await store.close()
    return templates


def copies(templates: list[Template], count: int, now: dt.datetime) -> Iterator[list[tuple[Any, list[Any]]]]:
    """Chunks of (table, records) for ``count`` copies of the templates, one a minute until an hour
    ago, each with an id, times and a message of its own."""
    for start in range(0, count, SEED_CHUNK):
        approvals, rows, log, messages = [], [], [], []
        for number in range(start, min(start + SEED_CHUNK, count)):
            template = templates[number % len(templates)]
            opened = now - dt.timedelta(hours=1, minutes=count - number)
            shift = opened - template.approval["created_at"]
            approval_id = uuid.uuid4().hex
            ts = f"{1600000000 + number}.{number % 1_000_000:06d}"
            approvals.append(
                _shifted(template.approval, shift)
                | {"id": approval_id, "message_ts": ts, "request_fingerprint": uuid.uuid4().hex * 2}
            )
            rows += [_shifted(row, shift) | {"approval_id": approval_id} for row in template.rows]
            log += [_shifted(entry, shift) | {"approval_id": approval_id} for entry in template.log]
            messages += [message | {"approval_id": approval_id, "ts": ts} for message in template.messages]
        yield [(APPROVALS, approvals), (APPROVAL_ROWS, rows), (DECISION_LOG, log), (MSG, messages)]


def _shifted(record: dict[str, Any], shift: dt.timedelta) -> dict[str, Any]:
    return {key: value + shift if isinstance(value, dt.datetime) else value for key, value in record.items()}


async def seed(url: str, templates: list[Template], count: int) -> float:
    """Insert ``count`` finished approvals (through the store's tables); the seconds it took."""
    started = time.monotonic()
    store = await Store.open(url)
    async with store.write() as conn:
        for chunk in copies(templates, count, dt.datetime.now(dt.UTC)):
            for table, records in chunk:
                await conn.execute(insert(table), records)
    if store.engine.dialect.name == "postgresql":
        async with store.engine.connect() as conn:
            await conn.execute(text("COMMIT"))  # ANALYZE runs outside a transaction block as well
            await conn.execute(text("ANALYZE"))
    await store.close()
    return time.monotonic() - started


# -- databases --------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(postgres: str | None, workdir: Path, name: str) -> Iterator[str]:
    """A new SQLite file in ``workdir``, or a new database in the PostgreSQL server (dropped after)."""
    if postgres is None:
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    database = f"slack_hitl_scale_{uuid.uuid4().hex[:8]}"
    asyncio.run(on_server(postgres, f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(postgres).set(database=database).render_as_string(hide_password=False)
    finally:
        asyncio.run(on_server(postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


# -- the worker's queries -----------------------------------------------------------------------------

Query = Callable[[Store, SlackMessages], Awaitable[Any]]
WORKER_QUERIES: dict[str, Query] = {
    "claim of due resumes": lambda store, _: store.claim_due_resumes(max_attempts=MAX_ATTEMPTS),
    "next_due": lambda store, _: store.next_due(max_attempts=MAX_ATTEMPTS),
    "re-render sweep (out_of_date)": lambda _, messages: messages.out_of_date(limit=1000),
    "due_for_expiry": lambda store, _: store.due_for_expiry(),
    "due_reminders": lambda store, _: store.due_reminders(),
    "due_escalations": lambda store, _: store.due_escalations(),
    "expired leases": lambda store, _: store.take_over_expired_leases(),
    "operator figures (/metrics)": lambda store, _: store.operator_figures(max_attempts=MAX_ATTEMPTS),
}
LISTINGS: dict[str, Query] = {
    "GET /v1/approvals": lambda store, _: store.list_approvals(limit=50),
    "GET /v1/approvals?status=pending": lambda store, _: store.list_approvals(status="pending", limit=50),
    "GET /v1/approvals?status=approved": lambda store, _: store.list_approvals(status="approved", limit=50),
}


async def time_queries(url: str, repeat: int) -> dict[str, float]:
    """Median seconds of each worker query, called ``repeat`` times through the store."""
    store = await Store.open(url)
    messages = SlackMessages(store)
    medians = {}
    for name, query in WORKER_QUERIES.items():
        await query(store, messages)  # statements prepared, caches warm
        took = []
        for _ in range(repeat):
            started = time.perf_counter()
            await query(store, messages)
            took.append(time.perf_counter() - started)
        medians[name] = statistics.median(took)
    await store.close()
    return medians


async def time_listings(port: int, repeat: int) -> dict[str, float]:
    """Median seconds of each GET /v1/approvals, asked ``repeat`` times of the served app."""
    paths = {name: name.removeprefix("GET ") for name in LISTINGS}
    medians = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=API_HEADERS, timeout=60) as client:
        for name, path in paths.items():
            (await client.get(path)).raise_for_status()
            took = []
            for _ in range(repeat):
                started = time.perf_counter()
                (await client.get(path)).raise_for_status()
                took.append(time.perf_counter() - started)
            medians[name] = statistics.median(took)
    return medians


@dataclass
class Plan:
    statement: str
    lines: list[str]
    scans: list[str] = field(default_factory=list)


async def explain_queries(url: str) -> dict[str, list[Plan]]:
    """The plan of every statement each query runs (as the store runs it, with its parameters)."""
    store = await Store.open(url)
    sqlite = store.engine.dialect.name == "sqlite"
    # Through SQLAlchemy's connections (the SQLite file path runs its own), where a hook sees each statement.
    store.database = SqlAlchemyDatabase(store.engine)
    plans: list[Plan] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if executemany or not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH", "DELETE")):
            return
        cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
        found = cursor.fetchall()
        lines = [row[3] if sqlite else row[0] for row in found]
        plans.append(Plan(" ".join(statement.split()), lines, full_scans(lines, sqlite=sqlite)))

    event.listen(store.engine.sync_engine, "before_cursor_execute", explain)
    messages = SlackMessages(store)
    finished = await store.list_approvals(status="approved", limit=3)
    explained = {}
    queries: dict[str, Query] = {
        **WORKER_QUERIES,
        # A claim finds nothing due here: the CAS itself, on finished approvals (it changes nothing).
        "claim CAS (CLAIM_RESUMES)": lambda store, _: store.claim_resume(finished[0].id) if finished else _nothing(),
        **LISTINGS,
    }
    for name, query in queries.items():
        plans.clear()
        await query(store, messages)
        explained[name] = list(plans) if "GET" not in name else plans[:2]  # the page, then one approval's reads
    event.remove(store.engine.sync_engine, "before_cursor_execute", explain)
    await store.close()
    return explained


async def _nothing() -> None:
    return None


def full_scans(lines: list[str], *, sqlite: bool) -> list[str]:
    """The steps of a plan that read a whole table of approvals, rows or log, or sort every match."""
    flagged = []
    for line in lines:
        words = line.split()
        if sqlite:
            whole = len(words) == 2 and words[0] == "SCAN" and words[1] in SCANNED
            sorts = "TEMP B-TREE" in line
        else:
            whole = "Seq Scan on" in line and any(f"on {table} " in line + " " for table in SCANNED)
            sorts = line.strip().startswith(("Sort ", "->  Sort "))
        if whole or sorts:
            flagged.append(line.strip())
    return flagged


# -- clicks -------------------------------------------------------------------------------------------


def clicks_on(emulator: SlackEmulator, shown: list[bench.Shown], first_user: int = 0) -> list[bytes]:
    """One signed-able click on each row of ``shown`` (users numbered from ``first_user``)."""
    return [
        bench.form(bench.click(emulator, approval, row_id, first_user + n * ROWS + i))
        for n, approval in enumerate(shown)
        for i, row_id in enumerate(approval.row_ids)
    ]


STOP_AFTER_SHARE = """
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered == math.ceil(#reqs / {threads}) then
    io.write("share sent\\n")
    io.flush()
    wrk.thread:stop()
  end
end
"""
"""Appended to bench_interactions' wrk script: each thread stops once it sent its share of the
requests and says so (wrk's main thread sleeps out -d; the benchmark interrupts it then)."""


def send_once(port: int, bodies: list[bytes], workdir: Path, threads: int = 2, connections: int = 50) -> int:
    """Each of ``bodies`` posted about once by wrk; how many requests it made."""
    script = workdir / "round.lua"
    bench.write_wrk_script(script, bodies, threads)
    with script.open("a") as lua:
        lua.write(STOP_AFTER_SHARE.format(threads=threads))
    command = ["wrk", f"-t{threads}", f"-c{connections}", "-d600s", "-s", str(script)]
    wrk = subprocess.Popen([*command, f"http://127.0.0.1:{port}/slack/interactions"], stdout=subprocess.PIPE, text=True)
    assert wrk.stdout is not None
    done = 0
    for line in wrk.stdout:
        done += line.strip() == "share sent"
        if done == threads:
            break
    wrk.send_signal(signal.SIGINT)
    output = wrk.communicate(timeout=60)[0]
    return int(output.split(" requests in")[0].split()[-1])


def open_posted(url: str, emulator: SlackEmulator, count: int, batch: int = 100) -> list[bench.Shown]:
    """``count`` approvals opened and posted by bench_interactions, a batch at a time; a batch with an
    approval whose post timed out (on a loaded machine) is opened again (that one stays unposted)."""
    shown: list[bench.Shown] = []
    while len(shown) < count:
        try:
            shown += asyncio.run(bench.open_approvals(url, emulator, min(batch, count - len(shown)), ROWS))
        except AssertionError as unposted:
            print(f"  {unposted}: opening that batch again")
    return shown


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def memory_over_clicks(
    emulator: SlackEmulator, url: str, port: int, pid: int, clicks: int, workdir: Path
) -> list[float]:
    """The web process's RSS (MiB) before and after each of ten rounds of clicks: per round, a quarter
    of its clicks on new rows, then the same rows clicked by three other people each (refused:
    decided already)."""
    per_round = clicks // MEMORY_ROUNDS // (1 + REPEATS)
    shown = open_posted(url, emulator, per_round * MEMORY_ROUNDS // ROWS)
    rows = clicks_on(emulator, shown)
    # Other people: U0013.., U0026.., U0039.. where the first clicks came from U0000...
    again = [clicks_on(emulator, shown, first_user=13 * person) for person in range(1, REPEATS + 1)]
    samples = [rss_mib(pid)]
    for start in range(0, len(rows), per_round):
        new = rows[start : start + per_round]
        send_once(port, new + [body for bodies in again for body in bodies[start : start + per_round]], workdir)
        samples.append(rss_mib(pid))
    return samples


# -- a run ------------------------------------------------------------------------------------------


@dataclass
class Phase:
    """The figures of one database: query medians, listing medians, wrk's load."""

    queries: dict[str, float]
    listings: dict[str, float]
    load: bench.Load
    seeded_seconds: float = 0.0
    plans: dict[str, list[Plan]] = field(default_factory=dict)
    rss: list[float] = field(default_factory=list)


def measure(
    args: argparse.Namespace,
    emulator: SlackEmulator,
    url: str,
    workdir: Path,
    templates: list[Template],
    *,
    seeded: bool,
) -> Phase:
    """One database's figures: ``args.approvals`` finished approvals seeded, or a page's worth when not ``seeded``."""
    took = asyncio.run(seed(url, templates, args.approvals if seeded else EMPTY_FINISHED))
    shown = open_posted(url, emulator, args.open)
    queries = asyncio.run(time_queries(url, args.repeat))
    plans = asyncio.run(explain_queries(url)) if seeded else {}
    app, port = bench.start_app(url, emulator.base_url, workers=1)
    try:
        asyncio.run(settle(url))
        listings = asyncio.run(time_listings(port, max(args.repeat // 10, 10)))
        script = workdir / "ack.lua"
        bench.write_wrk_script(script, clicks_on(emulator, shown), args.threads)
        load = bench.run_wrk(
            f"http://127.0.0.1:{port}/slack/interactions",
            script,
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
        )
        # Not waiting for the worker: Slack's rate limit on chat.update paces its re-renders for minutes.
        rss = memory_over_clicks(emulator, url, port, app.pid, args.clicks, workdir) if seeded else []
    finally:
        bench.stop(app)
    return Phase(queries, listings, load, took, plans, rss)


async def settle(url: str, timeout: float = 300) -> None:
    """Wait until every message shows its approval's latest state and no resume is running: the
    worker started by the app caught up with the approvals opened before it."""
    store = await Store.open(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stale = await SlackMessages(store).out_of_date(limit=1)
        if not stale and not (await store.counts()).get("resuming"):
            break
        await asyncio.sleep(0.2)
    await store.close()


def one_run(
    args: argparse.Namespace, emulator: SlackEmulator, postgres: str | None, templates: list[Template]
) -> tuple[Phase, Phase]:
    """The empty database's figures, then the seeded one's."""
    with tempfile.TemporaryDirectory(prefix="slack_hitl_scale_") as tmp:
        workdir = Path(tmp)
        with fresh_database(postgres, workdir, "empty") as url:
            empty = measure(args, emulator, url, workdir, templates, seeded=False)
        with fresh_database(postgres, workdir, "seeded") as url:
            seeded = measure(args, emulator, url, workdir, templates, seeded=True)
            print(f"  seeded {args.approvals:,} finished approvals in {seeded.seeded_seconds:.1f} s")
    return empty, seeded


# -- the report -------------------------------------------------------------------------------------


def report(backend: str, runs: list[tuple[Phase, Phase]], args: argparse.Namespace) -> None:
    def median(pick: Callable[[Phase], float], which: int) -> float:
        return statistics.median(pick(run[which]) for run in runs)

    print(
        f"\n{backend}: {args.approvals:,} finished approvals seeded ({args.approvals * ROWS:,} rows), "
        f"{args.open} open of {ROWS} rows in each; medians of {len(runs)} run(s)"
    )
    print(f"{'':<40}{'empty':>12}{'seeded':>12}{'seeded/empty':>14}")

    def line(name: str, pick: Callable[[Phase], float], unit: str, scale: float) -> None:
        empty, seeded = median(pick, 0) * scale, median(pick, 1) * scale
        print(f"{name + ' ' + unit:<40}{empty:>12.1f}{seeded:>12.1f}{seeded / empty:>13.2f}x")

    line("ack requests/s", lambda p: p.load.requests_per_second, "", 1)
    line("ack p50", lambda p: p.load.p50_ms, "ms", 1)
    line("ack p99", lambda p: p.load.p99_ms, "ms", 1)
    for name in WORKER_QUERIES:
        line(name, lambda p, name=name: p.queries[name], "µs", 1e6)
    for name in LISTINGS:
        line(name, lambda p, name=name: p.listings[name], "ms", 1e3)
    for empty, seeded in runs:
        errors = "; ".join(
            f"{which} wrk: {phase.load.errors}"
            for which, phase in (("empty", empty), ("seeded", seeded))
            if phase.load.errors
        )
        print(
            f"  run: seeding took {seeded.seeded_seconds:.1f} s; {empty.load.requests} and {seeded.load.requests} clicks sent"
            + (f"; {errors}" if errors else "")
        )
    print(f"\nplans on the seeded database (last run); '!' marks a full scan of {', '.join(SCANNED)} or a sort")
    for name, plans in runs[-1][1].plans.items():
        print(f"  {name}:")
        for plan in plans:
            print(f"    {plan.statement[:160]}{'...' if len(plan.statement) > 160 else ''}")
            for step in plan.lines:
                print(f"      {'!' if step.strip() in plan.scans else ' '} {step}")
    flagged = sorted({name for name, plans in runs[-1][1].plans.items() if any(plan.scans for plan in plans)})
    print(f"  full scans or sorts: {', '.join(flagged) if flagged else 'none'}")
    print(
        f"\nweb process RSS over {args.clicks:,} clicks in {MEMORY_ROUNDS} rounds (a quarter decide a row, the rest "
        "click a decided one), MiB: before the first round, then after each"
    )
    for _, seeded in runs:
        samples = seeded.rss
        half = MEMORY_ROUNDS // 2
        print(
            "  "
            + " ".join(f"{sample:.1f}" for sample in samples)
            + f"  (growth: {samples[-1] - samples[1]:+.1f} MiB from round 1 to {MEMORY_ROUNDS}, "
            f"{samples[-1] - samples[half]:+.1f} MiB from round {half} to {MEMORY_ROUNDS})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=50_000, help="finished approvals of 20 rows to seed")
    parser.add_argument("--open", type=int, default=500, help="open approvals of 20 rows for the ack's clicks")
    parser.add_argument("--clicks", type=int, default=100_000, help="clicks whose memory is sampled")
    parser.add_argument("--repeat", type=int, default=200, help="calls of each query and GET timed")
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per ack figure")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--postgres",
        default=None,
        help="a server to make databases in, e.g. postgresql://postgres:postgres@127.0.0.1:5432/test",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    bench.require_wrk()
    bench.quiet_logs()
    backends = ([] if args.no_sqlite else [("SQLite", None)]) + (
        [("PostgreSQL", args.postgres)] if args.postgres else []
    )
    with SlackEmulator() as emulator, tempfile.TemporaryDirectory(prefix="slack_hitl_scale_") as tmp:
        emulator.add_channel(bench.CHANNEL, "bench")
        for number in range(USERS):  # a click refused as decided already is answered to its person
            emulator.add_user(f"U{number:04d}", f"user{number}")
        templates = asyncio.run(finished_templates(emulator, Path(tmp)))
        for backend, postgres in backends:
            runs = []
            for number in range(args.runs):
                print(f"{backend}, run {number + 1} of {args.runs}")
                runs.append(one_run(args, emulator, postgres, templates))
            report(backend, runs, args)


if __name__ == "__main__":
    main()
