"""fallback_timers: a message's fallback_after, durable across restarts

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 08:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fallback_timers",
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_fallback_timers_due_at", "fallback_timers", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_fallback_timers_due_at", table_name="fallback_timers")
    op.drop_table("fallback_timers")
