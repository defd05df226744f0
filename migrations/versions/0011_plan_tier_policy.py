"""plans.tier_policy: what happens to a message for a new recipient once the daily tier is reached

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("plans", sa.Column("tier_policy", sa.Text(), server_default="wait", nullable=False))
    op.create_check_constraint("ck_plans_tier_policy", "plans", "tier_policy IN ('wait', 'fail')")


def downgrade() -> None:
    op.drop_constraint("ck_plans_tier_policy", "plans")
    op.drop_column("plans", "tier_policy")
