"""Indexes that list approvals newest first, with or without a status.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``GET /v1/approvals`` (and the App Home's recent approvals) asks for a page of the newest
approvals, optionally of one status. Without an index on ``created_at`` each page read and sorted
every approval ever stored (benchmarks/bench_scale.py shows the plans). ``(status, created_at)``
replaces the index on ``status`` alone: its first column serves every lookup by status as that
one did, so an approval's change of status still updates one index.
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A database adopted from before migrations may have these from the tables (store/schema.py).
    op.create_index("ix_approvals_created_at", "approvals", ["created_at"], if_not_exists=True)
    op.create_index("ix_approvals_status_created_at", "approvals", ["status", "created_at"], if_not_exists=True)
    op.drop_index("ix_approvals_status", table_name="approvals", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_approvals_status", "approvals", ["status"])
    op.drop_index("ix_approvals_status_created_at", table_name="approvals")
    op.drop_index("ix_approvals_created_at", table_name="approvals")
