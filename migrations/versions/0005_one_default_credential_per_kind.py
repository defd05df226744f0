"""credentials: at most one default per tenant and kind

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Keep the newest default of each (tenant, kind) where there are several.
    op.execute(
        "UPDATE credentials c SET is_default = false WHERE is_default AND EXISTS ("
        "SELECT 1 FROM credentials n WHERE n.tenant_id = c.tenant_id AND n.kind = c.kind AND n.is_default "
        "AND (n.created_at, n.id) > (c.created_at, c.id))"
    )
    op.create_index(
        "ux_credentials_default", "credentials", ["tenant_id", "kind"], unique=True, postgresql_where=sa.text("is_default")
    )


def downgrade() -> None:
    op.drop_index("ux_credentials_default", table_name="credentials")
