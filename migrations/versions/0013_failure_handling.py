"""Failure handling: credential health, recipient opt-outs, dead letters (operator retry and discard)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("credentials", sa.Column("health", sa.Text(), server_default="ok", nullable=False))
    op.add_column("credentials", sa.Column("health_detail", sa.Text(), nullable=True))
    op.add_column("credentials", sa.Column("health_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("attempt_floor", sa.Integer(), server_default="0", nullable=False))
    op.add_column("messages", sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_messages_dead_letters",
        "messages",
        ["tenant_id", sa.text("updated_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("status = 'failed' AND discarded_at IS NULL"),
    )
    op.create_table(
        "opt_outs",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "channel", "address", "scope"),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    op.drop_index("ix_messages_dead_letters", table_name="messages")
    op.drop_column("messages", "discarded_at")
    op.drop_column("messages", "attempt_floor")
    op.drop_column("credentials", "health_changed_at")
    op.drop_column("credentials", "health_detail")
    op.drop_column("credentials", "health")
