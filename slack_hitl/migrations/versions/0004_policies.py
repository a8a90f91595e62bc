"""Approval policies: who requested an approval (four-eyes), the votes of quorum rows, the steps of
rows, and reminders and escalation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Plain SQLAlchemy types, never the models of ``slack_hitl.store.schema``: a migration must create
the same schema forever, whatever the models become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # What exists is left as it is: tables made from the models (stamped 0001 when adopted, see
    # slack_hitl.migrations.upgrade) may have these already.
    schema = sa.inspect(op.get_bind())
    columns = {column["name"] for column in schema.get_columns("approvals")}
    # Plain ADD COLUMN (SQLite and PostgreSQL both take it, with a constant default): a batch
    # rebuild of the table would have to recreate its partial index too.
    if "requested_by" not in columns:
        op.add_column("approvals", sa.Column("requested_by", sa.String(length=100), nullable=True))
    if "votes_cast" not in columns:
        op.add_column("approvals", sa.Column("votes_cast", sa.Integer(), nullable=False, server_default=sa.text("0")))
    if "steps" not in columns:
        op.add_column("approvals", sa.Column("steps", sa.Integer(), nullable=False, server_default=sa.text("1")))
    if "reminders" not in columns:
        op.add_column("approvals", sa.Column("reminders", sa.JSON(), nullable=True))
        op.add_column("approvals", sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column("approvals", sa.Column("reminder_lease_until", sa.DateTime(timezone=True), nullable=True))
        op.add_column(
            "approvals", sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        op.add_column("approvals", sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(
            "approvals", sa.Column("escalated", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
        op.create_index("ix_approvals_next_reminder_at", "approvals", ["next_reminder_at"])
        op.create_index("ix_approvals_escalate_at", "approvals", ["escalate_at"])
    if "step" not in {column["name"] for column in schema.get_columns("approval_rows")}:
        op.add_column("approval_rows", sa.Column("step", sa.Integer(), nullable=False, server_default=sa.text("1")))
    if schema.has_table("row_votes"):
        return
    op.create_table(
        "row_votes",
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=200), nullable=False),
        sa.Column("voter", sa.String(length=100), nullable=False),
        sa.Column("voter_name", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("delivery_key", sa.String(length=255), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["approval_id"], ["approvals.id"]),
        sa.PrimaryKeyConstraint("approval_id", "row_id", "voter"),
    )


def downgrade() -> None:
    op.drop_table("row_votes")
    op.drop_column("approval_rows", "step")
    op.drop_column("approvals", "steps")
    op.drop_index("ix_approvals_escalate_at", table_name="approvals")
    op.drop_index("ix_approvals_next_reminder_at", table_name="approvals")
    for name in ("escalated", "escalate_at", "reminders_sent", "reminder_lease_until", "next_reminder_at", "reminders"):
        op.drop_column("approvals", name)
    op.drop_column("approvals", "votes_cast")
    op.drop_column("approvals", "requested_by")
