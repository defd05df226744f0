"""senders: quality rating, messaging tier, throughput

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("senders", sa.Column("quality_rating", sa.Text(), server_default="UNKNOWN", nullable=False))
    op.add_column("senders", sa.Column("messaging_tier", sa.Text(), nullable=True))
    op.add_column("senders", sa.Column("throughput_mps", sa.Integer(), server_default="80", nullable=False))


def downgrade() -> None:
    op.drop_column("senders", "throughput_mps")
    op.drop_column("senders", "messaging_tier")
    op.drop_column("senders", "quality_rating")
