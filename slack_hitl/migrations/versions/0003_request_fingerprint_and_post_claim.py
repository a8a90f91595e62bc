"""The request an idempotency key was given for, and who may post an approval's message.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``request_fingerprint``: the same idempotency key with another request is refused instead of
answered with the approval of the first. ``post_owner``, ``post_claimed_until`` and
``post_attempts``: one process at a time posts an approval's message, a process that could not
is followed by another after its claim runs out, and a post whose answer was lost is looked for
before it is made again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A database adopted from before migrations may have them from the tables (store/schema.py).
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("approvals")}
    columns: list[sa.Column[object]] = [
        sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("post_owner", sa.String(length=100), nullable=True),
        sa.Column("post_claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("post_attempts", sa.Integer(), nullable=False, server_default="0"),
    ]
    missing = [column for column in columns if column.name not in present]
    if missing:
        with op.batch_alter_table("approvals") as table:
            for column in missing:
                table.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("approvals") as table:
        table.drop_column("post_attempts")
        table.drop_column("post_claimed_until")
        table.drop_column("post_owner")
        table.drop_column("request_fingerprint")
