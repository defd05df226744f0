"""messages.send_at and scheduled_messages: messages sent later, durable across restarts

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 00:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "scheduled_messages",
        sa.Column(
            "message_id", UUID(as_uuid=True), sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
    )
    op.create_index("ix_scheduled_messages_due_at", "scheduled_messages", ["due_at"])


def downgrade() -> None:
    op.drop_table("scheduled_messages")
    op.drop_column("messages", "send_at")
