"""plans.included_messages: billable messages a month that the plan's price already covers;
billable_events.attempt_id: the attempt that sent what is billed

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 22:15:00

The first ``included_messages`` billable events of a month are billed at 0 (the invoice shows them
as their own lines); the rest at the rate card's prices (overage).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("plans", sa.Column("included_messages", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("billable_events", sa.Column("attempt_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("billable_events", "attempt_id")
    op.drop_column("plans", "included_messages")
