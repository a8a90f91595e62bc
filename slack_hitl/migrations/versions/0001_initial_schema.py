"""The first schema: approvals, their rows, the decision log and the Slack messages.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Plain SQLAlchemy types, never the models of ``slack_hitl.store.schema``: a migration must create
the same schema forever, whatever the models become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _time(name: str, *, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("adapter", sa.String(length=100), nullable=False),
        sa.Column("resume_state", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        _time("expires_at", nullable=True),
        sa.Column("expiry_policy", sa.String(length=16), nullable=False),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rendered_version", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        _time("lease_expires_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at", nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        _time("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_approvals_expires_at", "approvals", ["expires_at"])
    op.create_index("ix_approvals_parent_id", "approvals", ["parent_id"])
    op.create_index("ix_approvals_status", "approvals", ["status"])
    op.create_table(
        "decision_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=200), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("actor_name", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _time("at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decision_log_approval_id", "decision_log", ["approval_id"])
    op.create_table(
        "approval_rows",
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("requirement", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_by_name", sa.String(), nullable=True),
        _time("decided_at", nullable=True),
        sa.Column("delivery_key", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["approval_id"], ["approvals.id"]),
        sa.PrimaryKeyConstraint("approval_id", "row_id"),
    )
    op.create_index("ix_approval_rows_pending", "approval_rows", ["approval_id", "status"])
    op.create_table(
        "slack_messages",
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("first_row", sa.Integer(), nullable=False),
        sa.Column("last_row", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["approval_id"], ["approvals.id"]),
        sa.PrimaryKeyConstraint("approval_id", "part"),
        sa.UniqueConstraint("channel", "ts"),
    )


def downgrade() -> None:
    op.drop_table("slack_messages")
    op.drop_index("ix_approval_rows_pending", table_name="approval_rows")
    op.drop_table("approval_rows")
    op.drop_index("ix_decision_log_approval_id", table_name="decision_log")
    op.drop_table("decision_log")
    op.drop_index("ix_approvals_status", table_name="approvals")
    op.drop_index("ix_approvals_parent_id", table_name="approvals")
    op.drop_index("ix_approvals_expires_at", table_name="approvals")
    op.drop_table("approvals")
