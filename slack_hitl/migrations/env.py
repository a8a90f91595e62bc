"""Alembic's entry point for slack_hitl's migrations: always on a connection the caller gives.

The store opens the connection (async, through ``run_sync``) and its transaction; this file
only hands it to Alembic. See ``slack_hitl.migrations``.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import slack_hitl.store  # noqa: F401  (puts the tables on SQLModel.metadata, for autogenerate)


def run_migrations() -> None:
    if context.is_offline_mode():
        raise RuntimeError("slack_hitl's migrations run on a live database: use `slack-hitl db upgrade`")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "slack_hitl's migrations need a connection: use slack_hitl.migrations.upgrade or `slack-hitl db upgrade`"
        )
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
