"""The schema comes from Alembic migrations: a fresh database gets exactly the tables of
``slack_hitl/store/schema.py``, a database from before migrations is adopted, and concurrent opens
of one fresh PostgreSQL database take turns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from slack_hitl import SYSTEM, Requirement
from slack_hitl.migrations import SchemaMismatch, current_revision, head_revision
from slack_hitl.store import Store

pytestmark = pytest.mark.anyio


async def _schema_differences(store: Store) -> list[object]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), SQLModel.metadata
            )
        )


async def _revision(store: Store) -> str | None:
    async with store.engine.connect() as conn:
        return await conn.run_sync(current_revision)


async def _open_one(store: Store) -> str:
    approval, _ = await store.insert_approval(
        title="Deploy",
        requirements=[Requirement(id="deploy", kind="confirmation", title="deploy")],
        adapter="webhook",
        resume_state={},
        channel="C0APPROVALS",
        thread_ts=None,
        parent_id=None,
        expires_at=None,
        expiry_policy="reject",
        idempotency_key=None,
        actor=SYSTEM,
    )
    return approval.id


async def test_a_fresh_database_gets_exactly_the_schema_of_the_tables_at_the_head_revision(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        assert await _revision(store) == head_revision() == "0005"
        assert await _schema_differences(store) == []
        await store.check_schema()
        approval_id = await _open_one(store)
        assert (await store.get(approval_id)).rows[0].id == "deploy"
        await store.create_schema()  # at the head already: nothing happens
        assert await store.approval_ids() == [approval_id]
    finally:
        await store.close()


async def test_create_false_touches_nothing_and_check_schema_names_the_command(database_url: str) -> None:
    store = await Store.open(database_url, create=False)
    try:
        with pytest.raises(SchemaMismatch, match=r"revision none .* needs 0005: run `slack-hitl db upgrade`"):
            await store.check_schema()
        async with store.engine.connect() as conn:
            assert await conn.run_sync(lambda sync: inspect(sync).get_table_names()) == []
    finally:
        await store.close()


async def test_a_database_from_before_migrations_is_adopted_with_its_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = await Store.open(url, create=False)
    async with old.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)  # how the schema was made before migrations
    approval_id = await _open_one(old)
    await old.close()

    adopted = await Store.open(url)
    try:
        assert await _revision(adopted) == "0005"
        assert await adopted.approval_ids() == [approval_id]
        assert await _schema_differences(adopted) == []
    finally:
        await adopted.close()


@pytest.mark.postgres
async def test_processes_opening_one_fresh_postgres_database_at_once_take_turns(postgres_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(postgres_url) for _ in range(4)))
    try:
        assert {await _revision(store) for store in stores} == {"0005"}
        assert await _schema_differences(stores[0]) == []
    finally:
        await asyncio.gather(*(store.close() for store in stores))
