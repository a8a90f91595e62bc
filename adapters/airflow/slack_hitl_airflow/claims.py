"""Which HITL request went into which approval: the bridge's own table, beside the core's.

A request is claimed (task instance id + try number, the primary key) before its approval is
opened, all requests of a group in one transaction, so no poll, in this process or another
sharing the database, puts a request into two approvals. The group's key is also the
approval's idempotency key: a bridge that died between claiming and opening opens the same
approval on its next poll.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from slack_hitl import Store

metadata = MetaData()

claims_table = Table(
    "slack_hitl_airflow_requests",
    metadata,
    Column("request_id", String(120), primary_key=True),
    Column("group_key", String(255), nullable=False, index=True),
    Column("approval_id", String(64), nullable=True),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Index("ix_slack_hitl_airflow_requests_run", "dag_id", "run_id"),
)

_CHUNK = 500


@dataclass(frozen=True)
class Claim:
    request_id: str
    group_key: str
    approval_id: str | None


def group_key(dag_id: str, run_id: str, request_ids: Iterable[str]) -> str:
    digest = hashlib.sha256("\n".join([dag_id, run_id, *sorted(request_ids)]).encode()).hexdigest()
    return f"airflow:{digest[:40]}"


class RequestClaims:
    """The claims table, in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_schema(self) -> None:
        async with self.store.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def claimed(self, request_ids: Iterable[str]) -> dict[str, Claim]:
        ids = list(request_ids)
        found: dict[str, Claim] = {}
        async with self.store.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                rows = await conn.execute(
                    select(claims_table.c.request_id, claims_table.c.group_key, claims_table.c.approval_id).where(
                        claims_table.c.request_id.in_(chunk)
                    )
                )
                found.update({row.request_id: Claim(*row) for row in rows})
        return found

    async def claim(self, key: str, dag_id: str, run_id: str, request_ids: Iterable[str]) -> bool:
        """Claim every request or none; ``False`` when one was claimed already."""
        now = dt.datetime.now(dt.UTC)
        rows = [
            {"request_id": rid, "group_key": key, "dag_id": dag_id, "run_id": run_id, "claimed_at": now}
            for rid in request_ids
        ]
        try:
            async with self.store.write() as conn:
                await conn.execute(insert(claims_table), rows)
        except IntegrityError:
            return False
        return True

    async def set_approval(self, key: str, approval_id: str) -> None:
        async with self.store.write() as conn:
            await conn.execute(
                update(claims_table).where(claims_table.c.group_key == key).values(approval_id=approval_id)
            )

    async def run_approvals(self, dag_id: str, run_id: str) -> list[str]:
        """The approvals opened for one DAG run, first first."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(claims_table.c.approval_id, claims_table.c.claimed_at)
                .where(
                    claims_table.c.dag_id == dag_id,
                    claims_table.c.run_id == run_id,
                    claims_table.c.approval_id.is_not(None),
                )
                .order_by(claims_table.c.claimed_at)
            )
            return list(dict.fromkeys(row.approval_id for row in rows))
