"""billable_events.pricing_model: the provider's pricing model, as its webhook reports it

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("billable_events", sa.Column("pricing_model", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("billable_events", "pricing_model")
