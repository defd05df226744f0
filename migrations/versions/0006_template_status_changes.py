"""templates: when and why Meta last changed the status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("templates", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("templates", sa.Column("status_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("templates", "status_reason")
    op.drop_column("templates", "status_changed_at")
