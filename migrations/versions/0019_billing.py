"""billing: rate cards per plan, billable events (each counted once), usage per day

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 22:00:00

Money is integer minor units of the rate card's currency. A billable event is keyed by what makes
it billable (a wamid, an SMS's SID, an email's message id): a duplicated or replayed webhook finds
the key taken and changes nothing. ``usage_daily`` is added to in the statement that inserts the
events, so a tenant's usage is read from a few rows per day, whatever its volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default plan's card, in US cents: what `switchboard dev` and new tenants start with.
DEFAULT_CARD = [
    ("whatsapp", "marketing", "*", 3),
    ("whatsapp", "utility", "*", 1),
    ("whatsapp", "authentication", "*", 1),
    ("whatsapp", "service", "*", 0),
    ("sms", "*", "*", 2),
    ("sms", "*", "US", 1),
    ("email", "*", "*", 1),
]


def upgrade() -> None:
    op.create_table(
        "rate_cards",
        sa.Column("plan_id", sa.Text(), sa.ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),  # "*": any
        sa.Column("country", sa.Text(), nullable=False),  # ISO 3166 alpha-2, "*": any
        sa.Column("unit_price", sa.BigInteger(), nullable=False),  # minor units per message or segment
        sa.Column("currency", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "channel", "category", "country"),
        sa.CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )
    rows = ", ".join(f"('default', '{c}', '{k}', '{n}', {p}, 'USD')" for c, k, n, p in DEFAULT_CARD)
    op.execute(f"INSERT INTO rate_cards (plan_id, channel, category, country, unit_price, currency) VALUES {rows}")  # noqa: S608 - constants above
    op.create_table(
        "billable_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("message_id", UUID(as_uuid=True), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "key"),
    )
    op.create_index("ix_billable_events_tenant_id_occurred_at", "billable_events", ["tenant_id", "occurred_at"])
    op.create_table(
        "usage_daily",
        sa.Column("tenant_id", UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "day", "channel", "category", "country", "currency"),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_table("billable_events")
    op.drop_table("rate_cards")
