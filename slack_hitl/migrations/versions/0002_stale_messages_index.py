"""An index of the approvals whose Slack message is out of date.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

A service's worker processes look for out-of-date messages several times a second; without
this partial index each look read every approval ever stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_OUT_OF_DATE = sa.text("rendered_version < version")


def upgrade() -> None:
    op.create_index(
        "ix_approvals_out_of_date",
        "approvals",
        ["id"],
        sqlite_where=_OUT_OF_DATE,
        postgresql_where=_OUT_OF_DATE,
        if_not_exists=True,  # a database adopted from before migrations may have it from the tables (store/schema.py)
    )


def downgrade() -> None:
    op.drop_index("ix_approvals_out_of_date", table_name="approvals")
