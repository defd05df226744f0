"""plans: submission rate, burst, monthly quotas (overall and per channel), batch size; tenants.plan_id

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 05:30:00

Plans are data: authentication reads the caller's plan in the query it already makes, so a changed
plan or a tenant moved to another plan applies from the next request, without a restart.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("rate_per_second", sa.Float(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("monthly_messages", sa.BigInteger(), nullable=True),
        sa.Column("monthly_by_channel", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("max_batch", sa.Integer(), server_default="100", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("rate_per_second > 0 AND burst >= 1 AND max_batch >= 1", name="ck_plans_positive"),
    )
    # The plan every tenant starts on: generous enough for one busy tenant on one machine.
    op.execute(
        "INSERT INTO plans (id, rate_per_second, burst, monthly_messages, max_batch) "
        "VALUES ('default', 1000, 2000, NULL, 1000)"
    )
    op.add_column(
        "tenants",
        sa.Column("plan_id", sa.Text(), sa.ForeignKey("plans.id"), server_default="default", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("tenants", "plan_id")
    op.drop_table("plans")
