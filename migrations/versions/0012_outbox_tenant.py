"""outbox.tenant_id: bulk rows are dispatched fairly among tenants

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=True))
    # Every message row carries its tenant in the payload; bulk rows are only ever message rows.
    op.execute("UPDATE outbox SET tenant_id = (payload->>'tenant_id')::uuid WHERE payload ? 'tenant_id'")
    op.create_check_constraint("ck_outbox_bulk_has_tenant", "outbox", "priority = 0 OR tenant_id IS NOT NULL")
    op.create_index(
        "ix_outbox_bulk",
        "outbox",
        ["tenant_id", "id"],
        postgresql_where=sa.text("published_at IS NULL AND priority > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_bulk", table_name="outbox")
    op.drop_constraint("ck_outbox_bulk_has_tenant", "outbox", type_="check")
    op.drop_column("outbox", "tenant_id")
