"""The durable-ack floor: the least a Slack interactions endpoint can do without losing a decision.

It reads the signed body, checks Slack's signature, parses the ``payload`` form field (Slack's
whole block_actions payload, the clicked message's blocks included), writes the decision with
one conditional UPDATE on SQLite in WAL mode, commits and answers 200. Nothing else: no
authorization, no validation, no decision log, no re-render. ``bench_interactions.py`` serves it
with uvicorn beside slack_hitl, sends both the same signed clicks, and reports slack_hitl's
throughput and p99 as ratios to it, measured in the same run with the same load.

    FLOOR_KEYS=keys.txt uvicorn floor_app:app --app-dir benchmarks --port 8799

Settings from the environment: ``FLOOR_DB`` (the SQLite file), ``FLOOR_SECRET`` (the signing
secret), ``FLOOR_KEYS`` (a file of row keys, one a line, each created pending at start: a click
decides the row keyed by its action's ``value``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from fastapi import FastAPI, Request, Response

from slack_hitl.slack.endpoint import form_decode, json_loads

DATABASE = os.environ.get("FLOOR_DB") or os.path.join(tempfile.gettempdir(), "slack_hitl_floor.db")
SIGNING_SECRET = os.environ.get("FLOOR_SECRET", "floor-secret").encode()
KEYS = Path(os.environ.get("FLOOR_KEYS", "floor_keys.txt"))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    db = await aiosqlite.connect(DATABASE)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("DROP TABLE IF EXISTS rows")
    await db.execute("CREATE TABLE rows (id TEXT PRIMARY KEY, status TEXT NOT NULL, decided_by TEXT)")
    keys = KEYS.read_text().splitlines()  # noqa: ASYNC240 (at start-up: nothing else is served yet)
    await db.executemany("INSERT INTO rows VALUES (?, 'pending', NULL)", ((key,) for key in keys))
    await db.commit()
    app.state.db = db
    try:
        yield
    finally:
        await db.close()


app = FastAPI(lifespan=lifespan)


def signature_holds(body: bytes, timestamp: str, signature: str) -> bool:
    expected = hmac.new(SIGNING_SECRET, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return hmac.compare_digest("v0=" + expected.hexdigest(), signature)


def payload_of(body: bytes) -> Any:
    """The JSON of the one ``payload`` field Slack sends.

    Decoded and parsed as slack_hitl does (``form_decode``, ``json_loads``), the fastest exact ways
    known here: urllib's ``parse_qs`` alone takes several times longer than all the rest of this ack
    on a payload carrying a 20-row message, and the floor must not be slowed by what an app need not do.
    """
    name, _, value = body.partition(b"=")
    if name != b"payload":
        raise ValueError("the body has no payload field")
    return json_loads(form_decode(value).decode())


@app.post("/noop")
async def noop() -> Response:
    """The HTTP stack alone, for reading the other figures against."""
    return Response(status_code=200)


@app.post("/slack/interactions")
async def interactions(request: Request) -> Response:
    body = await request.body()
    headers = request.headers
    if not signature_holds(body, headers.get("x-slack-request-timestamp", ""), headers.get("x-slack-signature", "")):
        return Response(status_code=401)
    payload = payload_of(body)
    cursor = await request.app.state.db.execute(
        "UPDATE rows SET status = 'approved', decided_by = ? WHERE id = ? AND status = 'pending'",
        (payload["user"]["id"], payload["actions"][0]["value"]),
    )
    await request.app.state.db.commit()
    # 0 rows: already decided, which is an answer too; anything else would be a broken table.
    return Response(status_code=200 if cursor.rowcount in (0, 1) else 500)
