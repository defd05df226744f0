"""invoices (finalized, immutable) with their lines; billable events remember their invoice; budgets

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 22:05:00

A month's invoice is written once, when the month is closed, from the billable events no invoice
has taken yet (``billable_events.invoice_month``); closing again changes nothing. A tenant's
``monthly_budget`` caps its spend; ``budget_alerts`` records each threshold crossed, once a month.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("billable_events", sa.Column("invoice_month", sa.Date(), nullable=True))
    # What closing a month reads: the events no invoice has taken yet.
    op.create_index(
        "ix_billable_events_uninvoiced",
        "billable_events",
        ["tenant_id", "occurred_at"],
        postgresql_where=sa.text("invoice_month IS NULL"),
    )
    op.create_table(
        "invoices",
        sa.Column("tenant_id", UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),  # its first day
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", "currency"),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", "currency", "position"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "month", "currency"],
            ["invoices.tenant_id", "invoices.month", "invoices.currency"],
            ondelete="CASCADE",
        ),
    )
    op.add_column("tenants", sa.Column("monthly_budget", sa.BigInteger(), nullable=True))
    op.create_table(
        "budget_alerts",
        sa.Column("tenant_id", UUID(as_uuid=True), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),  # percent of the budget: 80, 100
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", "threshold"),
    )


def downgrade() -> None:
    op.drop_table("budget_alerts")
    op.drop_column("tenants", "monthly_budget")
    op.drop_table("invoice_lines")
    op.drop_table("invoices")
    op.drop_index("ix_billable_events_uninvoiced", table_name="billable_events")
    op.drop_column("billable_events", "invoice_month")
