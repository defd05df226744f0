"""messages.throttled_attempts: attempts the provider refused only to slow us down (130429, 131056)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("throttled_attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("messages", "throttled_attempts")
