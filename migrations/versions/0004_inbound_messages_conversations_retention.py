"""inbound messages, conversations (the 24-hour window), raw payload retention per tenant

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("raw_retention_days", sa.Integer(), server_default="30", nullable=False))
    op.create_index(
        "ix_raw_events_attention",
        "raw_events",
        ["tenant_id", "state"],
        postgresql_where=sa.text("state <> 'processed'"),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "tenant_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sender_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("senders.id"), nullable=False),
        sa.Column("channel", sa.Text(), server_default="whatsapp", nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("from_number", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("media_id", sa.Text(), nullable=True),
        sa.Column("reply_to", sa.Text(), nullable=True),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("raw_event_id", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("tenant_id", "provider_message_id"),
    )
    op.create_index(
        "ix_inbound_messages_tenant_id_occurred_at",
        "inbound_messages",
        ["tenant_id", sa.text("occurred_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "conversations",
        sa.Column(
            "sender_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("senders.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("contact", sa.Text(), primary_key=True),
        sa.Column(
            "tenant_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("profile_name", sa.Text(), nullable=True),
        sa.Column("wa_id", sa.Text(), nullable=True),
        sa.Column("first_inbound_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inbound_count", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_index(
        "ix_conversations_tenant_id_last_inbound_at", "conversations", ["tenant_id", sa.text("last_inbound_at DESC")]
    )


def downgrade() -> None:
    op.drop_table("conversations")
    op.drop_table("inbound_messages")
    op.drop_index("ix_raw_events_attention", table_name="raw_events")
    op.drop_column("tenants", "raw_retention_days")
